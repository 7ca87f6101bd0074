"""The account sections (app/web/pages.py Profile, app/web/account_pages.py Security,
Apps & sessions, Activity, the header menu) through the Flask test client. Each form's
bad input gets a form error at its field and changes nothing. Every test runs on SQLite
and on PostgreSQL (`app`)."""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.auth.login import CUSTOMER_THROTTLE_KIND
from app.auth.passwords import verify_password
from app.auth.throttle import throttle_key
from app.extensions import db
from app.models import (AuditEvent, Customer, LoginSession, LoginThrottle, OAuthClient,
                        PasswordCredential)
from app.oidc.claims import userinfo_claims
from app.platform.audit import describe_event, record_event
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, read_outbox

EMAIL = "ada@example.com"
NEW_PASSWORD = "quartz-meadow-lantern-58"
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
FIREFOX_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 "
                   "Firefox/128.0")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
SECTIONS = ["/account", "/account/security", "/account/sessions", "/account/data",
            "/account/activity"]


# ---- helpers -----------------------------------------------------------------------------

def log_in(app, user_agent: str = FIREFOX_WINDOWS, ip: str = "198.51.100.1"):
    """A new browser logged in as Ada with this user agent and address."""
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    page = client.get("/login")
    done = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                       "identifier": EMAIL, "password": STRONG_PASSWORD})
    assert done.status_code == 303, done.text
    return client


def post_form(client, path: str, **fields):
    """GET `path` for a CSRF token, then POST the fields to it."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_token(page.text), **fields})


def text(response) -> str:
    return html.unescape(response.text)


def field_error(response, field: str) -> str | None:
    """The error shown at a field (templates/web/_field.html), if any."""
    found = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', response.text)
    return html.unescape(found.group(1)) if found else None


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))
        db.session.expunge_all()
        return rows


def customer_row(app) -> Customer:
    with app.app_context():
        customer = db.session.scalars(select(Customer)).one()
        db.session.expunge(customer)
        return customer


def password_is(app, password: str) -> bool:
    with app.app_context():
        credential = db.session.scalars(select(PasswordCredential)).one()
        return verify_password(credential.password_hash, password)[0]


def open_session_ids(app) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(LoginSession.id)
                                      .where(LoginSession.ended_at.is_(None))))


@pytest.fixture
def ada(app) -> str:
    with app.app_context():
        return make_customer(email=EMAIL).customer_id


# ---- 7. profile --------------------------------------------------------------------------

GOOD_PROFILE = {"given_name": "Ada", "middle_name": "Augusta", "family_name": "King",
                "nickname": "Countess", "locale": "en-gb", "zoneinfo": "Europe/London"}


def test_the_profile_form_saves_every_member_and_audits_their_names(app, ada) -> None:
    client = log_in(app)

    response = post_form(client, "/account", **GOOD_PROFILE)

    assert (response.status_code, response.location) == (303, "/account")
    customer = customer_row(app)
    assert (customer.given_name, customer.middle_name, customer.family_name,
            customer.nickname, customer.locale, customer.zoneinfo) == (
        "Ada", "Augusta", "King", "Countess", "en-GB", "Europe/London")
    [event] = events(app, "profile.updated")
    assert event.details["fields"] == ["family_name", "middle_name", "nickname", "locale",
                                       "zoneinfo"]
    assert event.actor == "customer"
    page = client.get("/account")
    assert "Your profile was saved." in text(page)
    assert 'value="Countess"' in page.text
    assert '<option selected value="Europe/London">' in page.text


BAD_PROFILES = [
    ("control-character", {"given_name": "Ada\x07"}, "given_name", "control characters"),
    ("bidi-override", {"nickname": "Co\u202euntess"}, "nickname", "control characters"),
    ("long-family-name", {"family_name": "K" * 101}, "family_name", "at most 100"),
    ("long-middle-name", {"middle_name": "A" * 101}, "middle_name", "at most 100"),
    ("not-a-locale", {"locale": "english please"}, "locale", "language tag"),
    ("long-locale", {"locale": "en-" + "a" * 40}, "locale", "at most 35"),
    ("unknown-zone", {"zoneinfo": "Mars/Olympus_Mons"}, "zoneinfo", "time zone"),
    ("zone-in-the-wrong-case", {"zoneinfo": "europe/london"}, "zoneinfo", "time zone"),
    ("zone-path-trick", {"zoneinfo": "../../etc/passwd"}, "zoneinfo", "time zone"),
]


@pytest.mark.parametrize(("changes", "field", "message"), [case[1:] for case in BAD_PROFILES],
                         ids=[case[0] for case in BAD_PROFILES])
def test_bad_profile_input_is_a_field_error_and_changes_nothing(app, ada, changes, field,
                                                                 message) -> None:
    client = log_in(app)

    response = post_form(client, "/account", **(GOOD_PROFILE | changes))

    assert response.status_code == 400
    assert message in (field_error(response, field) or ""), response.text
    customer = customer_row(app)
    assert (customer.family_name, customer.nickname, customer.zoneinfo) == \
        ("Lovelace", None, None)
    assert events(app, "profile.updated") == []


def test_the_time_zone_reaches_the_apps_in_userinfo(app, ada) -> None:
    client = log_in(app)
    post_form(client, "/account", **GOOD_PROFILE)
    with app.app_context():
        customer = db.session.scalars(select(Customer)).one()
        claims = userinfo_claims(OAuthClient(subject_type="public"), customer, "openid profile")
    assert (claims["zoneinfo"], claims["locale"], claims["middle_name"]) == \
        ("Europe/London", "en-GB", "Augusta")


# ---- 3. change password ------------------------------------------------------------------

PASSWORD_PAGE = "/account/security/password"


def test_a_fresh_login_changes_the_password_without_the_old_one(app, ada) -> None:
    other = log_in(app, SAFARI_IPHONE, "203.0.113.5")
    client = log_in(app)
    this_session = max(open_session_ids(app))

    response = post_form(client, PASSWORD_PAGE, new_password=NEW_PASSWORD, sign_out_others="y")

    assert (response.status_code, response.location) == (303, "/account/security")
    assert password_is(app, NEW_PASSWORD)
    assert open_session_ids(app) == {this_session}, "the other session is still open"
    assert other.get("/account").status_code == 303
    # The first is make_customer's own password.
    assert [e.customer_id for e in events(app, "password.changed")] == [ada, ada]
    assert events(app, "sessions.signed_out_others")[0].details == {"sessions": 1}
    notice = read_outbox(app)[-1]
    assert (notice["to"], notice["subject"]) == (EMAIL, "Your password was changed")
    assert "1 other session(s) were signed out" in text(client.get("/account/security"))


def test_without_the_box_the_other_sessions_stay(app, ada) -> None:
    log_in(app, SAFARI_IPHONE)
    client = log_in(app)

    response = post_form(client, PASSWORD_PAGE, new_password=NEW_PASSWORD)

    assert response.status_code == 303
    assert len(open_session_ids(app)) == 2
    assert events(app, "sessions.signed_out_others") == []


def test_after_five_minutes_the_current_password_is_asked_for(app, ada) -> None:
    with time_machine.travel(START, tick=False) as clock:
        client = log_in(app)
        clock.shift(timedelta(minutes=6))
        page = client.get(PASSWORD_PAGE)
        assert 'id="current_password"' in page.text
        missing = client.post(PASSWORD_PAGE, data={"csrf_token": csrf_token(page.text),
                                                   "new_password": NEW_PASSWORD})
        assert missing.status_code == 400
        assert field_error(missing, "current_password") == "Enter your current password."
        done = client.post(PASSWORD_PAGE, data={
            "csrf_token": csrf_token(page.text), "new_password": NEW_PASSWORD,
            "current_password": STRONG_PASSWORD})
    assert done.status_code == 303
    assert password_is(app, NEW_PASSWORD)


def test_a_wrong_current_password_changes_nothing_and_counts_toward_the_backoff(app,
                                                                                ada) -> None:
    with time_machine.travel(START, tick=False) as clock:
        client = log_in(app)
        clock.shift(timedelta(minutes=6))
        threshold = app.config["LOGIN_BACKOFF_THRESHOLD"]
        answers = [post_form(client, PASSWORD_PAGE, new_password=NEW_PASSWORD,
                             current_password="not-my-password-at-all-12")
                   for _ in range(threshold + 1)]
        # Paused now: even the right current password is refused, unchecked.
        paused = post_form(client, PASSWORD_PAGE, new_password=NEW_PASSWORD,
                           current_password=STRONG_PASSWORD)

    assert [a.status_code for a in answers] == [400] * (threshold + 1)
    assert "not your current password" in field_error(answers[0], "current_password")
    assert "Wait a few minutes" in field_error(paused, "current_password")
    assert password_is(app, STRONG_PASSWORD)
    assert len(events(app, "password.changed")) == 1  # make_customer's
    assert len(events(app, "password.change_failed")) >= threshold
    with app.app_context():
        row = db.session.get(LoginThrottle, throttle_key(CUSTOMER_THROTTLE_KIND, ada))
        assert row.failures >= threshold and row.blocked_until is not None
    assert [m for m in read_outbox(app) if m["subject"] == "Your password was changed"] == []


BAD_NEW_PASSWORDS = [
    ("empty", "", "Choose a new password."),
    ("short", "Vx9#kq2", "at least 8"),
    ("common", "password1", "common"),
    ("own-email", EMAIL, "easy to guess"),
    ("huge", "x" * 2000, "at most 256"),
]


@pytest.mark.parametrize(("password", "message"), [case[1:] for case in BAD_NEW_PASSWORDS],
                         ids=[case[0] for case in BAD_NEW_PASSWORDS])
def test_a_bad_new_password_is_a_field_error_and_changes_nothing(app, ada, password,
                                                                 message) -> None:
    log_in(app, SAFARI_IPHONE)
    client = log_in(app)

    response = post_form(client, PASSWORD_PAGE, new_password=password, sign_out_others="y")

    assert response.status_code == 400
    assert message in (field_error(response, "new_password") or ""), response.text
    assert password_is(app, STRONG_PASSWORD)
    assert len(open_session_ids(app)) == 2
    assert len(events(app, "password.changed")) == 1  # make_customer's
    assert read_outbox(app) == []


def test_a_customer_without_a_password_logs_in_again_to_choose_one(app) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    with time_machine.travel(START, tick=False) as clock:
        client = log_in(app)
        with app.app_context():
            db.session.execute(db.delete(PasswordCredential))
            db.session.commit()
        assert "Choose a password" in client.get("/account/security").text
        assert client.get(PASSWORD_PAGE).status_code == 200  # fresh: straight in
        clock.shift(timedelta(minutes=6))
        stale = client.get(PASSWORD_PAGE)
    assert stale.status_code == 303
    assert stale.location.startswith("/login?")
    assert "reauth=1" in stale.location and "next=/account/security/password" in stale.location


# ---- 6. sessions and devices -------------------------------------------------------------

def test_the_sessions_page_lists_each_device_and_marks_this_one(app, ada) -> None:
    log_in(app, SAFARI_IPHONE, "203.0.113.5")
    client = log_in(app)

    page = text(client.get("/account/sessions"))

    assert "Safari on iPhone" in page and "203.0.113.5" in page
    assert "Firefox on Windows" in page and "198.51.100.1" in page
    assert page.count("this device") == 1
    assert page.count(">Sign out</button>") == 1, "this device must not offer Sign out"
    assert "Times are in UTC" in page


def test_signing_out_one_session_ends_it_and_audits_it(app, ada) -> None:
    other = log_in(app, SAFARI_IPHONE, "203.0.113.5")
    other_id = max(open_session_ids(app))
    client = log_in(app)
    this_id = max(open_session_ids(app))

    response = post_form_to(client, "/account/sessions", f"/account/sessions/{other_id}/sign-out")

    assert (response.status_code, response.location) == (303, "/account/sessions")
    assert open_session_ids(app) == {this_id}
    assert other.get("/account").status_code == 303
    assert events(app, "session.signed_out")[0].details == {"session_id": other_id}
    assert "logout" in [e.event for e in all_events(app, ada)]
    assert "Signed out Safari on iPhone" in text(client.get("/account/sessions"))


@pytest.mark.parametrize("whose", ["this one", "another customer's", "unknown", "ended"])
def test_sign_out_of_a_session_that_is_not_another_of_yours_changes_nothing(app, ada,
                                                                              whose) -> None:
    with app.app_context():
        make_customer(email="bob@example.com")
    bob = app.test_client()
    page = bob.get("/login")
    bob.post("/login", data={"csrf_token": csrf_token(page.text),
                             "identifier": "bob@example.com", "password": STRONG_PASSWORD})
    bobs = max(open_session_ids(app))
    ended = log_in(app, SAFARI_IPHONE)
    ended_id = max(open_session_ids(app))
    post_form_to(ended, "/account", "/logout")
    client = log_in(app)
    this_id = max(open_session_ids(app))
    target = {"this one": this_id, "another customer's": bobs, "unknown": 999999,
              "ended": ended_id}[whose]
    before = open_session_ids(app)

    response = post_form_to(client, "/account/sessions", f"/account/sessions/{target}/sign-out")

    assert (response.status_code, response.location) == (303, "/account/sessions")
    assert open_session_ids(app) == before
    assert events(app, "session.signed_out") == []
    follow = text(client.get("/account/sessions"))
    assert "Log out at the top" in follow or "already ended" in follow


def test_sign_out_all_others_keeps_only_this_session(app, ada) -> None:
    log_in(app, SAFARI_IPHONE)
    log_in(app, FIREFOX_WINDOWS, "203.0.113.7")
    client = log_in(app)
    this_id = max(open_session_ids(app))

    response = post_form_to(client, "/account/sessions", "/account/sessions/sign-out-others")

    assert response.status_code == 303
    assert open_session_ids(app) == {this_id}
    assert events(app, "sessions.signed_out_others")[0].details == {"sessions": 2}
    assert "Signed out 2 other session(s)." in text(client.get("/account/sessions"))


def test_sign_outs_need_a_csrf_token(app, ada) -> None:
    log_in(app, SAFARI_IPHONE)
    client = log_in(app)
    before = open_session_ids(app)
    assert client.post("/account/sessions/sign-out-others").status_code == 400
    assert open_session_ids(app) == before


def post_form_to(client, page_path: str, action: str):
    """GET `page_path` for a CSRF token and POST it to `action`."""
    return client.post(action, data={"csrf_token": csrf_token(client.get(page_path).text)})


def all_events(app, customer_id: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent)
                                       .where(AuditEvent.customer_id == customer_id)))
        db.session.expunge_all()
        return rows


# ---- 9. activity -------------------------------------------------------------------------

def test_activity_pages_twenty_events_at_a_time_with_an_older_link(app, ada) -> None:
    with app.app_context():
        for number in range(45):
            record_event("profile.updated", TEST_ORIGIN, ada, n=number)
        db.session.commit()
    client = log_in(app)
    total = len([e for e in all_events(app, ada) if describe_event(e.event) != e.event])

    seen, path, pages = [], "/account/activity", 0
    while path:
        page = client.get(path)
        assert page.status_code == 200
        rows = re.findall(r"<tr><td>", page.text)
        seen += rows
        pages += 1
        assert len(rows) <= 20
        older = re.search(r'href="(/account/activity\?before=\d+)" rel="next"', page.text)
        path = html.unescape(older.group(1)) if older else None
    assert len(seen) == total
    assert pages == -(-total // 20)


def test_activity_times_are_in_the_profile_time_zone_and_say_which(app, ada) -> None:
    with time_machine.travel(START, tick=False):
        client = log_in(app)
        utc = text(client.get("/account/activity"))
        post_form(client, "/account", **(GOOD_PROFILE | {"zoneinfo": "Asia/Tokyo"}))
        tokyo = text(client.get("/account/activity"))
    assert "Times are in UTC" in utc and "2030-01-07 09:00" in utc
    assert "Times are in Asia/Tokyo" in tokyo and "2030-01-07 18:00" in tokyo
    assert "Firefox on Windows" in tokyo and "198.51.100.1" in tokyo
    assert describe_event("login.succeeded") in tokyo


def test_a_bad_page_cursor_shows_the_first_page(app, ada) -> None:
    client = log_in(app)
    assert client.get("/account/activity?before=not-a-number").status_code == 200


# ---- 8. navigation -----------------------------------------------------------------------

@pytest.mark.parametrize("path", SECTIONS)
def test_every_section_has_the_menu_with_itself_marked(app, ada, path) -> None:
    client = log_in(app)

    page = client.get(path)

    assert page.status_code == 200
    assert 'id="signed-in-as">Ada Lovelace<' in page.text
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page.text)
    assert current == [path]
    for section in SECTIONS:
        assert f'href="{section}"' in page.text
    assert page.text.count('action="/logout"') == 1
    assert "<script" not in page.text.lower() and "style=" not in page.text


def test_the_menu_is_not_shown_to_visitors_or_on_the_login_page(app, ada) -> None:
    visitor = app.test_client()
    assert "signed-in-as" not in visitor.get("/login").text
    client = log_in(app)
    assert "signed-in-as" not in client.get("/login").text


def test_the_customer_id_is_shown_once_grouped(app, ada) -> None:
    client = log_in(app)
    page = client.get("/account").text
    grouped = "-".join([ada[:4], ada[4:8], ada[8:12], ada[12:]])
    assert page.count(grouped) == 1
    assert "Customer ID" in page and "Customer number" not in page


def test_the_sections_need_a_login(app) -> None:
    visitor = app.test_client()
    for path in SECTIONS[1:] + [PASSWORD_PAGE]:
        response = visitor.get(path)
        assert response.status_code == 303 and response.location.startswith("/login"), path
