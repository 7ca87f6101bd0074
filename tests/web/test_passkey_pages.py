"""The account's passkey pages (app/web/passkey_pages.py) through the Flask test client,
with the software authenticator (tests/fakes/authenticator.py) answering where the
browser's prompt would. Each test checks the rows, audit events and outbox, not only the
page. Every test runs on SQLite and on PostgreSQL (the `make_app` fixture).

Customers log in with the password on the login page (one factor) and confirm with their
passkey as the second factor where removal asks for two; a customer without a password gets
the session a passkey login leaves (start_session), as test_factors.py does.
"""
from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from app.auth import support
from app.auth.levels import ACR_PHISHING_RESISTANT
from app.auth.sessions import start_session
from app.extensions import db, limiter
from app.models import AuditEvent, Customer, LoginSession, PasskeyCredential, utcnow
from app.web.reauth import REAUTH_SECONDS
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.fakes import authenticator
from tests.helpers import csrf_token, read_outbox

ISSUER = "http://localhost:5000"
PASSKEYS = "/account/security/passkeys"
OPTIONS = f"{PASSKEYS}/options"
SESSION_COOKIE = "tessera_session"
#: The passkey form of a login page (app/web/templates/web/_passkey_form.html).
PASSKEY_FORM_RE = re.compile(r'<form method="post" action="([^"]+)" class="passkey"'
                             r'[^>]*?data-options-url="([^"]+)"', re.S)


@pytest.fixture
def rp_app(make_app):
    """The app on an issuer that can be an RP ID (localhost), with fresh rate limits."""
    application = make_app(ISSUER=ISSUER)
    limiter.reset()
    return application


# ---- helpers -----------------------------------------------------------------------------

def log_in(app, email: str = "ada@example.com"):
    """A new customer, logged in with the password on the login page: a test client."""
    with app.app_context():
        make_customer(email=email)
    client = app.test_client()
    page = client.get("/login")
    done = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                       "identifier": email, "password": STRONG_PASSWORD})
    assert done.status_code == 303, done.text
    return client


def confirm_with_passkey(client, soft, next_path: str):
    """Log in again as the removal link asks (reauth=mfa): the password, then `soft` as
    the second factor, through the URLs the page's passkey form names (as passkeys.js
    does); ends at `next_path`."""
    query = f"?reauth=mfa&next={next_path}"
    page = client.get(f"/login{query}")
    first = client.post(f"/login{query}", data={
        "csrf_token": csrf_token(page.text), "identifier": "ada@example.com",
        "password": STRONG_PASSWORD})
    assert first.location == "/login/second-factor", first.text
    second = client.get("/login/second-factor?method=passkey").text
    action, options_url = (html.unescape(url) for url in PASSKEY_FORM_RE.search(second).groups())
    token = csrf_token(second)
    options = client.post(options_url, headers={"X-CSRFToken": token})
    assert options.status_code == 200, options.text
    done = client.post(action, data={
        "csrf_token": token, "credential": authenticator.get(soft, options.text, ISSUER)})
    assert (done.status_code, done.location) == (303, next_path), done.text


def registration_answer(client, **answer):
    """What passkeys.js does up to the form's POST: (page's CSRF token, options JSON,
    the software passkey, its answer)."""
    page = client.get(PASSKEYS)
    assert page.status_code == 200, page.text
    token = csrf_token(page.text)
    options = client.post(OPTIONS, headers={"X-CSRFToken": token})
    assert options.status_code == 200, options.text
    soft, credential = authenticator.create(options.text, answer.pop("origin", ISSUER),
                                            **answer)
    return token, options.text, soft, credential


def add_passkey(client, name: str | None = "Laptop", **answer):
    """Add a passkey through the list page; (the software passkey, the POST's response)."""
    token, _, soft, credential = registration_answer(client, **answer)
    response = client.post(PASSKEYS, data={"csrf_token": token, "credential": credential,
                                           "name": name or ""})
    return soft, response


def stored(app, email: str = "ada@example.com") -> list[tuple[int, str, bool]]:
    """(id, name, synced) of the customer's passkeys, oldest first."""
    with app.app_context():
        return [(row.id, row.name, row.backup_eligible) for row in db.session.scalars(
            select(PasskeyCredential).join(Customer).where(
                Customer.identifiers.any(value=email)).order_by(PasskeyCredential.id))]


def events(app, name: str) -> list[dict]:
    with app.app_context():
        return [event.details for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id))]


def subjects(app) -> list[str]:
    return [message.get("subject") for message in read_outbox(app)]


def age_logins(app, seconds: int = REAUTH_SECONDS + 1) -> None:
    """Make every login session's login `seconds` old."""
    with app.app_context():
        db.session.execute(update(LoginSession).values(
            auth_time=utcnow() - timedelta(seconds=seconds)))
        db.session.commit()


def redirect_query(response) -> tuple[str, dict]:
    parts = urlsplit(response.location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def text_of(response) -> str:
    return html.unescape(response.text)


# ---- the list, and who may see it ----------------------------------------------------------

def test_every_page_needs_a_recent_login_and_removal_two_factors(rp_app):
    anonymous = rp_app.test_client().get(PASSKEYS)
    assert redirect_query(anonymous) == ("/login", {"next": PASSKEYS})
    client = log_in(rp_app)
    add_passkey(client)
    [(passkey_id, _, _)] = stored(rp_app)
    rename, remove = f"{PASSKEYS}/{passkey_id}/rename", f"{PASSKEYS}/{passkey_id}/remove"
    token = csrf_token(client.get(PASSKEYS).text)
    # A password-only login of a minute ago: removal asks for a second factor.
    for method in ("get", "post"):
        response = getattr(client, method)(remove, data={"csrf_token": token})
        assert redirect_query(response) == ("/login", {"next": remove, "reauth": "mfa"})

    age_logins(rp_app)
    cases = [("get", PASSKEYS, {}, "1"), ("post", OPTIONS, {}, "1"),
             ("post", rename, {"name": "Stolen"}, "1"), ("get", remove, {}, "mfa"),
             ("post", remove, {}, "mfa")]
    for method, path, data, reauth in cases:
        response = getattr(client, method)(path, data={"csrf_token": token, **data},
                                           headers={"X-CSRFToken": token})
        assert response.status_code == 303, (method, path)
        assert redirect_query(response) == ("/login", {"next": path, "reauth": reauth})
    # Adding takes only the answer to a challenge that an options request, which needs a
    # recent login, handed to this session: without one, a stale session adds nothing.
    stale_add = client.post(PASSKEYS, data={"csrf_token": token, "credential": "{}",
                                            "name": "x"})
    assert stale_add.status_code == 400
    assert stored(rp_app) == [(passkey_id, "Laptop", False)]
    assert events(rp_app, "passkey.renamed") == events(rp_app, "passkey.removed") == []


def test_a_pending_required_action_holds_the_pages(rp_app):
    client = log_in(rp_app)
    with rp_app.app_context():
        customer = db.session.scalar(select(Customer))
        support.add_required_action(customer, support.CONFIGURE_TOTP)
        db.session.commit()
    token = csrf_token(client.get("/login").text)

    page = client.get(PASSKEYS)
    options = client.post(OPTIONS, headers={"X-CSRFToken": token})

    assert redirect_query(page) == ("/account/required/totp", {"next": PASSKEYS})
    assert options.status_code == 303 and options.location.startswith("/account/required/")
    assert stored(rp_app) == []


def test_the_list_shows_each_passkey_and_the_security_section_counts_them(rp_app):
    client = log_in(rp_app)
    security = client.get("/account/security")
    assert 'id="passkeys-status"' in security.text and "Add a passkey" in security.text

    _, added = add_passkey(client, "Laptop")
    _, synced = add_passkey(client, "Phone", synced=True)
    _, unnamed = add_passkey(client, None)

    assert [(r.status_code, r.location) for r in (added, synced, unnamed)] == \
        [(303, PASSKEYS)] * 3
    page = client.get(PASSKEYS)
    assert "Passkey added. You can now log in with it." in page.text
    rows = stored(rp_app)
    # The test client names no platform: a passkey bound to one device is a security key.
    assert [(name, synced) for _, name, synced in rows] == [
        ("Laptop", False), ("Phone", True), ("Security key", False)]
    listed = text_of(page)
    for passkey_id, name, synced in rows:
        item = listed.split(f'id="passkey-{passkey_id}"')[1].split("</li>")[0]
        assert name in item and "not used yet" in item
        assert ("synced" if synced else "this device only") in item
        assert f'action="{PASSKEYS}/{passkey_id}/rename"' in item
        assert f'href="{PASSKEYS}/{passkey_id}/remove"' in item
    assert 'data-passkey="create"' in page.text and f'data-options-url="{OPTIONS}"' in page.text
    assert "Added " in listed and "passkeys.js" in page.text
    assert [e["name"] for e in events(rp_app, "passkey.added")] == [
        "Laptop", "Phone", "Security key"]
    assert subjects(rp_app).count("A passkey was added to your account") == 3
    security = client.get("/account/security")
    assert "3 passkeys" in security.text and "Manage passkeys" in security.text
    # Dates are the customer's days: 20:00 UTC is already the next day in Kiribati.
    with rp_app.app_context():
        db.session.execute(update(Customer).values(zoneinfo="Pacific/Kiritimati"))
        db.session.execute(update(PasskeyCredential).values(
            created_at=datetime(2030, 1, 7, 20, 0, tzinfo=UTC)))
        db.session.commit()
    assert "Added Jan 8, 2030" in client.get(PASSKEYS).text


# ---- registration ------------------------------------------------------------------------

def test_registration_options_exclude_the_customers_passkeys(rp_app):
    client = log_in(rp_app)
    _, first, _, _ = registration_answer(client)
    add_passkey(client)
    _, again, _, _ = registration_answer(client)
    without_token = client.post(OPTIONS)

    first, again = json.loads(first), json.loads(again)
    assert first["rp"]["id"] == "localhost" and first["excludeCredentials"] == []
    assert first["authenticatorSelection"]["residentKey"] == "required"
    assert first["authenticatorSelection"]["userVerification"] == "preferred"
    with rp_app.app_context():
        [passkey] = db.session.scalars(select(PasskeyCredential)).all()
        customer_id = db.session.scalar(select(Customer.customer_id))
    handle = authenticator.unb64url(first["user"]["id"])
    assert b"ada@example.com" not in handle and customer_id.encode() not in handle
    assert [c["id"] for c in again["excludeCredentials"]] == [passkey.credential_id]
    assert again["user"]["id"] == passkey.user_handle  # one handle for all their passkeys
    assert without_token.status_code == 400 and "Form expired" in without_token.text


def test_a_refused_registration_stores_nothing_and_says_why(rp_app):
    client = log_in(rp_app)
    token, _, _, credential = registration_answer(client)
    assert client.post(PASSKEYS, data={"csrf_token": token, "credential": credential,
                                       "name": "Laptop"}).status_code == 303
    kept = stored(rp_app)

    replayed = client.post(PASSKEYS, data={"csrf_token": token, "credential": credential,
                                           "name": "Again"})
    assert replayed.status_code == 400
    assert "This passkey request expired or was already used." in text_of(replayed)
    # The page is shown again with an empty answer field, so the button asks anew.
    assert 'name="credential" type="hidden" value=""' in replayed.text
    assert 'value="Again"' in replayed.text

    _, _, _, other_site = registration_answer(client, origin="https://evil.example")
    cases = [(other_site, 400, "Your device's answer could not be checked."),
             ("", 400, "could not be checked"), ("{not json", 400, "could not be checked"),
             ("x" * (64 * 1024 + 1), 413, "")]
    for answer, status, message in cases:
        response = client.post(PASSKEYS, data={"csrf_token": token, "credential": answer})
        assert response.status_code == status, answer[:20]
        assert message in text_of(response)
    assert stored(rp_app) == kept
    assert [e["step"] for e in events(rp_app, "passkey.refused")] == ["register"]


# ---- renaming ------------------------------------------------------------------------------

def test_renaming_a_passkey(rp_app):
    client = log_in(rp_app)
    add_passkey(client, "Laptop")
    add_passkey(log_in(rp_app, "bob@example.com"), "Bob's key")
    [(passkey_id, _, _)] = stored(rp_app)
    [(bobs_id, _, _)] = stored(rp_app, "bob@example.com")
    token = csrf_token(client.get(PASSKEYS).text)

    renamed = client.post(f"{PASSKEYS}/{passkey_id}/rename",
                          data={"csrf_token": token, "name": "  Work\n laptop "})

    assert (renamed.status_code, renamed.location) == (303, PASSKEYS)
    assert "The passkey is now called “Work laptop”." in text_of(client.get(PASSKEYS))
    assert stored(rp_app) == [(passkey_id, "Work laptop", False)]
    assert events(rp_app, "passkey.renamed") == [{"passkey_id": passkey_id,
                                                  "name": "Work laptop"}]
    for target, name, status in [(passkey_id, "", 400), (passkey_id, "   ", 400),
                                 (bobs_id, "Mine now", 404), (999_999, "Mine", 404)]:
        response = client.post(f"{PASSKEYS}/{target}/rename",
                               data={"csrf_token": token, "name": name})
        assert response.status_code == status, (target, name)
        if status == 400:
            assert "Give the passkey a name" in response.text
            assert f'id="passkey-{passkey_id}-name-error"' in response.text
            assert 'aria-invalid="true"' in response.text and "<details open>" in response.text
    assert stored(rp_app) == [(passkey_id, "Work laptop", False)]
    assert stored(rp_app, "bob@example.com") == [(bobs_id, "Bob's key", False)]


# ---- removal -------------------------------------------------------------------------------

def test_removing_a_passkey_after_logging_in_with_two_factors(rp_app):
    client = log_in(rp_app)
    soft, _ = add_passkey(client, "Laptop")
    add_passkey(log_in(rp_app, "bob@example.com"), "Bob's key")
    [(passkey_id, _, _)] = stored(rp_app)
    [(bobs_id, _, _)] = stored(rp_app, "bob@example.com")
    remove = f"{PASSKEYS}/{passkey_id}/remove"
    assert redirect_query(client.get(remove))[1]["reauth"] == "mfa"

    confirm_with_passkey(client, soft, remove)  # password, then the passkey
    assert "· last used " in text_of(client.get(PASSKEYS))
    confirm = client.get(remove)

    assert confirm.status_code == 200
    assert "Remove the passkey “Laptop”?" in text_of(confirm)
    assert "no longer log you in" in confirm.text and "We will email" in confirm.text
    assert 'id="last-passkey-warning"' not in confirm.text  # Ada has a password
    token = csrf_token(confirm.text)
    for target in (bobs_id, 999_999):
        for method in ("get", "post"):
            response = getattr(client, method)(f"{PASSKEYS}/{target}/remove",
                                               data={"csrf_token": token})
            assert response.status_code == 404, (target, method)
    assert stored(rp_app, "bob@example.com") == [(bobs_id, "Bob's key", False)]

    removed = client.post(remove, data={"csrf_token": token})

    assert (removed.status_code, removed.location) == (303, PASSKEYS)
    assert "The passkey “Laptop” was removed." in text_of(client.get(PASSKEYS))
    assert stored(rp_app) == []
    assert events(rp_app, "passkey.removed") == [{"passkey_id": passkey_id,
                                                  "name": "Laptop"}]
    assert "A passkey was removed from your account" in subjects(rp_app)
    assert client.get(remove).status_code == 404


def test_removing_the_last_passkey_of_a_customer_without_a_password_warns(rp_app):
    with rp_app.app_context():
        customer = make_customer(password=None)
        # As a passkey login with user verification leaves it: two factors, one a passkey.
        token = start_session(customer, ["hwk", "user", "mfa"], ACR_PHISHING_RESISTANT,
                              TEST_ORIGIN)
        db.session.commit()
    client = rp_app.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    add_passkey(client, "Phone")
    add_passkey(client, "Laptop")
    [(first, _, _), (second, _, _)] = stored(rp_app)

    with_two = client.get(f"{PASSKEYS}/{first}/remove")
    removed = client.post(f"{PASSKEYS}/{second}/remove",
                          data={"csrf_token": csrf_token(with_two.text)})
    with_one = client.get(f"{PASSKEYS}/{first}/remove")

    assert with_two.status_code == 200 and 'id="last-passkey-warning"' not in with_two.text
    assert removed.status_code == 303 and stored(rp_app) == [(first, "Phone", False)]
    assert 'id="last-passkey-warning"' in with_one.text
    assert "This is your only passkey, and your account has no password." in with_one.text


# ---- a server where passkeys cannot work ---------------------------------------------------

def test_an_ip_address_issuer_says_passkeys_are_not_available(make_app):
    app = make_app(ISSUER="http://127.0.0.1:5000")
    limiter.reset()
    client = log_in(app)

    page = client.get(PASSKEYS)
    options = client.post(OPTIONS, headers={"X-CSRFToken": csrf_token(page.text)})

    assert page.status_code == 200
    assert "Passkeys are not available on this server." in page.text
    assert "data-passkey" not in page.text and "passkeys.js" not in page.text
    assert (options.status_code, options.json) == (
        400, {"error": "Passkeys are not available on this server."})
    assert 'id="passkeys-status"' not in client.get("/account/security").text
