"""Admin API: a customer's passkeys (app/auth/passkeys.py).

    GET    /customers/<id>/passkeys               (admin:read)      the passkeys, no keys
    DELETE /customers/<id>/passkeys/<passkey_id>  (admin:recovery)  remove one, If-Match
                                                                    required

Support sees what it may talk about with the customer (name, when added and last used,
synced or bound to one device, the authenticator model and transports), never the public
key, credential ID or user handle (app/admin/customer_view.py, passkey_view).

Removing one is for a passkey the customer lost (a stolen phone, a security key left
behind). Unlike support's other recovery actions it takes If-Match (428 without, 412 when
stale): it names one passkey of the list support read. The service audits
"passkey.removed" with the admin client and operator as actor and tells the customer by
email after the commit; the admin call is audited as "admin.passkey_removed" with the
reason. An unknown passkey, or another customer's, is 404 and changes nothing. Removing
every passkey with the other second factors is the MFA reset (app/admin/recovery_views.py).
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.admin.auth import admin_required
from app.admin.customer_view import customer_view, passkey_view
from app.admin.requests import (ApiProblem, PathCustomer, audit, claim_version, path_customer,
                                with_etag, writable_customer)
from app.auth import passkeys
from app.extensions import db
from app.models import Customer, PasskeyCredential

bp = Blueprint("passkeys", __name__)  # nested in admin_api: app/admin/blueprint.py

#: Database ids are 32-bit on PostgreSQL; anything outside cannot name a row.
MAX_ID = 2**31 - 1


@bp.get("/customers/<customer_id>/passkeys")
@admin_required("admin:read")
def list_passkeys(customer_id: str):
    """The customer's passkeys, oldest first; an erased customer has none left (409)."""
    found = path_customer(customer_id)
    if found.customer.status == "erased":
        raise ApiProblem(409, "Conflict", "This customer was erased; no passkeys are left.",
                         "customer-erased")
    audit("passkeys_viewed", found.customer.customer_id)
    db.session.commit()
    return with_etag(jsonify(_passkeys_body(found)), found.customer)


@bp.delete("/customers/<customer_id>/passkeys/<passkey_id>")
@admin_required("admin:recovery")
def remove_passkey(customer_id: str, passkey_id: str):
    """Remove one of the customer's passkeys; answers with the customer view and its new
    ETag."""
    customer = writable_customer(customer_id)
    passkey = _passkey_of(customer, passkey_id)
    number, synced, aaguid = passkey.id, passkey.backup_eligible, passkey.aaguid
    claim_version(customer)
    try:
        passkeys.remove(customer, number, g.admin.origin)
    except passkeys.PasskeyError:
        # Removed meanwhile (by the customer, on their account page).
        raise _unknown_passkey() from None
    audit("passkey_removed", customer.customer_id, passkey_id=number, synced=synced,
          aaguid=aaguid)
    db.session.commit()
    return with_etag(jsonify(customer_view(customer)), customer)


# ---- helpers --------------------------------------------------------------------------------

def _passkeys_body(found: PathCustomer) -> dict:
    customer = found.customer
    body = {"customer_id": customer.customer_id,
            "passkeys": [passkey_view(p) for p in passkeys.passkeys_of(customer)]}
    if found.via_alias:
        body["resolved_from"] = found.requested_id
    return body


def _passkey_of(customer: Customer, text: str) -> PasskeyCredential:
    """The customer's passkey with the id in the path: 400 unless a whole number, 404 for
    one outside the id range, unknown, or another customer's (which is never said)."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ApiProblem(400, "Bad request", "A passkey id is a whole number.",
                         "invalid-passkey-id")
    number = int(text)
    passkey = passkeys.find(customer, number) if 1 <= number <= MAX_ID else None
    if passkey is None:
        raise _unknown_passkey()
    return passkey


def _unknown_passkey() -> ApiProblem:
    return ApiProblem(404, "Not found", "This customer has no passkey with this id.",
                      "unknown-passkey")
