"""Connected apps on the account page: listed after consent, revoked at once.

A real code flow comes first, so the revoked tokens are ones a relying party really holds.
"""
from __future__ import annotations

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from app.extensions import db
from app.models import AuditEvent, AuthorizationCode, Consent, Customer, IssuedToken
from tests.helpers import csrf_token
from tests.oidc.helpers import REDIRECT_URI, follow_to_client, logged_in_browser, make_client

APP_NAME = "Harbour Rewards"


def consent_and_sign_in(app, base_url: str) -> dict:
    """Log in, record the customer's consent to a third-party app, run the code flow.

    The consent row is written directly (the consent page has its own tests in
    tests/oidc/test_authorize.py); the authorization endpoint then finds it and issues a
    code without asking, which is the state the account page has to deal with.
    """
    app.config["ISSUER"] = base_url
    client_id, secret = make_client(app, name=APP_NAME, scope="openid profile email")
    browser = logged_in_browser(app, base_url)
    with app.app_context():
        customer = db.session.scalars(db.select(Customer)).one()
        db.session.add(Consent(customer_pk=customer.id, client_id=client_id,
                               scopes=["openid", "profile"]))
        db.session.commit()
    rp = OAuth2Session(client_id, secret, scope="openid profile", redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(f"{base_url}/authorize", code_verifier=verifier)
    code = follow_to_client(browser, url)["code"]
    token = rp.fetch_token(f"{base_url}/token", code=code, code_verifier=verifier)
    return {"browser": browser, "client_id": client_id, "secret": secret, "token": token}


def userinfo_status(base_url: str, access_token: str) -> int:
    return requests.get(f"{base_url}/userinfo", timeout=10,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def revoke_url(base_url: str, client_id: str) -> str:
    return f"{base_url}/account/apps/{client_id}/revoke"


def test_account_page_lists_the_app(app, live_server):
    signed_in = consent_and_sign_in(app, live_server)
    page = signed_in["browser"].get(f"{live_server}/account/sessions", timeout=10)
    assert "Connected apps" in page.text
    assert APP_NAME in page.text
    # What the app may see, in words (scopes are the app's business, not the customer's).
    assert "Who you are, Your name" in page.text and "openid" not in page.text
    assert f'action="/account/apps/{signed_in["client_id"]}/revoke"' in page.text


def test_revoke_stops_the_app_at_once(app, live_server):
    signed_in = consent_and_sign_in(app, live_server)
    browser, client_id = signed_in["browser"], signed_in["client_id"]
    assert userinfo_status(live_server, signed_in["token"]["access_token"]) == 200
    page = browser.get(f"{live_server}/account", timeout=10)

    response = browser.post(revoke_url(live_server, client_id), timeout=10,
                            allow_redirects=False, data={"csrf_token": csrf_token(page.text)})

    assert response.status_code == 303 and response.headers["Location"] == "/account/sessions"
    assert userinfo_status(live_server, signed_in["token"]["access_token"]) == 401
    refreshed = requests.post(f"{live_server}/token", timeout=10,
                              auth=(client_id, signed_in["secret"]),
                              data={"grant_type": "refresh_token",
                                    "refresh_token": signed_in["token"]["refresh_token"]})
    assert refreshed.status_code == 400
    after = browser.get(f"{live_server}/account/sessions", timeout=10)
    assert "can no longer use your account" in after.text
    assert APP_NAME not in after.text
    with app.app_context():
        consent = db.session.scalars(db.select(Consent)).one()
        assert consent.revoked_at is not None
        assert all(row.revoked_at is not None
                   for row in db.session.scalars(db.select(IssuedToken)))
        assert all(row.used_at is not None
                   for row in db.session.scalars(db.select(AuthorizationCode)))
        event = db.session.scalars(db.select(AuditEvent).where(
            AuditEvent.event == "consent.revoked")).one()
        assert event.details["client_id"] == client_id
    # The app must ask again: the consent page comes back.
    rp = OAuth2Session(client_id, signed_in["secret"], scope="openid",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256")
    url, _ = rp.create_authorization_url(f"{live_server}/authorize",
                                         code_verifier=generate_token(48))
    assert f"Allow {APP_NAME}?" in browser.get(url, timeout=10, allow_redirects=False).text


def test_revoke_without_csrf_changes_nothing(app, live_server):
    signed_in = consent_and_sign_in(app, live_server)
    browser, client_id = signed_in["browser"], signed_in["client_id"]
    for data in ({}, {"csrf_token": "forged"}):
        response = browser.post(revoke_url(live_server, client_id), timeout=10,
                                allow_redirects=False, data=data)
        assert response.status_code == 400
    assert userinfo_status(live_server, signed_in["token"]["access_token"]) == 200
    assert APP_NAME in browser.get(f"{live_server}/account/sessions", timeout=10).text
    with app.app_context():
        assert db.session.scalars(db.select(Consent)).one().revoked_at is None
        assert all(row.revoked_at is None for row in db.session.scalars(db.select(IssuedToken)))
        assert not db.session.scalars(db.select(AuditEvent).where(
            AuditEvent.event == "consent.revoked")).all()


def test_revoke_needs_login_and_touches_only_the_app_named(app, live_server):
    signed_in = consent_and_sign_in(app, live_server)
    anonymous = requests.Session()
    page = anonymous.get(f"{live_server}/login", timeout=10)
    response = anonymous.post(revoke_url(live_server, signed_in["client_id"]), timeout=10,
                              allow_redirects=False, data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")

    browser = signed_in["browser"]
    account = browser.get(f"{live_server}/account", timeout=10)
    other = browser.post(revoke_url(live_server, "no-such-app"), timeout=10,
                         allow_redirects=False, data={"csrf_token": csrf_token(account.text)})
    assert other.status_code == 303
    assert userinfo_status(live_server, signed_in["token"]["access_token"]) == 200
    with app.app_context():
        assert db.session.scalars(db.select(Consent)).one().revoked_at is None
