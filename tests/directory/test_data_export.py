"""GET /admin/api/customers/<id>/export: everything held about a customer as one versioned
JSON download that matches the OpenAPI document, with no secret in it (no password hash,
sealed TOTP secret, recovery code hash, session, device or token hash), audited; an
erased customer has nothing to export."""
from __future__ import annotations

from datetime import UTC, datetime

import jsonschema_rs
import pyotp
import pytest
import time_machine
from sqlalchemy import select

from app.admin.openapi import document
from app.admin.openapi.data_rights import EXPORT
from app.auth import devices, recovery_codes, totp
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.sessions import start_session
from app.directory import communication_consents
from app.directory.customers import get_by_customer_id, link_account
from app.extensions import db
from app.identity import customer_ids
from app.identity.customer_ids import format_for_people
from app.models import (AuditEvent, Consent, IssuedToken, KnownDevice, LoginSession,
                        PasskeyCredential, PasswordCredential, RecoveryCode, TotpCredential)
from app.platform.audit import Origin, record_event
from tests.admin.helpers import admin_token, assert_problem, auth
from tests.directory.helpers import database_state, issue_tokens, merge_via_api
from tests.factories import PASSKEY_ORIGIN, TEST_ORIGIN, make_customer, make_passkey
from tests.fakes import authenticator
from tests.oidc.helpers import make_client

PHONE = "+447400123456"
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
BROWSER = Origin(actor="customer", ip="198.51.100.23", user_agent="Firefox/140 on Linux")


def export(app, token: str, customer_id: str):
    return app.test_client().get(f"/admin/api/customers/{customer_id}/export",
                                 headers=auth(token))


def validate_against_document(body: dict) -> None:
    """The body matches the schema the OpenAPI document gives for the download."""
    schema = {**EXPORT, "components": document("http://x")["components"]}
    jsonschema_rs.validator_for(schema).validate(body)


@pytest.fixture
def token(app):
    return admin_token(app, "admin:read admin:gdpr admin:write")


@pytest.fixture
def ada(app):
    """A customer with something of everything, and the secrets we must never export."""
    rp, _ = make_client(app, name="Harbour Rewards", scope="openid")
    with time_machine.travel(START, tick=False), app.app_context():
        customer = make_customer(phone=PHONE, username="ada_l")
        link_account(customer, "billing", "B-1001", TEST_ORIGIN)
        secret = totp.begin_enrolment(customer).secret
        codes = totp.confirm_enrolment(customer, pyotp.TOTP(secret).now(), TEST_ORIGIN)
        db.session.commit()
        recovery_codes.use(customer, codes[0], TEST_ORIGIN)
        communication_consents.record(customer, "email", "marketing", True, "signup",
                                      TEST_ORIGIN)
        communication_consents.record(customer, "email", "marketing", False, "account",
                                      TEST_ORIGIN)
        session_token = start_session(customer, ["pwd", "otp"], ACR_SINGLE_FACTOR, BROWSER)
        devices.remember(customer, "device-cookie-value", BROWSER.user_agent)
        db.session.add(Consent(customer_pk=customer.id, client_id=rp, scopes=["openid"]))
        db.session.commit()
        customer_id, pk = customer.customer_id, customer.id
    issued = issue_tokens(app, rp, customer_id)
    with app.app_context():
        secrets = [db.session.get(PasswordCredential, pk).password_hash,
                   db.session.get(TotpCredential, pk).secret_sealed, secret,
                   session_token, issued["access_token"], issued["refresh_token"],
                   *codes,
                   *db.session.scalars(select(RecoveryCode.code_hash)
                                       .where(RecoveryCode.customer_pk == pk)),
                   *db.session.scalars(select(LoginSession.token_hash)),
                   *db.session.scalars(select(KnownDevice.token_hash)),
                   *db.session.scalars(select(IssuedToken.refresh_token_hash)
                                       .where(IssuedToken.refresh_token_hash.is_not(None)))]
    return {"customer_id": customer_id, "client_id": rp, "secrets": secrets}


def test_the_export_holds_everything_but_secrets(app, token, ada):
    response = export(app, token, ada["customer_id"])

    assert response.status_code == 200, response.text
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="tessera-data-{ada["customer_id"]}.json"')
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    validate_against_document(body)
    assert body["format"] == "tessera-export/1"
    assert body["customer"]["customer_id"] == ada["customer_id"]
    assert body["customer"]["customer_id_display"] == format_for_people(ada["customer_id"])
    assert (body["customer"]["given_name"], body["customer"]["family_name"]) == (
        "Ada", "Lovelace")
    assert {(i["kind"], i["value"]) for i in body["identifiers"]} == {
        ("email", "ada@example.com"), ("phone", PHONE), ("username", "ada_l")}
    assert all(i["verified_at"] for i in body["identifiers"])
    assert body["factors"]["password"]["set"] is True
    assert body["factors"]["totp"] == {"enrolled": True, "confirmed_at": START.isoformat()}
    assert body["factors"]["recovery_codes"] == {"total": 10, "unused": 9, "used": 1}
    [binding] = body["phone_bindings"]
    assert (binding["e164"], binding["status"], binding["number_type"], binding["region"]) \
        == (PHONE, "active", "mobile", "GB")
    assert [e["event"] for e in binding["events"]][:2] == ["bound", "verified"]
    [session] = body["sessions"]
    assert (session["ip"], session["user_agent"], session["amr"]) == (
        "198.51.100.23", "Firefox/140 on Linux", ["pwd", "otp"])
    assert [a["client_id"] for a in body["connected_apps"]] == [ada["client_id"]]
    assert [(c["client_id"], c["name"]) for c in body["app_consents"]] == [
        (ada["client_id"], "Harbour Rewards")]
    assert body["linked_accounts"][0] | {"created_at": None} == {
        "system": "billing", "account_number": "B-1001", "created_at": None}
    history = body["communication_consents"]
    assert [(c["granted"], c["source"]) for c in history] == [(True, "signup"),
                                                              (False, "account")]
    assert history[0]["wording_version"] == communication_consents.WORDINGS[
        ("email", "marketing")].version
    assert history[0]["wording"] == communication_consents.WORDINGS[
        ("email", "marketing")].text
    [device] = body["known_devices"]
    assert device["user_agent"] == "Firefox/140 on Linux"
    events = {e["event"] for e in body["audit_events"]}
    assert {"customer.created", "identifier.added", "totp.enrolled",
            "recovery_code.used", "communication_consent.given"} <= events
    # No secret of any kind, anywhere in the text.
    for secret in ada["secrets"]:
        assert secret not in response.text, secret
    assert "argon2" not in response.text and "token_hash" not in response.text
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "admin.data_exported")).all()
        assert event.customer_id == ada["customer_id"]


def test_the_export_of_a_survivor_includes_its_aliases_events(app, token, ada):
    with app.app_context():
        absorbed_id = make_customer(email="ada.work@example.com").customer_id
    assert merge_via_api(app, token, ada["customer_id"], absorbed_id).status_code == 200

    response = export(app, token, absorbed_id)  # the alias finds the survivor

    assert response.status_code == 200, response.text
    body = response.json
    validate_against_document(body)
    assert body["customer"]["customer_id"] == ada["customer_id"]
    assert body["customer"]["aliases"] == [absorbed_id]
    assert {e["customer_id"] for e in body["audit_events"]} == {ada["customer_id"],
                                                                absorbed_id}
    assert "ada.work@example.com" in {i["value"] for i in body["identifiers"]}


def test_the_export_lists_passkeys_but_never_their_keys(make_app):
    app = make_app(ISSUER=PASSKEY_ORIGIN)
    token = admin_token(app, "admin:gdpr")
    with app.app_context():
        customer = make_customer()
        with time_machine.travel(START, tick=False):
            make_passkey(customer, name="Security key")
        make_passkey(customer, synced=True, name="Phone")
        record_event("login.succeeded", BROWSER, customer.customer_id,
                     amr=["swk", "user", "mfa"], acr="urn:tessera:acr:phr")
        db.session.commit()
        rows = list(db.session.scalars(select(PasskeyCredential)))
        secrets = [text for p in rows for text in (p.credential_id, p.user_handle)]
        customer_id = customer.customer_id

    response = export(app, token, customer_id)

    assert response.status_code == 200, response.text
    validate_against_document(response.json)
    key, phone = response.json["factors"]["passkeys"]
    assert key == {"name": "Security key", "created_at": START.isoformat(),
                   "last_used_at": None, "synced": False, "aaguid": authenticator.AAGUID}
    assert (phone["name"], phone["synced"]) == ("Phone", True)
    for secret in secrets:
        assert secret not in response.text
    assert "public_key" not in response.text and "user_handle" not in response.text
    [login] = [e for e in response.json["audit_events"] if e["event"] == "login.succeeded"]
    assert login["description"] == "Logged in with a passkey"


def test_a_customer_with_little_data_exports_too(app, token):
    with app.app_context():
        customer_id = make_customer(email=None, phone=PHONE, password=None, given_name=None,
                                    family_name=None).customer_id
    response = export(app, token, customer_id)
    assert response.status_code == 200, response.text
    validate_against_document(response.json)
    assert response.json["factors"] == {
        "password": {"set": False, "changed_at": None},
        "totp": {"enrolled": False, "confirmed_at": None},
        "recovery_codes": {"total": 0, "unused": 0, "used": 0}, "passkeys": []}


@pytest.mark.parametrize("case, status, kind", [
    ("erased", 409, "customer-erased"),
    ("unknown", 404, "unknown-customer"),
    ("typo", 400, "invalid-customer-id"),
])
def test_refusals_are_problems_and_audit_nothing(app, token, case, status, kind):
    with app.app_context():
        customer = make_customer()
        if case == "erased":
            customer.status = "erased"
        db.session.commit()
        customer_id = customer.customer_id
    path_id = {"unknown": customer_ids.generate(),
               "typo": customer_id[:-1] + ("0" if customer_id[-1] != "0" else "1")}.get(
        case, customer_id)
    before = database_state(app)
    assert_problem(export(app, token, path_id), status, kind)
    assert database_state(app) == before


def test_export_needs_the_gdpr_scope(app, ada):
    reader = admin_token(app, "admin:read admin:write admin:recovery")
    assert_problem(export(app, reader, ada["customer_id"]), 403)
    with app.app_context():
        assert get_by_customer_id(ada["customer_id"]) is not None
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.event == "admin.data_exported")) is None
