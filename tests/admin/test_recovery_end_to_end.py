"""Account recovery with support, end to end, through the real endpoints (Flask test
clients as the customer's browsers, the relying party and support's tool):

Ada has a password, an authenticator app and a phone. She is logged in, and an app holds
her access and refresh tokens. She loses her phone and forgets her password. Support
resets her second factor and emails her a recovery link; she opens it, sets a new
password, logs in with it, is made to set up a new authenticator app (with the secret the
page shows), and reaches her account page. Everything from before is dead: her old
browser session, the app's access token (introspection says inactive) and its refresh
token. The link works once; an expired link is refused. Runs on SQLite and PostgreSQL,
on a clock we move (time_machine), never with sleeps."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import time_machine

from app.auth import totp
from app.auth.login import check_password
from app.directory.customers import get_by_customer_id
from app.extensions import db
from tests.admin.helpers import admin_token, auth, read_customer
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, read_outbox
from tests.oidc.helpers import REDIRECT_URI, make_client

EMAIL = "ada@example.com"
PHONE = "+447400123456"
NEW_PASSWORD = "quartz-lantern-meadow-58"
LINK_RE = re.compile(r"https?://[^/\s]+(/recover/link/[A-Za-z0-9_-]+)")
SECRET_RE = re.compile(r'id="totp-secret">\s*([A-Z2-7 ]+?)\s*<')
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)  # a TOTP step boundary
STEP = timedelta(seconds=30)


def log_in(browser, password: str, totp_secret: str | None = None):
    """The hosted login pages: password, then the app's code if asked. Returns the last
    response (a redirect once logged in)."""
    page = browser.get("/login")
    response = browser.post("/login", data={"csrf_token": csrf_token(page.text),
                                            "identifier": EMAIL, "password": password})
    if response.status_code == 303 and response.location == "/login/second-factor":
        assert totp_secret, "a second factor was asked for"
        page = browser.get("/login/second-factor")
        response = browser.post("/login/second-factor/totp", data={
            "csrf_token": csrf_token(page.text), "code": pyotp.TOTP(totp_secret).now()})
    return response


def app_tokens(app, browser, client_id: str, secret: str) -> dict:
    """The code flow for a confidential first-party app, in the logged-in browser."""
    query = urlencode({"response_type": "code", "client_id": client_id,
                       "redirect_uri": REDIRECT_URI, "scope": "openid", "state": "s1"})
    answer = browser.get(f"/authorize?{query}")
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI)
    code = parse_qs(urlsplit(answer.location).query)["code"][0]
    response = app.test_client().post("/token", auth=(client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert response.status_code == 200, response.json
    return response.json


def introspect(app, resource_server, token: str) -> dict:
    return app.test_client().post("/introspect", data={"token": token},
                                  auth=resource_server).json


def refresh(app, client_id: str, secret: str, refresh_token: str):
    return app.test_client().post("/token", auth=(client_id, secret), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token})


def admin_post(app, token: str, path: str, body=None, etag: str | None = None):
    headers = auth(token, **{"X-Operator": "agent.smith", "X-Reason": "ticket 9001"})
    if etag:
        headers["If-Match"] = etag
    return app.test_client().post(f"/admin/api/customers/{path}", headers=headers,
                                  **({} if body is None else {"json": body}))


def test_support_recovers_an_account_after_a_lost_phone_and_password(app):
    rp_id, rp_secret = make_client(app, first_party=True, scope="openid")
    resource_server = (rp_id, rp_secret)  # the token's own client may introspect it
    with time_machine.travel(START, tick=False) as clock:
        support = admin_token(app, "admin:read admin:recovery")
        with app.app_context():
            customer = make_customer(email=EMAIL, phone=PHONE)
            old_secret = totp.begin_enrolment(customer).secret
            totp.confirm_enrolment(customer, pyotp.TOTP(old_secret).now(), TEST_ORIGIN)
            db.session.commit()
            customer_id = customer.customer_id
        clock.shift(STEP)

        # Ada is logged in, and an app holds her tokens.
        old_browser = app.test_client()
        assert log_in(old_browser, STRONG_PASSWORD, old_secret).status_code == 303
        assert old_browser.get("/account").status_code == 200
        old_tokens = app_tokens(app, old_browser, rp_id, rp_secret)
        assert introspect(app, resource_server, old_tokens["access_token"])["active"]

        # Support: reset the second factor, then email a recovery link.
        view, etag = read_customer(app, support, customer_id)
        assert view["factors"]["totp"] is True
        reset = admin_post(app, support, f"{customer_id}/mfa-reset", etag=etag)
        assert reset.status_code == 200, reset.text
        assert reset.json["required_actions"] == ["configure_totp"]
        email_id = next(i["id"] for i in reset.json["identifiers"] if i["kind"] == "email")
        issued = admin_post(app, support, f"{customer_id}/recovery-links",
                            {"channel": "email", "identifier_id": email_id},
                            etag=reset.headers["ETag"])
        assert issued.status_code == 201, issued.text
        [mail] = [m for m in read_outbox(app) if m["to"] == EMAIL and m.get("subject") ==
                  "Set a new password for your account"]
        link = LINK_RE.search(mail["body"]).group(1)

        # Everything from before is dead already.
        assert old_browser.get("/account").location.startswith("/login")
        assert introspect(app, resource_server, old_tokens["access_token"]) == {
            "active": False}
        assert introspect(app, resource_server, old_tokens["refresh_token"]) == {
            "active": False}
        assert refresh(app, rp_id, rp_secret, old_tokens["refresh_token"]).json["error"] \
            == "invalid_grant"

        # Ada, on a new device, opens the link and sets a new password.
        browser = app.test_client()
        page = browser.get(link, follow_redirects=True)  # the token moves to a cookie
        assert page.status_code == 200
        done = browser.post("/recover/link", data={"csrf_token": csrf_token(page.text),
                                                   "password": NEW_PASSWORD})
        assert done.status_code == 303 and done.location == "/login"
        assert browser.get("/account").location.startswith("/login")  # not logged in

        # The old password no longer works; the new one does, without the lost app.
        assert log_in(browser, STRONG_PASSWORD).status_code == 401
        clock.shift(STEP)
        logged_in = log_in(browser, NEW_PASSWORD)
        assert logged_in.status_code == 303 and logged_in.location == "/account"

        # She must set up a new authenticator app before anything else.
        held = browser.get("/account")
        assert held.status_code == 303
        assert urlsplit(held.location).path == "/account/required/totp"
        onward = browser.get(held.location)
        assert onward.status_code == 303 and onward.location == "/account/security/totp"
        enrol = browser.get("/account/security/totp")
        assert enrol.status_code == 200
        new_secret = SECRET_RE.search(enrol.text).group(1).replace(" ", "")
        assert new_secret != old_secret
        confirmed = browser.post("/account/security/totp", data={
            "csrf_token": csrf_token(enrol.text), "code": pyotp.TOTP(new_secret).now()})
        assert confirmed.status_code == 200 and "recovery codes" in confirmed.text

        account = browser.get("/account", follow_redirects=True)
        assert account.status_code == 200 and "Your account" in account.text
        assert account.request.path == "/account"

        view, _ = read_customer(app, support, customer_id)
        assert view["required_actions"] == [] and view["factors"]["totp"] is True
        assert view["factors"]["recovery_codes_remaining"] == 10

        # The old session, tokens and link stay dead.
        assert old_browser.get("/account").location.startswith("/login")
        assert refresh(app, rp_id, rp_secret, old_tokens["refresh_token"]).status_code == 400
        again = browser.get(link)
        assert again.status_code == 400 and "This link cannot be used" in again.text

        # A link not used in time is refused.
        handover = admin_post(app, support, f"{customer_id}/recovery-links",
                              {"channel": "handover"})
        assert handover.status_code == 201
        late_link = urlsplit(handover.json["recovery_link"]["url"]).path
        late_browser = app.test_client()
        late_page = late_browser.get(late_link, follow_redirects=True)
        assert late_page.status_code == 200
        clock.shift(timedelta(seconds=int(app.config["RECOVERY_LINK_SECONDS"]) + 1))
        late = late_browser.post("/recover/link", data={
            "csrf_token": csrf_token(late_page.text), "password": "yet-another-passphrase-31"})
        assert late.status_code == 400 and "This link cannot be used" in late.text
    with app.app_context():
        assert check_password(EMAIL, NEW_PASSWORD, TEST_ORIGIN).customer_id == customer_id
        assert get_by_customer_id(customer_id).required_actions == []
        db.session.rollback()
