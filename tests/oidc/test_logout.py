"""RP-initiated logout (/end-session) and back-channel logout, against a live Tessera.

Every test logs in through the hosted page and runs a real code flow first, so the ID
token hint, the session's tokens and the `sid` are the real thing.
"""
from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
import time_machine
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from app.extensions import db
from app.models import AuditEvent, IssuedToken, LoginSession
from app.oidc.logout import BACKCHANNEL_EVENT
from tests.helpers import csrf_token
from tests.oidc.helpers import REDIRECT_URI, follow_to_client, logged_in_browser, make_client
from tests.postgres import free_port

LOGGED_OUT_URI = "https://rp.example/logged-out"
SESSION_COOKIE = "tessera_session"


# ---- helpers -----------------------------------------------------------------------------

def sign_in(app, base_url: str, scope: str = "openid profile", **client_options) -> dict:
    """Log in at the hosted page and run the code flow; return what the test needs."""
    app.config["ISSUER"] = base_url
    client_id, secret = make_client(app, first_party=True, scope=scope,
                                    post_logout_redirect_uris=[LOGGED_OUT_URI],
                                    **client_options)
    browser = logged_in_browser(app, base_url)
    rp = OAuth2Session(client_id, secret, scope=scope, redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(f"{base_url}/authorize", code_verifier=verifier,
                                         nonce=generate_token(16))
    answer = follow_to_client(browser, url)
    token = rp.fetch_token(f"{base_url}/token", code=answer["code"], code_verifier=verifier)
    return {"browser": browser, "client_id": client_id, "secret": secret, "token": token,
            "cookie": browser.cookies.get(SESSION_COOKIE)}


def end_session(base_url: str, browser: requests.Session, **params) -> requests.Response:
    return browser.get(f"{base_url}/end-session", params=params, timeout=10,
                       allow_redirects=False)


def cookie_opens_account(base_url: str, cookie: str) -> bool:
    """Whether a session cookie still opens the account page (a fresh client, no jar)."""
    response = requests.get(f"{base_url}/account", cookies={SESSION_COOKIE: cookie},
                            timeout=10, allow_redirects=False)
    return response.status_code == 200


def refresh(base_url: str, signed_in: dict) -> requests.Response:
    return requests.post(f"{base_url}/token", timeout=10,
                         auth=(signed_in["client_id"], signed_in["secret"]),
                         data={"grant_type": "refresh_token",
                               "refresh_token": signed_in["token"]["refresh_token"]})


def userinfo(base_url: str, access_token: str) -> requests.Response:
    return requests.get(f"{base_url}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"})


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class BackchannelReceiver:
    """A relying party's back-channel logout endpoint on 127.0.0.1: records each POST."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                received.append({"content_type": self.headers.get("Content-Type"),
                                 "form": parse_qs(self.rfile.read(length).decode())})
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bc"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# ---- RP-initiated logout -----------------------------------------------------------------

def test_valid_hint_logs_out_and_returns_to_the_app(app, live_server):
    signed_in = sign_in(app, live_server)
    assert cookie_opens_account(live_server, signed_in["cookie"])

    response = end_session(live_server, signed_in["browser"],
                           id_token_hint=signed_in["token"]["id_token"],
                           post_logout_redirect_uri=LOGGED_OUT_URI, state="af0ifjsldkj")

    assert response.status_code == 302
    assert response.headers["Location"] == f"{LOGGED_OUT_URI}?state=af0ifjsldkj"
    assert not cookie_opens_account(live_server, signed_in["cookie"])
    assert refresh(live_server, signed_in).status_code == 400
    assert userinfo(live_server, signed_in["token"]["access_token"]).status_code == 401
    with app.app_context():
        login_session = db.session.scalars(db.select(LoginSession)).one()
        assert login_session.ended_at is not None
        grants = db.session.scalars(db.select(IssuedToken)).all()
        assert grants and all(grant.revoked_at is not None for grant in grants)
        events = set(db.session.scalars(db.select(AuditEvent.event)))
        assert {"logout", "logout.tokens_revoked"} <= events


def test_client_id_alone_allows_a_registered_redirect(app, live_server):
    signed_in = sign_in(app, live_server)
    response = end_session(live_server, requests.Session(), client_id=signed_in["client_id"],
                           post_logout_redirect_uri=LOGGED_OUT_URI)
    # No session in this browser: nothing to confirm, straight back to the app.
    assert response.status_code == 302
    assert response.headers["Location"] == LOGGED_OUT_URI
    assert cookie_opens_account(live_server, signed_in["cookie"])


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/logged-out",
    LOGGED_OUT_URI + "/",
    LOGGED_OUT_URI + "?x=1",
    "https://rp.example/LOGGED-OUT",
])
def test_unregistered_post_logout_redirect_uri_is_refused(app, live_server, redirect_uri):
    signed_in = sign_in(app, live_server)
    response = end_session(live_server, signed_in["browser"],
                           id_token_hint=signed_in["token"]["id_token"],
                           post_logout_redirect_uri=redirect_uri, state="s")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not registered" in response.text
    assert cookie_opens_account(live_server, signed_in["cookie"])


def test_redirect_uri_without_a_client_is_refused(app, live_server):
    signed_in = sign_in(app, live_server)
    response = end_session(live_server, signed_in["browser"],
                           post_logout_redirect_uri=LOGGED_OUT_URI)
    assert response.status_code == 400 and "Location" not in response.headers
    assert cookie_opens_account(live_server, signed_in["cookie"])


def test_client_id_that_contradicts_the_hint_is_refused(app, live_server):
    signed_in = sign_in(app, live_server)
    other_id, _ = make_client(app, name="Other app", post_logout_redirect_uris=[LOGGED_OUT_URI])
    response = end_session(live_server, signed_in["browser"],
                           id_token_hint=signed_in["token"]["id_token"], client_id=other_id,
                           post_logout_redirect_uri=LOGGED_OUT_URI)
    assert response.status_code == 400 and "Location" not in response.headers
    assert cookie_opens_account(live_server, signed_in["cookie"])


def _forged(kind: str, claims: dict) -> str:
    if kind == "other RSA key":
        return jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048))
    if kind == "HS256":
        return jwt.encode({"alg": "HS256"}, claims, OctKey.generate_key(256),
                          algorithms=["HS256"])
    if kind == "alg none":
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    if kind == "tampered claims":
        return None  # built from the real token in the test
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["other RSA key", "HS256", "alg none", "tampered claims"])
def test_hint_not_signed_by_us_is_refused(app, live_server, kind):
    signed_in = sign_in(app, live_server)
    real = signed_in["token"]["id_token"]
    claims = claims_of(real)
    if kind == "tampered claims":
        header, _, signature = real.split(".")
        hint = f"{header}.{b64(claims | {'sub': 'SOMEONE-ELSE'})}.{signature}"
    else:
        hint = _forged(kind, claims)
    response = end_session(live_server, signed_in["browser"], id_token_hint=hint,
                           post_logout_redirect_uri=LOGGED_OUT_URI)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not an ID token issued here" in response.text
    assert cookie_opens_account(live_server, signed_in["cookie"])


def test_access_token_is_not_an_id_token_hint(app, live_server):
    signed_in = sign_in(app, live_server)
    response = end_session(live_server, signed_in["browser"],
                           id_token_hint=signed_in["token"]["access_token"])
    assert response.status_code == 400
    assert cookie_opens_account(live_server, signed_in["cookie"])


def test_expired_hint_is_accepted(app, live_server):
    signed_in = sign_in(app, live_server)
    hint = signed_in["token"]["id_token"]
    later = datetime.now(UTC) + timedelta(seconds=int(app.config["ID_TOKEN_SECONDS"]) + 300)
    with time_machine.travel(later, tick=True):
        assert claims_of(hint)["exp"] < datetime.now(UTC).timestamp()
        response = end_session(live_server, signed_in["browser"], id_token_hint=hint,
                               post_logout_redirect_uri=LOGGED_OUT_URI, state="late")
        assert response.status_code == 302
        assert response.headers["Location"] == f"{LOGGED_OUT_URI}?state=late"
        assert not cookie_opens_account(live_server, signed_in["cookie"])


def test_without_a_hint_the_customer_is_asked_first(app, live_server):
    signed_in = sign_in(app, live_server)
    browser = signed_in["browser"]
    page = end_session(live_server, browser, client_id=signed_in["client_id"],
                       post_logout_redirect_uri=LOGGED_OUT_URI, state="st")
    assert page.status_code == 200
    assert "Log out of Tessera?" in page.text
    assert cookie_opens_account(live_server, signed_in["cookie"])

    # A cross-site POST of the form without our CSRF token changes nothing.
    forged = browser.post(f"{live_server}/end-session", timeout=10, allow_redirects=False,
                          data={"csrf_token": "forged", "client_id": signed_in["client_id"],
                                "post_logout_redirect_uri": LOGGED_OUT_URI})
    assert forged.status_code == 400
    assert cookie_opens_account(live_server, signed_in["cookie"])

    # The hidden fields are checked again: a swapped redirect URI is refused.
    token = csrf_token(page.text)
    swapped = browser.post(f"{live_server}/end-session", timeout=10, allow_redirects=False,
                           data={"csrf_token": token, "client_id": signed_in["client_id"],
                                 "post_logout_redirect_uri": "https://evil.example/"})
    assert swapped.status_code == 400 and "Location" not in swapped.headers
    assert cookie_opens_account(live_server, signed_in["cookie"])

    confirmed = browser.post(f"{live_server}/end-session", timeout=10, allow_redirects=False,
                             data={"csrf_token": token, "client_id": signed_in["client_id"],
                                   "post_logout_redirect_uri": LOGGED_OUT_URI, "state": "st"})
    assert confirmed.status_code == 302
    assert confirmed.headers["Location"] == f"{LOGGED_OUT_URI}?state=st"
    assert not cookie_opens_account(live_server, signed_in["cookie"])


def test_no_hint_and_no_redirect_shows_the_logged_out_page(app, live_server):
    signed_in = sign_in(app, live_server)
    browser = signed_in["browser"]
    page = end_session(live_server, browser)
    assert "Log out of Tessera?" in page.text
    done = browser.post(f"{live_server}/end-session", timeout=10, allow_redirects=False,
                        data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200
    assert "You have logged out" in done.text
    assert browser.cookies.get(SESSION_COOKIE) is None
    assert not cookie_opens_account(live_server, signed_in["cookie"])


def test_hint_for_another_customer_asks_first(app, live_server):
    first = sign_in(app, live_server)
    second = logged_in_browser(app, live_server, email="grace@example.com")
    page = end_session(live_server, second, id_token_hint=first["token"]["id_token"],
                       post_logout_redirect_uri=LOGGED_OUT_URI)
    assert page.status_code == 200 and "Log out of Tessera?" in page.text
    assert cookie_opens_account(live_server, second.cookies.get(SESSION_COOKIE))


def test_offline_access_tokens_survive_logout(app, live_server):
    signed_in = sign_in(app, live_server, scope="openid offline_access")
    assert "offline_access" in signed_in["token"]["scope"].split()
    response = end_session(live_server, signed_in["browser"],
                           id_token_hint=signed_in["token"]["id_token"])
    assert response.status_code == 200 and "You have logged out" in response.text
    assert not cookie_opens_account(live_server, signed_in["cookie"])
    assert refresh(live_server, signed_in).status_code == 200


# ---- back-channel logout -----------------------------------------------------------------

def _verify_logout_token(base_url: str, logout_token: str) -> jwt.Token:
    key_set = KeySet.import_key_set(requests.get(f"{base_url}/jwks.json", timeout=10).json())
    return jwt.decode(logout_token, key_set, algorithms=["RS256"])


def test_back_channel_logout_token_reaches_the_client(app, live_server):
    with BackchannelReceiver() as receiver:
        signed_in = sign_in(app, live_server, backchannel_logout_uri=receiver.url)
        response = end_session(live_server, signed_in["browser"],
                               id_token_hint=signed_in["token"]["id_token"],
                               post_logout_redirect_uri=LOGGED_OUT_URI)
        assert response.status_code == 302

    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert body["content_type"] == "application/x-www-form-urlencoded"
    [logout_token] = body["form"]["logout_token"]
    decoded = _verify_logout_token(live_server, logout_token)
    id_claims = claims_of(signed_in["token"]["id_token"])
    assert decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    assert claims["iss"] == live_server
    assert claims["aud"] == signed_in["client_id"]
    assert claims["sid"] == id_claims["sid"]
    assert claims["sub"] == id_claims["sub"]
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert "nonce" not in claims
    assert claims["jti"] and claims["exp"] - claims["iat"] == 120


def test_hosted_logout_page_also_notifies_the_client(app, live_server):
    with BackchannelReceiver() as receiver:
        signed_in = sign_in(app, live_server, backchannel_logout_uri=receiver.url)
        browser = signed_in["browser"]
        account = browser.get(f"{live_server}/account", timeout=10)
        response = browser.post(f"{live_server}/logout", timeout=10, allow_redirects=False,
                                data={"csrf_token": csrf_token(account.text)})
        assert response.status_code == 303

    [body] = receiver.bodies
    claims = _verify_logout_token(live_server, body["form"]["logout_token"][0]).claims
    assert claims["sid"] == claims_of(signed_in["token"]["id_token"])["sid"]
    assert not cookie_opens_account(live_server, signed_in["cookie"])
    assert refresh(live_server, signed_in).status_code == 400


def test_dead_back_channel_endpoint_does_not_break_logout(app, live_server):
    dead = f"http://127.0.0.1:{free_port()}/bc"
    signed_in = sign_in(app, live_server, backchannel_logout_uri=dead)
    response = end_session(live_server, signed_in["browser"],
                           id_token_hint=signed_in["token"]["id_token"],
                           post_logout_redirect_uri=LOGGED_OUT_URI)
    assert response.status_code == 302
    assert response.headers["Location"] == LOGGED_OUT_URI
    assert not cookie_opens_account(live_server, signed_in["cookie"])
    with app.app_context():
        failed = db.session.scalars(db.select(AuditEvent).where(
            AuditEvent.event == "logout.backchannel_failed")).one()
        assert failed.details["client_id"] == signed_in["client_id"]


# ---- back-channel logout from every path that ends a customer's sessions -------------------
# Services are called directly (or the admin API through the test client); the logout
# tokens go to a real receiver on 127.0.0.1 when the app context or request ends.

def customer_with_two_sessions(app, backchannel_uri: str) -> dict:
    """A customer logged in twice, each session with a token of a client that registered
    `backchannel_uri`; the first also with one of a client that registered none."""
    from app.auth.sessions import start_session
    from app.oidc import tokens
    from app.oidc.clients import get_client
    from tests.factories import TEST_ORIGIN, make_customer
    client_id, _ = make_client(app, first_party=True, backchannel_logout_uri=backchannel_uri)
    quiet_id, _ = make_client(app, name="No back-channel", first_party=True)
    with app.app_context():
        customer = make_customer()
        for _ in range(2):
            start_session(customer, ["pwd"], "urn:tessera:acr:pwd", TEST_ORIGIN)
        db.session.flush()
        sessions = db.session.scalars(db.select(LoginSession).where(
            LoginSession.customer_pk == customer.id).order_by(LoginSession.id)).all()
        for login_session in sessions:
            tokens.issue(get_client(client_id), "authorization_code", "openid",
                         customer=customer, include_refresh_token=True,
                         login_session=login_session)
        tokens.issue(get_client(quiet_id), "authorization_code", "openid",
                     customer=customer, include_refresh_token=False, login_session=sessions[0])
        db.session.commit()
        return {"customer_pk": customer.id, "customer_id": customer.customer_id,
                "client_id": client_id,
                "sids": {tokens.session_sid(s.id) for s in sessions}}


def _admin_sign_out_everywhere(app, setup):
    # Through the admin API: the tokens go when the request ends.
    from tests.admin.helpers import admin_token, auth
    token = admin_token(app, "admin:recovery")
    response = app.test_client().post(
        f"/admin/api/customers/{setup['customer_id']}/sessions/revoke", headers=auth(token))
    assert response.status_code == 200, response.text


def _lock(customer):
    from app.auth import support
    from tests.factories import TEST_ORIGIN
    support.lock(customer, "takeover suspected", TEST_ORIGIN)
    db.session.commit()


def _password_recovery(customer):
    # The customer's own "forgot password": the texted code is proved, a new one is set.
    from app.auth import flow as login_flow, recovery
    from app.auth.levels import AMR_SMS
    from tests.factories import TEST_ORIGIN
    flow = login_flow.begin(TEST_ORIGIN).flow
    flow.purpose, flow.customer, flow.factors = "recovery", customer, [AMR_SMS]
    db.session.commit()
    recovery.set_new_password(flow, "a-brand-new-passphrase-42", TEST_ORIGIN)
    db.session.commit()  # the request's commit (the recovery page commits once)


def _erasure(customer):
    from app.directory.erasure import erase
    from tests.factories import TEST_ORIGIN
    erase(customer, TEST_ORIGIN, reason="customer asked")
    db.session.commit()


def _merge_into_another(customer):
    from app.directory.customer_merge import merge
    from tests.factories import TEST_ORIGIN, make_customer
    merge(make_customer(email="grace@example.com"), customer, TEST_ORIGIN)
    db.session.commit()


def _by_service(service):
    """Call a service in an app context (the tokens go when the context ends)."""
    def end_sessions(app, setup):
        from app.models import Customer
        with app.app_context():
            service(db.session.get(Customer, setup["customer_pk"]))
    return end_sessions


@pytest.mark.parametrize("end_sessions", [
    _admin_sign_out_everywhere, _by_service(_lock), _by_service(_password_recovery),
    _by_service(_erasure), _by_service(_merge_into_another)],
    ids=["admin-sign-out-everywhere", "lock", "password-recovery", "erasure", "merge"])
def test_every_forced_sign_out_notifies_the_apps(app, end_sessions):
    from app.oidc import keys
    with BackchannelReceiver() as receiver:
        setup = customer_with_two_sessions(app, receiver.url)
        end_sessions(app, setup)
    with app.app_context():
        key_set = KeySet.import_key_set(keys.jwks())
    # One token per ended session, to the client that registered a URI; none to the other.
    assert len(receiver.bodies) == 2
    sids = set()
    for body in receiver.bodies:
        assert body["content_type"] == "application/x-www-form-urlencoded"
        decoded = jwt.decode(body["form"]["logout_token"][0], key_set, algorithms=["RS256"])
        claims = decoded.claims
        assert decoded.header["typ"] == "logout+jwt"
        assert claims["iss"] == app.config["ISSUER"] and claims["aud"] == setup["client_id"]
        assert claims["sub"] == setup["customer_id"]
        assert claims["events"] == {BACKCHANNEL_EVENT: {}} and "nonce" not in claims
        sids.add(claims["sid"])
    assert sids == setup["sids"]


def test_a_sign_out_that_rolls_back_notifies_nobody(app):
    from app.auth import support
    from app.models import Customer
    from tests.factories import TEST_ORIGIN
    with BackchannelReceiver() as receiver:
        setup = customer_with_two_sessions(app, receiver.url)
        with app.app_context():
            customer = db.session.get(Customer, setup["customer_pk"])
            with db.session.begin_nested():  # a released savepoint: still not committed
                support.revoke_everything(customer, TEST_ORIGIN)
            db.session.rollback()
            assert db.session.scalar(db.select(db.func.count()).select_from(LoginSession)
                                     .where(LoginSession.ended_at.is_(None))) == 2
    assert receiver.bodies == []


def test_an_unreachable_app_is_audited_once_per_sign_out(app):
    from app.auth import support
    from app.models import Customer
    from tests.factories import TEST_ORIGIN
    setup = customer_with_two_sessions(app, f"http://127.0.0.1:{free_port()}/bc")
    with app.app_context():
        support.revoke_everything(db.session.get(Customer, setup["customer_pk"]), TEST_ORIGIN)
        db.session.commit()
    with app.app_context():
        failed = db.session.scalars(db.select(AuditEvent).where(
            AuditEvent.event == "logout.backchannel_failed")).one()
        assert failed.details["client_id"] == setup["client_id"]
        assert failed.customer_id == setup["customer_id"] and failed.actor == "system"
        assert db.session.scalar(db.select(db.func.count()).select_from(LoginSession)
                                 .where(LoginSession.ended_at.is_(None))) == 0
