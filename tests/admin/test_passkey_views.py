"""A customer's passkeys through the admin API: listed (in their own listing and in the
customer view) without any key, credential ID or user handle; removed one at a time with
If-Match, audited as the admin and told to the customer; every refusal a problem that
changes nothing. Passkeys are registered with the software authenticator, on an issuer
that can be a relying party (localhost). Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from app.auth import passkeys
from app.directory.customers import get_by_customer_id
from app.extensions import db, limiter
from app.identity import customer_ids
from app.models import AuditEvent, PasskeyCredential, utcnow
from tests.admin.helpers import admin_token, assert_problem, auth, read_customer
from tests.directory.helpers import database_state
from tests.factories import PASSKEY_ORIGIN, make_customer, make_passkey
from tests.helpers import read_outbox

AUDIT_HEADERS = {"X-Operator": "agent.smith", "X-Reason": "ticket 4711"}
FIELDS = {"id", "name", "created_at", "last_used_at", "synced", "backed_up", "aaguid",
          "transports"}


@pytest.fixture
def app(make_app):
    """The app on an issuer that can be a relying party (this module's own `app`)."""
    application = make_app(ISSUER=PASSKEY_ORIGIN)
    limiter.reset()
    return application


@pytest.fixture
def ada(app) -> dict:
    """Ada with a device-bound passkey ("Key") and a synced one ("Phone"), and Grace with
    one of her own: their customer IDs and passkey ids, and every value that must never
    leave the server."""
    with app.app_context():
        ada, grace = make_customer(), make_customer(email="grace@example.com")
        make_passkey(ada, name="Key")
        make_passkey(ada, synced=True, name="Phone")
        make_passkey(grace, name="Grace's key")
        rows = {p.name: p for p in db.session.scalars(select(PasskeyCredential))}
        secrets = [text for p in rows.values() for text in (
            p.credential_id, p.user_handle, base64.b64encode(p.public_key).decode(),
            base64.urlsafe_b64encode(p.public_key).decode().rstrip("="))]
        return {"id": ada.customer_id, "grace": grace.customer_id, "secrets": secrets,
                "key": rows["Key"].id, "phone": rows["Phone"].id,
                "graces": rows["Grace's key"].id}


def delete(app, token: str, customer_id: str, passkey_id, **headers):
    return app.test_client().delete(f"/admin/api/customers/{customer_id}/passkeys/{passkey_id}",
                                    headers=auth(token, **headers))


def names(app, customer_id: str) -> list[str]:
    with app.app_context():
        return [p.name for p in passkeys.passkeys_of(get_by_customer_id(customer_id))]


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)).all()
        db.session.expunge_all()
        return rows


def test_passkeys_are_listed_without_secrets(app, ada, reader):
    listing = app.test_client().get(f"/admin/api/customers/{ada['id']}/passkeys",
                                    headers=auth(reader))
    shown = app.test_client().get(f"/admin/api/customers/{ada['id']}", headers=auth(reader))
    view, etag = shown.json, shown.headers["ETag"]

    assert listing.status_code == 200, listing.text
    assert listing.headers["ETag"] == etag
    assert listing.json["customer_id"] == ada["id"] and "resolved_from" not in listing.json
    key, phone = listing.json["passkeys"]
    assert view["factors"]["passkeys"] == [key, phone]
    assert set(key) == FIELDS and set(phone) == FIELDS
    assert (key["id"], key["name"], key["synced"], key["backed_up"]) == (
        ada["key"], "Key", False, False)
    assert (phone["id"], phone["name"], phone["synced"], phone["backed_up"]) == (
        ada["phone"], "Phone", True, True)
    assert phone["transports"] == ["internal", "hybrid"] and phone["last_used_at"] is None
    assert phone["aaguid"] == "00000000-0000-4000-8000-00000000c0de"
    for secret in ada["secrets"]:
        assert secret not in listing.text and secret not in shown.text
    [viewed] = events(app, "admin.passkeys_viewed")
    assert viewed.customer_id == ada["id"]


def test_a_merged_id_lists_the_survivors_passkeys(app, ada, reader):
    with app.app_context():
        alias = make_customer(email="ada.old@example.com", password=None)
        alias.status, alias.merged_into_pk = "merged", get_by_customer_id(ada["id"]).id
        db.session.commit()
        alias_id = alias.customer_id
    response = app.test_client().get(f"/admin/api/customers/{alias_id}/passkeys",
                                     headers=auth(reader))
    assert response.status_code == 200, response.text
    assert response.json["customer_id"] == ada["id"]
    assert response.json["resolved_from"] == alias_id
    assert [p["name"] for p in response.json["passkeys"]] == ["Key", "Phone"]


@pytest.mark.parametrize("case, status, kind", [
    ("unknown", 404, "unknown-customer"),
    ("typo", 400, "invalid-customer-id"),
    ("erased", 409, "customer-erased"),
])
def test_listing_refusals_are_problems_and_audit_nothing(app, ada, reader, case, status,
                                                         kind):
    if case == "erased":
        with app.app_context():
            get_by_customer_id(ada["id"]).status = "erased"
            db.session.commit()
    path_id = {"unknown": customer_ids.generate(),
               "typo": ada["id"][:-1] + ("0" if ada["id"][-1] != "0" else "1")}.get(
        case, ada["id"])
    before = database_state(app)
    response = app.test_client().get(f"/admin/api/customers/{path_id}/passkeys",
                                     headers=auth(reader))
    assert_problem(response, status, kind)
    assert database_state(app) == before


def test_removing_a_passkey_is_audited_as_the_admin_and_told_to_the_customer(app, ada):
    token = admin_token(app, "admin:recovery")
    _, etag = read_customer(app, admin_token(app, "admin:read"), ada["id"])
    outbox = len(read_outbox(app))

    response = delete(app, token, ada["id"], ada["key"], **{"If-Match": etag},
                      **AUDIT_HEADERS)

    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json["factors"]["passkeys"]] == ["Phone"]
    assert response.headers["ETag"] != etag
    assert response.headers["ETag"] == read_customer(app, admin_token(app), ada["id"])[1]
    assert names(app, ada["id"]) == ["Phone"]
    assert names(app, ada["grace"]) == ["Grace's key"]
    [removed] = events(app, "passkey.removed")
    assert removed.customer_id == ada["id"]
    assert removed.actor.startswith("admin:") and removed.actor.endswith(":agent.smith")
    assert removed.details == {"passkey_id": ada["key"], "name": "Key"}
    [admin] = events(app, "admin.passkey_removed")
    assert admin.customer_id == ada["id"] and admin.details["client_id"]
    assert (admin.details["operator"], admin.details["reason"]) == ("agent.smith",
                                                                     "ticket 4711")
    assert (admin.details["passkey_id"], admin.details["synced"]) == (ada["key"], False)
    [notice] = read_outbox(app)[outbox:]
    assert (notice["to"], notice["subject"]) == ("ada@example.com",
                                                 "A passkey was removed from your account")
    assert "Key" in notice["body"]


@pytest.mark.parametrize("case, status, kind", [
    ("no_if_match", 428, "if-match-required"),
    ("blank_if_match", 428, "if-match-required"),
    ("stale_if_match", 412, "stale-etag"),
    ("graces_etag", 412, "stale-etag"),
    ("graces_passkey", 404, "unknown-passkey"),
    ("removed_passkey", 404, "unknown-passkey"),
    ("zero", 404, "unknown-passkey"),
    ("too_large", 404, "unknown-passkey"),
    ("not_a_number", 400, "invalid-passkey-id"),
    ("negative", 400, "invalid-passkey-id"),
    ("forty_digits", 400, "invalid-passkey-id"),
    ("unknown_customer", 404, "unknown-customer"),
    ("typo", 400, "invalid-customer-id"),
    ("erased", 409, "customer-erased"),
])
def test_refused_removals_change_nothing(app, ada, case, status, kind):
    token = admin_token(app, "admin:recovery")
    reader = admin_token(app, "admin:read")
    if case == "removed_passkey":
        assert delete(app, token, ada["id"], ada["key"], **{"If-Match": "*"}).status_code \
            == 200
    if case == "erased":
        with app.app_context():
            customer = get_by_customer_id(ada["id"])
            customer.status, customer.erased_at = "erased", utcnow()
            db.session.commit()
    etag = read_customer(app, reader, ada["id"])[1] if case != "erased" else "*"
    customer_id, passkey_id, headers = ada["id"], ada["key"], {"If-Match": etag}
    if case == "no_if_match":
        headers = {}
    elif case == "blank_if_match":
        headers = {"If-Match": "  "}
    elif case == "stale_if_match":
        headers = {"If-Match": etag.replace(".", ".9")}
    elif case == "graces_etag":
        headers = {"If-Match": read_customer(app, reader, ada["grace"])[1]}
    elif case == "graces_passkey":
        passkey_id = ada["graces"]
    passkey_id = {"zero": 0, "too_large": 2**31, "not_a_number": "abc", "negative": "-1",
                  "forty_digits": "9" * 40}.get(case, passkey_id)
    customer_id = {"unknown_customer": customer_ids.generate(),
                   "typo": ada["id"][:-1] + ("0" if ada["id"][-1] != "0" else "1")}.get(
        case, customer_id)
    before = database_state(app)
    outbox = len(read_outbox(app))

    assert_problem(delete(app, token, customer_id, passkey_id, **headers), status, kind)

    assert database_state(app) == before
    assert len(read_outbox(app)) == outbox
