"""The hosted pages through the Flask test client: sign-up, login, logout, account.

Each test asserts what really happened (rows, audit events, cookies, the outbox), not only
what the page says. Every test runs on SQLite and on PostgreSQL (the `app` fixture).
"""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import func, select

from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import (AuditEvent, Customer, Identifier, LoginSession, LoginThrottle,
                        PasswordCredential, VerificationCode)
from app.platform.audit import EVENT_DESCRIPTIONS, describe_event
from tests.factories import STRONG_PASSWORD, make_customer
from tests.helpers import csrf_token, last_code, read_outbox
from tests.web.helpers import FormMarkup, signup, submit_code, submit_signup

EMAIL = "grace@example.com"
SESSION_COOKIE = "tessera_session"
FLASK_COOKIE = "tessera_flash"
CUSTOMER_ID_RE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$")
SHOWN_ID_RE = re.compile(r'id="customer-id">\s*([^<]+?)\s*<')
CSRF_VALUE_RE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')
# A fixed Monday morning, far from any DST change or midnight.
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


# ---- helpers -----------------------------------------------------------------------------

def login(client, identifier: str, password: str = STRONG_PASSWORD, path: str = "/login",
          **request_options):
    """GET the login page for a CSRF token, then POST the credentials to the same URL."""
    page = client.get(path, **request_options)
    data = {"csrf_token": csrf_token(page.text), "identifier": identifier, "password": password}
    return client.post(path, data=data, **request_options)


def session_token(client, domain: str = "localhost") -> str | None:
    """The value of the login session cookie the client holds, if any."""
    cookie = client.get_cookie(SESSION_COOKIE, domain=domain)
    return cookie.value if cookie else None


def count(app, model, *conditions) -> int:
    """Rows of `model` matching `conditions`."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def event_names(app, customer_id: str | None = None) -> list[str]:
    """Audit event names, oldest first, optionally for one customer."""
    with app.app_context():
        query = select(AuditEvent.event).order_by(AuditEvent.id)
        if customer_id is not None:
            query = query.where(AuditEvent.customer_id == customer_id)
        return list(db.session.scalars(query))


def only_customer(app) -> Customer:
    """The one customer in the database (detached, plain attributes loaded)."""
    with app.app_context():
        customer = db.session.scalars(select(Customer)).one()
        db.session.expunge(customer)
        return customer


def only_customer_with(app, email: str) -> str:
    """The customer ID of the customer with this email."""
    with app.app_context():
        return db.session.scalar(select(Customer.customer_id).join(Identifier)
                                 .where(Identifier.value == email))


def comparable(page_html: str, *replacements: tuple[str, str]) -> str:
    """Page text with the CSRF token blanked and the given strings replaced."""
    text = CSRF_VALUE_RE.sub(r"\1CSRF\2", page_html)
    for old, new in replacements:
        text = text.replace(old, new)
    return text


def page_text(response) -> str:
    """The response body with HTML entities decoded, for searching messages."""
    return html.unescape(response.text)


# ---- 1. sign-up happy path ---------------------------------------------------------------

def test_signup_creates_a_verified_customer_and_logs_them_in(app, client) -> None:
    started = submit_signup(client, EMAIL)
    assert started.status_code == 303
    assert started.location == "/signup/verify"
    assert count(app, Customer) == 0, "the customer exists before the code is proved"

    finished = submit_code(client, last_code(app, EMAIL))
    assert finished.status_code == 303
    assert finished.location == "/account"

    account = client.get("/account")
    assert account.status_code == 200
    shown = SHOWN_ID_RE.search(account.text).group(1)
    assert CUSTOMER_ID_RE.match(shown), f"not a grouped customer ID: {shown!r}"
    customer = only_customer(app)
    assert shown == format_for_people(customer.customer_id)

    with app.app_context():
        identifier = db.session.scalars(select(Identifier)).one()
        assert (identifier.customer_pk, identifier.kind, identifier.value) == \
            (customer.id, "email", EMAIL)
        assert identifier.verified_at is not None
        assert db.session.get(PasswordCredential, customer.id) is not None
        verification = db.session.scalars(select(VerificationCode)).one()
        assert verification.consumed_at is not None
        assert verification.payload is None, "the password hash stayed on the code row"
    events = event_names(app, customer.customer_id)
    assert "signup.completed" in events
    assert "login.succeeded" in events


# ---- 2. no enumeration at sign-up --------------------------------------------------------

def test_signup_with_a_taken_email_answers_like_a_fresh_one(app) -> None:
    taken, fresh = "ada@example.com", "bob@example.com"
    with app.app_context():
        owner_id = make_customer(email=taken).customer_id
    taken_client, fresh_client = app.test_client(), app.test_client()

    taken_start = submit_signup(taken_client, taken)
    fresh_start = submit_signup(fresh_client, fresh)
    assert taken_start.status_code == fresh_start.status_code == 303
    assert taken_start.location == fresh_start.location == "/signup/verify"

    taken_page = taken_client.get("/signup/verify")
    fresh_page = fresh_client.get("/signup/verify")
    assert taken_page.status_code == fresh_page.status_code == 200
    assert comparable(taken_page.text, (taken, "EMAIL")) == \
        comparable(fresh_page.text, (fresh, "EMAIL"))

    to_owner = [m for m in read_outbox(app) if m["to"] == taken]
    assert len(to_owner) == 1
    assert "already have an account" in to_owner[0]["body"]
    assert not re.search(r"\b\d{6}\b", to_owner[0]["body"]), "the owner was sent a code"
    assert "signup.attempted_existing" in event_names(app, owner_id)

    fresh_code = last_code(app, fresh)
    wrong = "000000" if fresh_code != "000000" else "111111"
    taken_try = submit_code(taken_client, wrong)
    fresh_try = submit_code(fresh_client, wrong)
    assert taken_try.status_code == fresh_try.status_code == 400
    assert "not right" in taken_try.text
    assert comparable(taken_try.text, (taken, "EMAIL")) == \
        comparable(fresh_try.text, (fresh, "EMAIL"))
    # Not even the code the fresh address received opens the taken one.
    assert submit_code(taken_client, fresh_code).status_code == 400
    assert count(app, Customer) == 1


# ---- 3. the sign-up code -----------------------------------------------------------------

def test_a_wrong_code_is_refused_with_the_tries_left(app, client) -> None:
    submit_signup(client, EMAIL)
    code = last_code(app, EMAIL)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    response = submit_code(client, wrong)

    assert response.status_code == 400
    limit = app.config["VERIFICATION_CODE_MAX_ATTEMPTS"]
    assert f"That code is not right. {limit - 1} tries left." in page_text(response)
    assert count(app, Customer) == 0
    assert session_token(client) is None


def test_after_the_last_wrong_code_even_the_right_code_is_refused(app, client) -> None:
    with time_machine.travel(START, tick=False) as clock:
        submit_signup(client, EMAIL)
        code = last_code(app, EMAIL)
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        limit = app.config["VERIFICATION_CODE_MAX_ATTEMPTS"]

        for _ in range(limit - 1):
            assert submit_code(client, wrong).status_code == 400
        last_wrong = submit_code(client, wrong)
        assert "cannot be tried again" in page_text(last_wrong)
        # Past the address's backoff, so only the code's own limit can refuse.
        clock.shift(timedelta(seconds=app.config["LOGIN_BACKOFF_MAX_SECONDS"]))
        right = submit_code(client, code)
    assert right.status_code == 400
    assert "tried too often" in page_text(right)
    assert count(app, Customer) == 0
    assert session_token(client) is None


@pytest.mark.parametrize(("seconds_later", "accepted"), [(-1, True), (0, False), (3600, False)],
                         ids=["just-before-expiry", "at-expiry", "an-hour-late"])
def test_the_code_expires_after_verification_code_seconds(app, client, seconds_later,
                                                          accepted) -> None:
    with time_machine.travel(START, tick=False):
        submit_signup(client, EMAIL)
        code = last_code(app, EMAIL)
        page = client.get("/signup/verify")
    lifetime = app.config["VERIFICATION_CODE_SECONDS"]
    # The CSRF token lives longer than the code, so only the code can be what fails here.
    assert app.config["WTF_CSRF_TIME_LIMIT"] >= lifetime

    with time_machine.travel(START + timedelta(seconds=lifetime + seconds_later), tick=False):
        response = client.post("/signup/verify",
                               data={"csrf_token": csrf_token(page.text), "code": code})

    if accepted:
        assert response.status_code == 303
        assert count(app, Customer) == 1
    else:
        assert response.status_code == 400
        assert "expired" in page_text(response)
        assert count(app, Customer) == 0


def test_a_used_code_cannot_create_a_second_account(app, client) -> None:
    submit_signup(client, EMAIL)
    code = last_code(app, EMAIL)
    page = client.get("/signup/verify")
    # A second browser holding a copy of the same pending sign-up (the signed cookie).
    copy = app.test_client()
    copy.set_cookie(FLASK_COOKIE, client.get_cookie(FLASK_COOKIE).value)

    first = client.post("/signup/verify", data={"csrf_token": csrf_token(page.text), "code": code})
    second = copy.post("/signup/verify", data={"csrf_token": csrf_token(page.text), "code": code})

    assert first.status_code == 303
    assert second.status_code == 400
    assert session_token(copy) is None
    assert count(app, Customer) == 1
    assert count(app, LoginSession) == 1
    assert event_names(app).count("signup.completed") == 1


# ---- 4. login ----------------------------------------------------------------------------

def test_login_sets_an_httponly_samesite_cookie_not_secure_over_http(app, client) -> None:
    with app.app_context():
        make_customer(email=EMAIL)

    response = login(client, EMAIL)

    assert response.status_code == 303
    assert response.location == "/account"
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert cookie.path == "/"
    assert not cookie.secure
    assert "Strict-Transport-Security" not in response.headers
    assert client.get("/account").status_code == 200


def test_login_cookie_is_secure_when_the_issuer_is_https(make_app) -> None:
    app = make_app(ISSUER="https://id.example.com")
    with app.app_context():
        make_customer(email=EMAIL)
    client = app.test_client()
    # Over https Flask-WTF also insists on a same-origin Referer (WTF_CSRF_SSL_STRICT).
    https = {"base_url": "https://id.example.com",
             "headers": {"Referer": "https://id.example.com/login"}}

    response = login(client, EMAIL, **https)

    assert response.status_code == 303, response.text
    cookie = client.get_cookie(SESSION_COOKIE, domain="id.example.com")
    assert cookie is not None
    assert cookie.secure
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert cookie.path == "/"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_login_failure_reads_the_same(app) -> None:
    with app.app_context():
        make_customer(email="ada1@example.com")
        make_customer(email="ada2@example.com", password=None)
        locked = make_customer(email="ada3@example.com")
        locked.status = "locked"
        db.session.commit()
    attempts = {
        "wrong password": ("ada1@example.com", "not-the-password-at-all-37"),
        "no password": ("ada2@example.com", STRONG_PASSWORD),
        "locked": ("ada3@example.com", STRONG_PASSWORD),
        "unknown": ("ada4@example.com", STRONG_PASSWORD),
    }

    pages = {}
    for case, (identifier, password) in attempts.items():
        client = app.test_client()
        response = login(client, identifier, password)
        assert response.status_code == 401, case
        assert "The identifier or password is not right." in page_text(response), case
        assert session_token(client) is None, case
        pages[case] = comparable(response.text, (identifier, "IDENTIFIER"))

    assert len(set(pages.values())) == 1, "the failure pages differ"
    assert count(app, LoginSession) == 0


def test_each_login_gets_a_new_token_and_only_its_hash_is_stored(app, client) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    # An attacker-planted cookie is never adopted as a session.
    client.set_cookie(SESSION_COOKIE, "planted-by-an-attacker")

    login(client, EMAIL)
    first = session_token(client)
    login(client, EMAIL)
    second = session_token(client)

    assert first != "planted-by-an-attacker"
    assert first != second
    with app.app_context():
        hashes = set(db.session.scalars(select(LoginSession.token_hash)))
    assert len(hashes) == 2
    assert not hashes & {first, second, "planted-by-an-attacker"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)


@pytest.mark.parametrize("how", ["signup", "login"])
def test_a_new_login_in_the_browser_ends_its_previous_session(app, client, how) -> None:
    """Whoever logs in next in this browser (by sign-up or login), the session it had is
    ended on the server: its cookie, if copied, opens nothing."""
    with app.app_context():
        make_customer()
        if how == "login":
            make_customer(email=EMAIL)
    assert login(client, "ada@example.com").status_code == 303
    old = session_token(client)

    finished = signup(client, app, EMAIL) if how == "signup" else login(client, EMAIL)

    assert finished.status_code == 303
    assert session_token(client) not in (None, old)
    copy = app.test_client()
    copy.set_cookie(SESSION_COOKIE, old)
    assert copy.get("/account").status_code == 303
    assert count(app, LoginSession, LoginSession.ended_at.is_(None)) == 1
    assert "logout" in event_names(app, only_customer_with(app, "ada@example.com"))


# ---- 5. logout ---------------------------------------------------------------------------

def test_logout_ends_the_session_on_the_server(app, client) -> None:
    with app.app_context():
        customer_id = make_customer(email=EMAIL).customer_id
    login(client, EMAIL)
    old_token = session_token(client)
    account = client.get("/account")

    response = client.post("/logout", data={"csrf_token": csrf_token(account.text)})

    assert response.status_code == 303
    assert response.location == "/login"
    assert session_token(client) is None
    with app.app_context():
        login_session = db.session.scalars(select(LoginSession)).one()
        assert login_session.ended_at is not None
    assert "logout" in event_names(app, customer_id)
    # A copy of the old cookie no longer opens the account.
    replay = app.test_client()
    replay.set_cookie(SESSION_COOKIE, old_token)
    replayed = replay.get("/account")
    assert replayed.status_code == 303
    assert urlsplit(replayed.location).path == "/login"


def test_logout_without_a_csrf_token_is_refused_and_the_session_stays(app, client) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    login(client, EMAIL)

    response = client.post("/logout")

    assert response.status_code == 400
    assert "Form expired" in response.text
    with app.app_context():
        assert db.session.scalars(select(LoginSession)).one().ended_at is None
    assert client.get("/account").status_code == 200


# ---- 6. idle and absolute timeouts -------------------------------------------------------

@pytest.mark.parametrize(("seconds_after_idle", "alive"), [(-1, True), (0, False)],
                         ids=["just-inside", "at-the-limit"])
def test_a_session_ends_after_the_idle_time(app, client, seconds_after_idle, alive) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    idle = app.config["SESSION_IDLE_SECONDS"]
    with time_machine.travel(START, tick=False):
        login(client, EMAIL)

    with time_machine.travel(START + timedelta(seconds=idle + seconds_after_idle), tick=False):
        response = client.get("/account")

    if alive:
        assert response.status_code == 200
    else:
        assert response.status_code == 303
        assert urlsplit(response.location).path == "/login"


def test_activity_keeps_a_session_alive_until_the_absolute_limit(app, client) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    idle = app.config["SESSION_IDLE_SECONDS"]
    absolute = app.config["SESSION_ABSOLUTE_SECONDS"]
    step = idle * 5 // 6  # a visit every 50 minutes with the defaults
    with time_machine.travel(START, tick=False):
        login(client, EMAIL)

    elapsed = step
    while elapsed < absolute:
        with time_machine.travel(START + timedelta(seconds=elapsed), tick=False):
            assert client.get("/account").status_code == 200, f"refused after {elapsed} s"
        elapsed += step
    with time_machine.travel(START + timedelta(seconds=absolute - 1), tick=False):
        assert client.get("/account").status_code == 200
    assert session_token(client) is not None  # the test client still sends the cookie
    with time_machine.travel(START + timedelta(seconds=absolute), tick=False):
        response = client.get("/account")

    assert response.status_code == 303
    assert urlsplit(response.location).path == "/login"


# ---- 7. CSRF -----------------------------------------------------------------------------

def _foreign_token(app) -> str:
    """A well-formed CSRF token from another browser's session."""
    return csrf_token(app.test_client().get("/login").text)


CSRF_CASES = {
    "missing": lambda app: None,
    "garbage": lambda app: "not-a-token",
    "another session's": _foreign_token,
}


@pytest.mark.parametrize("case", CSRF_CASES)
def test_login_with_a_bad_csrf_token_changes_nothing(app, client, case) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    events_before = event_names(app)
    client.get("/login")
    data = {"identifier": EMAIL, "password": STRONG_PASSWORD}
    token = CSRF_CASES[case](app)
    if token is not None:
        data["csrf_token"] = token

    response = client.post("/login", data=data)

    assert response.status_code == 400
    assert "Form expired" in response.text
    assert session_token(client) is None
    assert event_names(app) == events_before
    assert count(app, LoginSession) == 0
    assert count(app, LoginThrottle) == 0


@pytest.mark.parametrize("case", CSRF_CASES)
def test_signup_with_a_bad_csrf_token_changes_nothing(app, client, case) -> None:
    client.get("/signup")
    data = {"identifier": EMAIL, "password": STRONG_PASSWORD}
    token = CSRF_CASES[case](app)
    if token is not None:
        data["csrf_token"] = token

    response = client.post("/signup", data=data)

    assert response.status_code == 400
    assert "Form expired" in response.text
    assert count(app, Customer) == 0
    assert count(app, VerificationCode) == 0
    assert event_names(app) == []
    assert read_outbox(app) == []


# ---- 8. bad sign-up input ----------------------------------------------------------------

GOOD_SIGNUP = {"identifier": "ada@example.com", "password": STRONG_PASSWORD,
               "given_name": "Ada", "family_name": "Lovelace"}

BAD_SIGNUPS = [
    ("email-without-domain", {"identifier": "ada@"}, ["Put the domain after the @ sign"]),
    ("email-without-dot", {"identifier": "ada@example"}, ["needs a dot"]),
    ("email-with-two-at-signs", {"identifier": "ada@@example.com"}, ["exactly one @ sign"]),
    ("invalid-phone", {"identifier": "+1 555"}, ["not a valid phone number"]),
    ("over-long-identifier", {"identifier": "a" * 388 + "@example.com"}, ["too long"]),
    ("over-long-password", {"password": "correct horse battery " * 14}, ["at most 256"]),
    ("huge-password", {"password": "x" * 2000}, ["at most 256"]),
    ("short-password", {"password": "Vx9#kq2"}, ["at least 8"]),
    ("common-password", {"password": "password1"}, ["common"]),
    ("repeated-password", {"password": "aaaaaaaa"}, ["easy to guess"]),
    ("password-is-the-email", {"password": "ada@example.com"}, ["easy to guess"]),
    ("password-with-the-product-name", {"password": "Tessera-violet-harbour-91"},
     ["Passwords cannot contain “tessera”"]),
    ("empty-identifier", {"identifier": ""}, ["Enter an email address or a phone number."]),
    ("empty-password", {"password": ""}, ["Choose a password."]),
    ("all-empty", {"identifier": "", "password": "", "given_name": "", "family_name": ""},
     ["Enter an email address or a phone number.", "Choose a password."]),
    ("long-given-name", {"given_name": "A" * 101}, ["at most 100 characters"]),
    ("long-family-name", {"family_name": "L" * 101}, ["at most 100 characters"]),
    ("control-character-in-name", {"given_name": "Ada\x07"}, ["control characters"]),
    ("bidi-override-in-name", {"family_name": "Love\u202elace"}, ["control characters"]),
]


@pytest.mark.parametrize(("changes", "messages"), [case[1:] for case in BAD_SIGNUPS],
                         ids=[case[0] for case in BAD_SIGNUPS])
def test_bad_signup_input_is_refused_with_a_message(app, client, changes, messages) -> None:
    response = submit_signup(client, **(GOOD_SIGNUP | changes))

    assert response.status_code == 400
    text = page_text(response)
    for message in messages:
        assert message in text
    assert read_outbox(app) == []
    assert count(app, VerificationCode) == 0
    assert count(app, Customer) == 0
    assert client.get("/signup/verify").location == "/signup", "a sign-up was left pending"


@pytest.mark.parametrize(("field", "value"), [
    ("given_name", "Ada\x07"),
    ("family_name", "Love\u202elace"),
])
def test_a_name_error_is_shown_at_the_name_field(client, field, value) -> None:
    """The message must sit under (and be described-by) the field that is wrong, or a
    screen-reader user is sent to fix their email address."""
    response = submit_signup(client, **(GOOD_SIGNUP | {field: value}))

    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', response.text)
    assert error, f"no error is shown at {field}"
    assert "control characters" in error.group(1)
    assert 'id="identifier-error"' not in response.text


def test_the_good_signup_of_the_bad_input_table_is_accepted(app, client) -> None:
    """The table's baseline is itself valid, so each row fails for its one change."""
    response = submit_signup(client, **GOOD_SIGNUP)
    assert response.status_code == 303


# ---- 9. security headers and markup ------------------------------------------------------

@pytest.fixture
def logged_in(app, client):
    """The client, logged in as a customer."""
    with app.app_context():
        make_customer(email=EMAIL)
    login(client, EMAIL)
    return client


@pytest.mark.parametrize("path", ["/", "/login", "/signup", "/account", "/nowhere"])
def test_security_headers(logged_in, path) -> None:
    response = logged_in.get(path)

    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/login", "/signup", "/account"])
def test_pages_are_never_cached(logged_in, path) -> None:
    response = logged_in.get(path)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_pages_have_no_inline_script_and_every_field_is_labelled(app, client) -> None:
    pages = {"/login": client.get("/login"), "/signup": client.get("/signup")}
    submit_signup(client, EMAIL)
    pages["/signup/verify"] = client.get("/signup/verify")
    submit_code(client, last_code(app, EMAIL))
    pages["/account"] = client.get("/account")
    pages["/signup (errors)"] = submit_signup(app.test_client(), "", "")

    for name, response in pages.items():
        # Only scripts from our own static files (passkeys.js on the login page), never
        # inline code: the Content-Security-Policy would refuse it anyway.
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", response.text, re.S | re.I)
        assert len(scripts) == response.text.lower().count("<script"), name
        for attributes, body in scripts:
            assert 'src="/static/' in attributes and not body.strip(), name
        markup = FormMarkup()
        markup.feed(response.text)
        for input_id in markup.input_ids:
            assert input_id, f"{name}: an input has no id"
            assert input_id in markup.label_targets, f"{name}: #{input_id} has no label"
    assert len(_inputs(pages["/signup"])) == 6  # with the two optional consent boxes


def _inputs(response) -> list[str | None]:
    """The ids of the inputs in the page's own content (not the footer's switcher)."""
    markup = FormMarkup()
    markup.feed(response.text.split("<main>")[1].split("</main>")[0])
    return markup.input_ids


# ---- 10. where login goes next -----------------------------------------------------------

NEXT_CASES = [
    ("/account", "/account"),
    ("/account?tab=activity", "/account?tab=activity"),
    ("https://evil.example/", "/account"),
    ("//evil.example", "/account"),
    ("/\\evil.example", "/account"),
    ("\\\\evil.example", "/account"),
    ("javascript:alert(1)", "/account"),
    ("evil.example", "/account"),
    # Browsers drop tabs and newlines from URLs, so these read as //evil.example.
    ("/\t/evil.example", "/account"),
    ("/\n/evil.example", "/account"),
    ("/\r\n/evil.example", "/account"),
]


@pytest.mark.parametrize(("next_path", "expected"), NEXT_CASES,
                         ids=[repr(case[0]) for case in NEXT_CASES])
def test_login_goes_to_next_only_on_this_site(app, client, next_path, expected) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    page = client.get("/login", query_string={"next": next_path})

    response = client.post("/login", query_string={"next": next_path},
                           data={"csrf_token": csrf_token(page.text), "identifier": EMAIL,
                                 "password": STRONG_PASSWORD})

    assert response.status_code == 303
    assert response.location == expected
    assert urlsplit(response.location).netloc == ""
    # The login form carries `next` on to its POST: only the vetted path may be there.
    form_action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    assert "evil" not in html.unescape(form_action)


# ---- 11. per-IP rate limit ---------------------------------------------------------------

def test_login_rate_limit_per_ip_answers_429_with_a_plain_page(make_app) -> None:
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "identifier": EMAIL, "password": "not-the-password-at-all-37"}

    statuses = [client.post("/login", data=data).status_code for _ in range(3)]
    limited = client.post("/login", data=data)

    assert statuses == [401, 401, 401]
    assert limited.status_code == 429
    assert limited.mimetype == "text/html"
    assert "Too many requests" in limited.text
    assert "Traceback" not in limited.text
    # The refused attempt did no work: the counters (per identifier, and the unknown
    # identifier's per-customer one) saw only three.
    with app.app_context():
        assert db.session.scalars(select(LoginThrottle.failures)).all() == [3, 3]
    # Only POSTs are limited, and only for this address.
    assert client.get("/login").status_code == 200
    other = app.test_client()
    other_ip = {"environ_base": {"REMOTE_ADDR": "198.51.100.7"}}
    assert login(other, EMAIL, "not-the-password-at-all-37", **other_ip).status_code == 401


def test_a_newly_built_app_starts_with_empty_rate_limit_counters(make_app) -> None:
    data = {"identifier": EMAIL, "password": "not-the-password-at-all-37"}
    first = make_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    for _ in range(3):
        first.post("/login", data=data | {"csrf_token": csrf_token(first.get("/login").text)})

    second = make_app(LOGIN_RATE_LIMIT="2 per minute").test_client()
    response = second.post("/login",
                           data=data | {"csrf_token": csrf_token(second.get("/login").text)})

    assert response.status_code == 401


# ---- 12. the activity page shows the customer's own activity ------------------------------

def test_account_page_lists_own_events_only(app) -> None:
    with app.app_context():
        own_id = make_customer(email="ada@example.com").customer_id
        other_id = make_customer(email="bob@example.com").customer_id
    own = app.test_client()
    other = app.test_client()
    login(own, "ada@example.com", environ_base={"REMOTE_ADDR": "198.51.100.1"})
    login(other, "bob@example.com", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    account = other.get("/account", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    other.post("/logout", data={"csrf_token": csrf_token(account.text)},
               environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert "logout" in event_names(app, other_id)

    page = own.get("/account/activity", environ_base={"REMOTE_ADDR": "198.51.100.1"})

    assert page.status_code == 200
    rows = [(html.unescape(what), ip) for what, ip in re.findall(
        r"<tr><td>[^<]*</td><td>([^<]+)</td><td>(?:[^<]*<br>)?([^<]*)</td></tr>", page.text)]
    assert (describe_event("login.succeeded"), "198.51.100.1") in rows
    # Events with words for customers, newest first; internal ones stay off the page.
    assert [what for what, _ in rows] == [describe_event(name) for name in
                                          reversed(event_names(app, own_id))
                                          if name in EVENT_DESCRIPTIONS]
    assert "login.factor_proved" in event_names(app, own_id)
    assert "login.factor_proved" not in page.text
    assert "203.0.113.9" not in page.text
    assert describe_event("logout") not in [what for what, _ in rows]
