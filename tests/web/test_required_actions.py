"""Required actions through the Flask test client: a customer support asked for a new
password or a new authenticator app is held at that page, from every hosted page and from
the authorization endpoint (no code for an app until it is done), and then continues
where they were going. The admin API, token endpoints, logout, login and static files are
never held. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import time_machine
from sqlalchemy import func, select

from app.auth import support
from app.auth.levels import ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR
from app.auth.sessions import start_session
from app.extensions import db
from app.models import AuditEvent, AuthorizationCode, Customer, TotpCredential
from app.platform.audit import record_event
from app.platform.crypto import unseal
from tests.admin.helpers import admin_token, auth
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer, make_totp
from tests.helpers import csrf_token, read_outbox
from tests.oidc.helpers import REDIRECT_URI, make_client

SESSION_COOKIE = "tessera_session"
PASSWORD_PAGE = "/account/required/password"
TOTP_PAGE = "/account/required/totp"
ENROL = "/account/security/totp"
NEW_PASSWORD = "quartz-lantern-meadow-58"
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


# ---- helpers -----------------------------------------------------------------------------

#: A session that proved a verified channel (a texted code) with two factors: what a
#: customer must have to do support's actions here (see support.proved_a_channel).
PROVED = (["pwd", "sms", "mfa"], ACR_MULTI_FACTOR)
PASSWORD_ONLY = (["pwd"], ACR_SINGLE_FACTOR)


def logged_in(app, *actions: str, email: str = "ada@example.com", levels=PROVED):
    """A customer with these required actions and a test client logged in as them."""
    with app.app_context():
        customer = make_customer(email=email)
        for action in actions:
            support.add_required_action(customer, action)
        token = start_session(customer, *levels, TEST_ORIGIN)
        db.session.commit()
        pk = customer.id
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    return client, pk


def actions_of(app, pk: int) -> list[str]:
    with app.app_context():
        return list(db.session.get(Customer, pk).required_actions)


def location(response) -> tuple[str, dict]:
    parts = urlsplit(response.location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def authorize_params(client_id: str, **extra) -> dict:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid", "state": "st-1", **extra}


def codes_issued(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuthorizationCode))


def set_new_password(client, password: str = NEW_PASSWORD, next_path: str | None = None):
    url = PASSWORD_PAGE + (f"?{urlencode({'next': next_path})}" if next_path else "")
    page = client.get(url)
    assert page.status_code == 200, page.text
    return client.post(url, data={"csrf_token": csrf_token(page.text), "password": password})


# ---- being held --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/account", "/", ENROL, "/account/phones/add",
                                  "/account/emails/add", "/account/security/recovery-codes"])
def test_every_hosted_page_leads_to_the_first_action(app, path):
    client, _ = logged_in(app, support.UPDATE_PASSWORD, support.CONFIGURE_TOTP)
    response = client.get(path)
    assert response.status_code == 303
    assert location(response) == (PASSWORD_PAGE, {"next": path})


def test_a_form_post_is_held_too_and_changes_nothing(app):
    client, pk = logged_in(app, support.UPDATE_PASSWORD)
    page_token = csrf_token(client.get(PASSWORD_PAGE).text)
    response = client.post("/account/apps/some-client/revoke",
                           data={"csrf_token": page_token})
    assert response.status_code == 303
    assert location(response) == (PASSWORD_PAGE, {})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "consent.revoked")) == 0


def test_a_customer_without_actions_is_not_held(app):
    client, _ = logged_in(app)
    assert client.get("/account").status_code == 200
    assert client.get(PASSWORD_PAGE).status_code == 303  # nothing to do: on to the account
    assert location(client.get(PASSWORD_PAGE))[0] == "/account"


@pytest.mark.parametrize("method, path", [
    ("GET", "/login"), ("GET", "/login/sms"), ("GET", "/recover"), ("GET", "/healthz"),
    ("GET", "/static/tessera.css"), ("GET", "/.well-known/openid-configuration"),
    ("GET", "/jwks.json"), ("GET", "/admin/api/openapi.json"),
])
def test_login_logout_static_health_and_apis_are_never_held(app, method, path):
    client, _ = logged_in(app, support.UPDATE_PASSWORD)
    response = client.open(path, method=method)
    response.close()  # static files are streamed from an open file
    assert response.status_code == 200, (path, response.status_code)


def test_the_admin_and_token_endpoints_ignore_the_browser_session(app):
    client, _ = logged_in(app, support.UPDATE_PASSWORD)
    token = admin_token(app, "admin:read")
    response = client.get("/admin/api/customers", query_string={"q": "ada@example.com"},
                          headers=auth(token))
    assert response.status_code == 200 and response.json["items"]
    assert client.post("/token", data={}).status_code == 400  # an OAuth error, not a page
    assert client.post("/introspect", data={"token": "x"}).status_code == 401


def test_logout_works_while_held(app):
    client, _ = logged_in(app, support.UPDATE_PASSWORD)
    page = client.get(PASSWORD_PAGE)
    assert 'action="/logout"' in page.text
    response = client.post("/logout", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303 and location(response)[0] == "/login"
    assert location(client.get("/account"))[0] == "/login"


# ---- update_password ---------------------------------------------------------------------

def test_choosing_a_new_password_clears_the_action_and_continues(app):
    client, pk = logged_in(app, support.UPDATE_PASSWORD)
    response = set_new_password(client, next_path="/account/phones/add")
    assert response.status_code == 303
    assert location(response)[0] == "/account/phones/add"
    assert actions_of(app, pk) == []
    assert client.get("/account").status_code == 200
    [notice] = [m for m in read_outbox(app) if m.get("subject") == "Your password was changed"]
    assert notice["to"] == "ada@example.com"
    with app.app_context():
        customer = db.session.get(Customer, pk)
        events = list(db.session.scalars(select(AuditEvent.event).where(
            AuditEvent.customer_id == customer.customer_id)))
    assert "password.changed" in events


def test_a_new_password_ends_every_other_session(app):
    """ASVS 7.4.3: whoever else held a session (an old cookie) is signed out by it."""
    client, pk = logged_in(app, support.UPDATE_PASSWORD)
    with app.app_context():
        other = start_session(db.session.get(Customer, pk), *PROVED, TEST_ORIGIN)
        db.session.commit()
    elsewhere = app.test_client()
    elsewhere.set_cookie(SESSION_COOKIE, other)
    assert set_new_password(client).status_code == 303
    assert client.get("/account").status_code == 200
    assert urlsplit(elsewhere.get("/account").location).path == "/login"


@pytest.mark.parametrize("password, message", [
    ("short", "at least"),
    ("password123", "common"),
    (STRONG_PASSWORD, "not used"),  # the old one
])
def test_a_refused_password_is_a_form_error_and_the_action_stays(app, password, message):
    client, pk = logged_in(app, support.UPDATE_PASSWORD)
    response = set_new_password(client, password)
    assert response.status_code == 400
    assert message in response.text and 'aria-invalid="true"' in response.text
    assert actions_of(app, pk) == ["update_password"]
    assert location(client.get("/account"))[0] == PASSWORD_PAGE


def test_an_unsafe_next_goes_to_the_account_page(app):
    client, _ = logged_in(app, support.UPDATE_PASSWORD)
    response = set_new_password(client, next_path="//evil.example/")
    assert response.status_code == 303 and location(response)[0] == "/account"


def test_a_stale_session_logs_in_again_first(app):
    with time_machine.travel(START, tick=False) as clock:
        client, pk = logged_in(app, support.UPDATE_PASSWORD)
        clock.shift(timedelta(minutes=6))
        response = client.get(PASSWORD_PAGE)
        assert response.status_code == 303
        assert location(response) == ("/login", {"next": PASSWORD_PAGE, "reauth": "mfa"})
        page = client.get("/login?" + urlencode({"next": PASSWORD_PAGE, "reauth": "mfa"}))
        assert page.status_code == 200
        # The reset password is not a way back in, even to re-authenticate.
        again = client.post("/login?" + urlencode({"next": PASSWORD_PAGE, "reauth": "mfa"}),
                            data={"csrf_token": csrf_token(page.text),
                                  "identifier": "ada@example.com",
                                  "password": STRONG_PASSWORD})
        assert again.status_code == 401
    assert actions_of(app, pk) == ["update_password"]


@pytest.mark.parametrize("levels", [PASSWORD_ONLY, (["sms"], ACR_SINGLE_FACTOR)])
def test_without_a_proved_channel_the_page_says_how_to_set_a_password(app, levels):
    """Issue 12, item 1: a session that did not prove a verified channel with two
    factors cannot set the new password here; it is sent to the recovery code or a
    recovery link, never left at a dead end."""
    client, pk = logged_in(app, support.UPDATE_PASSWORD, levels=levels)
    page = client.get(PASSWORD_PAGE)
    assert page.status_code == 403
    assert 'href="/recover"' in page.text and "recovery link" in page.text
    posted = client.post(PASSWORD_PAGE, data={"csrf_token": csrf_token(page.text),
                                              "password": NEW_PASSWORD})
    assert posted.status_code == 403
    assert actions_of(app, pk) == ["update_password"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "required_action.proof_needed")) == 2


# ---- configure_totp ----------------------------------------------------------------------

def enrol_secret(app, pk: int) -> str:
    with app.app_context():
        row = db.session.get(TotpCredential, pk)
        return unseal(row.secret_sealed, f"totp:{pk}").decode()


def test_configure_totp_goes_through_the_enrolment_page_and_resumes(app):
    with time_machine.travel(START, tick=False):
        client, pk = logged_in(app, support.CONFIGURE_TOTP)
        held = client.get("/account/phones/add")
        assert location(held) == (TOTP_PAGE, {"next": "/account/phones/add"})
        onward = client.get(held.location)
        assert onward.status_code == 303 and location(onward)[0] == ENROL
        page = client.get(ENROL)
        assert page.status_code == 200
        assert "needs an authenticator app" in page.text
        code = pyotp.TOTP(enrol_secret(app, pk)).now()
        done = client.post(ENROL, data={"csrf_token": csrf_token(page.text), "code": code})
        assert done.status_code == 200 and "recovery codes" in done.text
        assert actions_of(app, pk) == []
        # "Back to my account" continues where the customer was going, once.
        back = client.get("/account")
        assert back.status_code == 303 and location(back)[0] == "/account/phones/add"
        assert client.get("/account").status_code == 200


def test_both_actions_one_after_the_other(app):
    with time_machine.travel(START, tick=False):
        client, pk = logged_in(app, support.UPDATE_PASSWORD, support.CONFIGURE_TOTP)
        response = set_new_password(client, next_path="/account")
        assert location(response) == (TOTP_PAGE, {"next": "/account"})
        assert actions_of(app, pk) == ["configure_totp"]
        assert location(client.get("/account"))[0] == TOTP_PAGE


def test_after_an_mfa_reset_the_password_alone_cannot_enrol_a_new_app(app):
    """Issue 12, item 1: a login with the (possibly stolen) password alone reaches the
    action's page, is told how to prove a verified channel, and cannot enrol an app."""
    client, pk = logged_in(app, support.CONFIGURE_TOTP, levels=PASSWORD_ONLY)
    with app.app_context():  # the reset's time is read from its audit event
        record_event("mfa.reset", TEST_ORIGIN, db.session.get(Customer, pk).customer_id)
        db.session.commit()
    page = client.get(TOTP_PAGE)
    assert page.status_code == 403
    assert "reauth=mfa" in page.text and "recovery link" in page.text
    enrol = client.get(ENROL)
    assert enrol.status_code == 303 and location(enrol)[0] == TOTP_PAGE
    posted = client.post(ENROL, data={"csrf_token": csrf_token(page.text), "code": "123456"})
    assert posted.status_code == 303
    with app.app_context():
        assert db.session.get(TotpCredential, pk) is None
    assert actions_of(app, pk) == ["configure_totp"]


def test_a_satisfied_configure_totp_never_loops(app):
    client, pk = logged_in(app, support.CONFIGURE_TOTP)
    with app.app_context():
        customer = db.session.get(Customer, pk)
        secret, _codes = make_totp(customer)
        db.session.commit()
        # Put the action back as if it had been set after the app was confirmed.
        support.add_required_action(customer, support.CONFIGURE_TOTP)
        db.session.commit()
    response = client.get(TOTP_PAGE)
    assert response.status_code == 303 and location(response)[0] == "/account"
    assert actions_of(app, pk) == []


# ---- the authorization endpoint ----------------------------------------------------------

def test_no_authorization_code_until_the_password_is_changed(app):
    client_id, _ = make_client(app, first_party=True, scope="openid")
    client, pk = logged_in(app, support.UPDATE_PASSWORD)
    query = urlencode(authorize_params(client_id))

    held = client.get(f"/authorize?{query}")

    assert held.status_code == 303
    path, params = location(held)
    assert path == PASSWORD_PAGE and params["next"] == f"/authorize?{query}"
    assert codes_issued(app) == 0
    done = set_new_password(client, next_path=params["next"])
    assert done.status_code == 303 and done.location == f"/authorize?{query}"
    answer = client.get(done.location)
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI)
    assert "code" in parse_qs(urlsplit(answer.location).query)
    assert codes_issued(app) == 1


def test_a_posted_authorization_request_is_held_and_resumed_as_a_get(app):
    client_id, _ = make_client(app, first_party=True, scope="openid")
    client, _ = logged_in(app, support.UPDATE_PASSWORD)
    held = client.post("/authorize", data=authorize_params(client_id))
    path, params = location(held)
    assert held.status_code == 303 and path == PASSWORD_PAGE
    target = urlsplit(params["next"])
    assert target.path == "/authorize"
    assert {k: v[0] for k, v in parse_qs(target.query).items()} == authorize_params(client_id)
    assert codes_issued(app) == 0


def test_prompt_none_gets_interaction_required_at_the_app(app):
    client_id, _ = make_client(app, first_party=True, scope="openid")
    client, _ = logged_in(app, support.CONFIGURE_TOTP)
    response = client.get("/authorize?" + urlencode(authorize_params(client_id,
                                                                     prompt="none")))
    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI)
    answer = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    assert answer["error"] == "interaction_required" and answer["state"] == "st-1"
    assert codes_issued(app) == 0


def test_prompt_none_with_an_unregistered_redirect_uri_is_never_redirected_there(app):
    client_id, _ = make_client(app, first_party=True, scope="openid")
    client, _ = logged_in(app, support.UPDATE_PASSWORD)
    params = authorize_params(client_id, prompt="none", redirect_uri="https://evil.example/")
    response = client.get("/authorize?" + urlencode(params))
    # Held like any page (the endpoint would refuse the URI with an error page anyway).
    assert response.status_code == 303 and location(response)[0] == PASSWORD_PAGE
    assert codes_issued(app) == 0
