"""POST /admin/api/customers/<id>/erasure: the customer's personal data is deleted, the
customer ID stays as a tombstone that is never issued again, every token and session dies,
and the audit events stay without personal data. End to end: tokens a relying party got
through a real code flow introspect inactive afterwards and the browser's session is dead.
Refusals change nothing."""
from __future__ import annotations

import json

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from sqlalchemy import select

from app.auth import passkeys
from app.directory import erasure
from app.directory.customers import create_customer, get_by_customer_id, link_account
from app.extensions import db
from app.identity import customer_ids
from app.models import (AuditEvent, AuthorizationCode, CommunicationConsent, Consent, Customer,
                        Identifier, IssuedToken, KnownDevice, LinkedAccount, LoginFlow,
                        LoginSession, PasskeyChallenge, PasskeyCredential, PasswordCredential,
                        PhoneBinding, PhoneEvent, RecoveryCode, RecoveryLink, TotpCredential,
                        VerificationCode, utcnow)
from app.platform.audit import Origin, record_event
from tests.admin.helpers import admin_token, assert_problem, auth, read_customer
from tests.directory.helpers import count, database_state, merge_via_api, post
from tests.factories import PASSKEY_ORIGIN, TEST_ORIGIN, make_customer, make_passkey
from tests.helpers import read_outbox
from tests.oidc.helpers import REDIRECT_URI, follow_to_client, logged_in_browser, make_client

EMAIL = "ada@example.com"
PHONE = "+447400123456"
USERNAME = "ada_l"
ACCOUNT = "B-1001"
PERSONAL_TABLES = (Identifier, LinkedAccount, PasswordCredential, TotpCredential,
                   RecoveryCode, PasskeyCredential, LoginSession, LoginFlow, VerificationCode,
                   PhoneBinding, KnownDevice, Consent, AuthorizationCode, RecoveryLink,
                   CommunicationConsent)


@pytest.fixture
def token(app):
    return admin_token(app, "admin:read admin:gdpr admin:write")


def erase_via_api(app, token: str, customer_id: str, body=None):
    _, etag = read_customer(app, token, customer_id)
    return post(app, f"/customers/{customer_id}/erasure", token, body, **{"If-Match": etag})


def find(app, token: str, query: str) -> list:
    response = app.test_client().get("/admin/api/customers", query_string={"q": query},
                                     headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json["items"]


def signed_in_with_tokens(app, base_url: str) -> dict:
    """A customer logged in through the hosted login page (the browser holds a real
    session cookie) who then signed in to a confidential relying party with the code flow,
    and has a phone, username, linked account and a communication consent."""
    app.config["ISSUER"] = base_url
    client_id, secret = make_client(app, name="Harbour", first_party=True,
                                    scope="openid profile email")
    browser = logged_in_browser(app, base_url, email=EMAIL)
    with app.app_context():
        from app.directory.communication_consents import record
        from app.directory.customers import add_identifier, normalize_identifier
        customer = db.session.scalars(select(Customer)).one()
        add_identifier(customer, normalize_identifier("phone", PHONE), TEST_ORIGIN,
                       verified=True)
        add_identifier(customer, normalize_identifier("username", USERNAME), TEST_ORIGIN,
                       verified=True)
        link_account(customer, "billing", ACCOUNT, TEST_ORIGIN)
        record(customer, "email", "marketing", True, "account", TEST_ORIGIN)
        db.session.add(Consent(customer_pk=customer.id, client_id=client_id, scopes=["openid"]))
        db.session.commit()
        customer_id = customer.customer_id
    rp = OAuth2Session(client_id, secret, scope="openid profile email",
                       redirect_uri=REDIRECT_URI, code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(f"{base_url}/authorize", code_verifier=verifier)
    code = follow_to_client(browser, url)["code"]
    tokens = rp.fetch_token(f"{base_url}/token", code=code, code_verifier=verifier)
    return {"browser": browser, "customer_id": customer_id, "tokens": tokens,
            "client": (client_id, secret)}


# ---- end to end -------------------------------------------------------------------------------

def test_erasure_end_to_end(app, live_server):
    signed_in = signed_in_with_tokens(app, live_server)
    token = admin_token(app, "admin:read admin:gdpr")  # issued by the live server's issuer
    customer_id, browser, issued = (signed_in["customer_id"], signed_in["browser"],
                                    signed_in["tokens"])
    resource_server = signed_in["client"]  # the token's own client may introspect it

    def introspect(value: str) -> dict:
        return requests.post(f"{live_server}/introspect", data={"token": value},
                             auth=resource_server, timeout=10).json()

    assert introspect(issued["access_token"])["active"] is True
    assert introspect(issued["refresh_token"])["active"] is True
    assert browser.get(f"{live_server}/account", timeout=10,
                       allow_redirects=False).status_code == 200

    response = erase_via_api(app, token, customer_id, {"reason": "asked by letter, ticket 77"})

    assert response.status_code == 200, response.text
    assert response.json["status"] == "erased" and response.json["customer_id"] == customer_id
    # Every token the relying party holds is dead, and so is the browser's session.
    assert introspect(issued["access_token"]) == {"active": False}
    assert introspect(issued["refresh_token"]) == {"active": False}
    assert requests.get(f"{live_server}/userinfo", timeout=10, headers={
        "Authorization": f"Bearer {issued['access_token']}"}).status_code == 401
    refreshed = requests.post(f"{live_server}/token", timeout=10, auth=signed_in["client"],
                              data={"grant_type": "refresh_token",
                                    "refresh_token": issued["refresh_token"]})
    assert refreshed.status_code == 400
    page = browser.get(f"{live_server}/account", timeout=10, allow_redirects=False)
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")
    # Nothing finds the person any more; the ID shows the tombstone.
    for query in (EMAIL, PHONE, USERNAME, f"billing:{ACCOUNT}"):
        assert find(app, token, query) == [], query
    tombstone, _ = read_customer(app, token, customer_id)
    assert tombstone == {"customer_id": customer_id, "status": "erased",
                         "customer_id_display": response.json["customer_id_display"],
                         "erased_at": response.json["erased_at"]}
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        assert customer.status == "erased" and customer.erased_at is not None
        assert (customer.given_name, customer.family_name) == (None, None)
        assert customer.tokens_not_before is not None
        for model in PERSONAL_TABLES:
            assert count(model, model.customer_pk == customer.id) == 0, model
        assert count(PhoneEvent) == 0
        # Token rows stay (revoked): they hold no personal data and answer "inactive".
        assert count(IssuedToken, IssuedToken.customer_pk == customer.id) == 1
        assert count(IssuedToken, IssuedToken.customer_pk == customer.id,
                     IssuedToken.revoked_at.is_(None)) == 0
        assert_audit_rows_hold_nothing_personal(customer_id)
        erased = db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "customer.erased"))
        assert erased.customer_id == customer_id
        assert erased.details["reason"] == "asked by letter, ticket 77"
        assert erased.details["tokens_revoked"] == 1
    # Told at the address it had, after the erasure.
    [notice] = [m for m in read_outbox(app) if m.get("subject") == "Your account was deleted"]
    assert notice["to"] == EMAIL


def assert_audit_rows_hold_nothing_personal(customer_id: str) -> None:
    """The raw audit rows of the customer: no IP, user agent, email, phone, username or
    account number left, but the events themselves are still there."""
    rows = db.session.execute(select(AuditEvent.event, AuditEvent.ip, AuditEvent.user_agent,
                                     AuditEvent.actor, AuditEvent.details)
                              .where(AuditEvent.customer_id == customer_id)
                              .where(AuditEvent.event.not_like("admin.%"))).all()
    events = {row.event for row in rows}
    assert {"customer.created", "identifier.added", "login.succeeded",
            "linked_account.added", "customer.erased"} <= events
    raw = json.dumps([list(row) for row in rows], default=str)
    for personal in (EMAIL, PHONE, PHONE[1:], USERNAME, ACCOUNT, "127.0.0.1", "pytest",
                     "python-requests"):
        assert personal not in raw, personal
    assert all(row.ip is None and row.user_agent is None for row in rows)
    kinds = [row.details.get("kind") for row in rows if row.event == "identifier.added"]
    assert sorted(kinds) == ["email", "phone", "username"]  # non-personal details stay


def test_erasure_deletes_passkeys_and_their_names_in_the_audit_log(make_app):
    """The customer row stays as the tombstone, so its passkeys (which would go with the
    row) are deleted one by one, and so are challenges still waiting for an answer."""
    app = make_app(ISSUER=PASSKEY_ORIGIN)
    token = admin_token(app, "admin:read admin:gdpr")
    with app.app_context():
        customer = make_customer()
        other = make_customer(email="grace@example.com")
        make_passkey(customer, name="Ada's phone")
        make_passkey(customer, synced=True, name="Work laptop")
        make_passkey(other, name="Grace's key")
        # A registration begun and never finished: a challenge holding the user handle.
        session = db.session.scalars(select(LoginSession).where(
            LoginSession.customer_pk == customer.id)).first()
        passkeys.registration_options(customer, session.id)
        db.session.commit()
        customer_id, pk = customer.customer_id, customer.id
        assert count(PasskeyChallenge, PasskeyChallenge.login_session_pk == session.id,
                     PasskeyChallenge.used_at.is_(None)) == 1

    assert erase_via_api(app, token, customer_id).status_code == 200

    with app.app_context():
        assert count(PasskeyCredential, PasskeyCredential.customer_pk == pk) == 0
        assert [p.name for p in db.session.scalars(select(PasskeyCredential))] == [
            "Grace's key"]
        assert count(PasskeyChallenge, PasskeyChallenge.user_handle.is_not(None),
                     PasskeyChallenge.used_at.is_(None)) == 0
        added = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "passkey.added", AuditEvent.customer_id == customer_id)).all()
        assert len(added) == 2
        assert all("name" not in e.details and e.details["erased"] == ["name"] for e in added)


# ---- the tombstone ---------------------------------------------------------------------------

def test_an_erased_customer_id_is_never_issued_again(app, token, monkeypatch):
    with app.app_context():
        erased_id = make_customer().customer_id
    assert erase_via_api(app, token, erased_id).status_code == 200
    fresh_id = customer_ids.generate()
    drawn = iter([erased_id, fresh_id])
    monkeypatch.setattr(customer_ids, "generate", lambda: next(drawn))
    with app.app_context():
        customer = create_customer(TEST_ORIGIN, "Grace", "Hopper")
        db.session.commit()
        assert customer.customer_id == fresh_id
        assert get_by_customer_id(erased_id).status == "erased"


def test_erasing_a_survivor_leaves_its_aliases_pointing_at_the_tombstone(app, token):
    with app.app_context():
        survivor_id = make_customer(email="ada@example.com").customer_id
        absorbed_id = make_customer(email="ada.work@example.com", phone=PHONE).customer_id
    assert merge_via_api(app, token, survivor_id, absorbed_id).status_code == 200

    assert erase_via_api(app, token, survivor_id).status_code == 200

    view, _ = read_customer(app, token, absorbed_id)
    assert view["status"] == "erased" and view["customer_id"] == survivor_id
    assert view["resolved_from"] == absorbed_id
    with app.app_context():
        absorbed = get_by_customer_id(absorbed_id)
        assert absorbed.status == "merged"
        assert absorbed.merged_into_pk == get_by_customer_id(survivor_id).id
        for model in PERSONAL_TABLES:
            assert count(model, model.customer_pk == absorbed.id) == 0, model
        raw = json.dumps([list(row) for row in db.session.execute(
            select(AuditEvent.ip, AuditEvent.details)
            .where(AuditEvent.customer_id == absorbed_id)).all()], default=str)
        assert "ada.work@example.com" not in raw and PHONE not in raw
        assert "127.0.0.1" not in raw
    # An erased customer's ID still finds the tombstone, by either ID.
    assert find(app, token, absorbed_id)[0]["status"] == "erased"


# ---- the audit rule ----------------------------------------------------------------------------

def test_audit_details_keep_what_is_not_personal(app, token):
    with app.app_context():
        customer = make_customer(given_name="Augusta", family_name="King")
        origin = Origin(actor="admin:support-tool:agent.smith", ip="203.0.113.9",
                        user_agent="SupportTool/2")
        record_event("admin.customer_locked", origin, customer.customer_id,
                     reason="Augusta King called from +44 7400 123456 about ada@example.com",
                     operator="agent.smith", factor="pwd", count=3, verified=True,
                     scopes=["openid", "email"], destination="ada@example.com",
                     nested={"phone_hint": "56", "purpose": "login",
                             "note": "seen at 198.51.100.7"},
                     when="2030-01-07T09:00:00+00:00")
        db.session.commit()
        customer_id = customer.customer_id
    assert erase_via_api(app, token, customer_id).status_code == 200
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.event == "admin.customer_locked"))
        assert (event.ip, event.user_agent) == (None, None)
        assert event.actor == "admin:support-tool:agent.smith"
        assert event.details == {
            "reason": erasure.ERASED, "operator": "agent.smith", "factor": "pwd", "count": 3,
            "verified": True, "scopes": ["openid", "email"],
            "nested": {"purpose": "login", "note": erasure.ERASED},
            "when": "2030-01-07T09:00:00+00:00", "erased": ["destination"]}


# ---- refusals change nothing ---------------------------------------------------------------------

@pytest.mark.parametrize("case, status, kind", [
    ("no_if_match", 428, "if-match-required"),
    ("stale_if_match", 412, "stale-etag"),
    ("already_erased", 409, "customer-erased"),
    ("reason_too_long", 400, "invalid-body"),
    ("reason_not_a_string", 400, "invalid-body"),
    ("reason_null", 400, "invalid-body"),
    ("unknown_field", 400, "invalid-body"),
    ("not_an_object", 400, "invalid-body"),
    ("unknown_customer", 404, "unknown-customer"),
    ("typo", 400, "invalid-customer-id"),
])
def test_refusals_change_nothing(app, token, case, status, kind):
    with app.app_context():
        customer_id = make_customer().customer_id
        gone = make_customer(email="grace@example.com")
        gone.status = "erased"
        db.session.commit()
        gone_id = gone.customer_id
    _, etag = read_customer(app, token, customer_id)
    path_id, body, headers = customer_id, None, {"If-Match": etag}
    if case == "no_if_match":
        headers = {}
    elif case == "stale_if_match":
        headers = {"If-Match": etag.replace(".", ".9")}
    elif case == "already_erased":
        path_id, headers = gone_id, {"If-Match": "*"}
    elif case == "reason_too_long":
        body = {"reason": "x" * 201}
    elif case == "reason_not_a_string":
        body = {"reason": 5}
    elif case == "reason_null":
        body = {"reason": None}
    elif case == "unknown_field":
        body = {"why": "asked"}
    elif case == "not_an_object":
        body = ["asked"]
    elif case == "unknown_customer":
        path_id = customer_ids.generate()
    elif case == "typo":
        path_id = customer_id[:-1] + ("0" if customer_id[-1] != "0" else "1")
    before = database_state(app)

    response = post(app, f"/customers/{path_id}/erasure", token, body, **headers)

    assert_problem(response, status, kind)
    assert database_state(app) == before
    assert [m for m in read_outbox(app) if m.get("subject") == "Your account was deleted"] == []


def test_erasure_needs_the_gdpr_scope(app):
    with app.app_context():
        customer_id = make_customer().customer_id
    writer = admin_token(app, "admin:read admin:write admin:recovery")
    before = database_state(app)
    response = post(app, f"/customers/{customer_id}/erasure", writer, None,
                    **{"If-Match": "*"})
    assert_problem(response, 403)
    assert database_state(app) == before


def test_a_body_of_another_type_is_415(app, token):
    with app.app_context():
        customer_id = make_customer().customer_id
    _, etag = read_customer(app, token, customer_id)
    response = app.test_client().post(f"/admin/api/customers/{customer_id}/erasure",
                                      data="reason=asked", headers=auth(token, **{
                                          "If-Match": etag,
                                          "Content-Type": "text/plain"}))
    assert_problem(response, 415)
    with app.app_context():
        assert get_by_customer_id(customer_id).status == "active"


def test_the_service_refuses_an_erased_or_merged_customer(app):
    with app.app_context():
        customer = make_customer()
        erasure.erase(customer, TEST_ORIGIN)
        db.session.commit()
        with pytest.raises(erasure.ErasureError, match="already erased"):
            erasure.erase(customer, TEST_ORIGIN)
        db.session.rollback()
        alias = make_customer(email="grace@example.com")
        alias.status = "merged"
        db.session.commit()
        with pytest.raises(erasure.ErasureError, match="merged"):
            erasure.erase(alias, TEST_ORIGIN)
        assert count(AuditEvent, AuditEvent.event == "customer.erased") == 1
        assert utcnow() >= customer.erased_at
