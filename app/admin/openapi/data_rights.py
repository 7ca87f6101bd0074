"""OpenAPI: merging two customers, and a customer's data rights (export, erasure)."""
from __future__ import annotations

from app.admin.openapi.common import (json_body, json_response, operation, parameter,
                                      problem_response, ref)
from app.admin.openapi.search import CUSTOMER_VIEW, TOMBSTONE

_TIME = ref("Timestamp")
_TEXT = {"type": ["string", "null"]}
_STRINGS = {"type": "array", "items": {"type": "string"}}


def _record(properties: dict) -> dict:
    """An object whose members are all present (null when unknown)."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _list_of(properties: dict) -> dict:
    return {"type": "array", "items": _record(properties)}


MERGE_RULES = (
    "Merges the customer named by `absorbed_customer_id` into the customer in the path "
    "(the survivor), in one transaction. The absorbed customer's ID stays an alias: it "
    "finds the survivor forever (GET answers with `resolved_from`).\n\n"
    "- Identifiers, linked accounts, phone bindings (with their history) and known devices "
    "move to the survivor.\n"
    "- Factors: **the survivor's factor wins; a factor the survivor lacks is taken from the "
    "absorbed customer.** Password: the survivor's is kept, else the absorbed's moves. "
    "Authenticator app (with its recovery codes): the survivor's is kept and the absorbed's "
    "deleted, else the absorbed's moves with its codes. Passkeys: all of both customers' "
    "are kept (the absorbed's move to the survivor).\n"
    "- App consents: the survivor's stand; the absorbed's move only for apps the survivor "
    "has no consent (given or withdrawn) for. Communication consents: for each channel and "
    "purpose the survivor never decided, the absorbed's decisions move; otherwise the "
    "survivor's stand.\n"
    "- Names and profile: the survivor's are kept; blanks are filled from the absorbed.\n"
    "- Required actions: both customers'. Lock: **locked wins**: if either is locked, the "
    "survivor is locked afterwards.\n"
    "- Audit events keep the ID they happened to; the survivor's view shows its aliases' "
    "too.\n"
    "- Both customers are logged out everywhere: sessions ended, every token revoked.\n\n"
    "Refused with 409: the same customer twice, an erased customer, an absorbed customer "
    "that is already an alias, or a customer whose deletion is pending. If-Match (the "
    "survivor's ETag) is required; `absorbed_etag` optionally guards the absorbed customer "
    "(412 if it changed). The survivor is told by email and text.")

MERGE_REQUEST = {
    "type": "object", "additionalProperties": False,
    "required": ["absorbed_customer_id"],
    "properties": {
        "absorbed_customer_id": {"type": "string", "maxLength": 64,
                                 "description": "The customer to merge in, any spelling."},
        "absorbed_etag": {"type": "string", "maxLength": 200,
                          "description": "The absorbed customer's ETag as you read it."},
    },
}

ERASURE_REQUEST = {
    "type": "object", "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 200,
                              "description": "Why, for the audit log (no personal data)."}},
}

EXPORT = _record({
    "format": {"const": "tessera-export/1"},
    "generated_at": {"type": "string", "format": "date-time"},
    "customer": _record({
        "customer_id": ref("CustomerId"), "customer_id_display": {"type": "string"},
        "status": {"enum": ["active", "locked"]},
        "created_at": {"type": "string", "format": "date-time"},
        "given_name": _TEXT, "family_name": _TEXT, "middle_name": _TEXT, "nickname": _TEXT,
        "locale": _TEXT, "zoneinfo": _TEXT,
        "aliases": {"type": "array", "items": ref("CustomerId")},
        "deletion_requested_at": _TIME, "deletion_due_at": _TIME,
    }),
    "identifiers": _list_of({"kind": {"enum": ["email", "phone", "username"]},
                             "value": {"type": "string"}, "verified_at": _TIME,
                             "created_at": _TIME}),
    "factors": _record({
        "password": _record({"set": {"type": "boolean"}, "changed_at": _TIME}),
        "totp": _record({"enrolled": {"type": "boolean"}, "confirmed_at": _TIME}),
        "recovery_codes": _record({"total": {"type": "integer"}, "unused": {"type": "integer"},
                                   "used": {"type": "integer"}}),
        "passkeys": _list_of({"name": {"type": "string"}, "created_at": _TIME,
                              "last_used_at": _TIME, "synced": {"type": "boolean"},
                              "aaguid": {"type": "string"}}),
    }),
    "phone_bindings": _list_of({
        "e164": {"type": "string"}, "status": {"type": "string"}, "usage": {"type": "string"},
        "bound_at": _TIME, "first_verified_at": _TIME, "last_verified_at": _TIME,
        "last_used_at": _TIME, "verified_by": _TEXT, "released_at": _TIME,
        "release_reason": _TEXT, "number_type": _TEXT, "region": _TEXT,
        "carrier": {"type": ["object", "null"]}, "sms_hold_until": _TIME, "hold_reason": _TEXT,
        "events": _list_of({"event": {"type": "string"}, "occurred_at": _TIME,
                            "details": {"type": "object"}}),
    }),
    "sessions": _list_of({"created_at": _TIME, "last_seen_at": _TIME, "expires_at": _TIME,
                          "ended_at": _TIME, "ip": _TEXT, "user_agent": _TEXT,
                          "amr": _STRINGS, "acr": _TEXT}),
    "connected_apps": _list_of({"client_id": {"type": "string"}, "name": {"type": "string"},
                                "scopes": _STRINGS, "granted_at": _TIME}),
    "app_consents": _list_of({"client_id": {"type": "string"}, "name": _TEXT,
                              "scopes": _STRINGS, "granted_at": _TIME, "revoked_at": _TIME}),
    "linked_accounts": _list_of({"system": {"type": "string"},
                                 "account_number": {"type": "string"}, "created_at": _TIME}),
    "communication_consents": _list_of({
        "channel": {"type": "string"}, "purpose": {"type": "string"},
        "granted": {"type": "boolean"}, "wording_version": {"type": "string"},
        "wording": _TEXT, "source": {"type": "string"}, "recorded_by": {"type": "string"},
        "recorded_at": _TIME}),
    "known_devices": _list_of({"first_seen_at": _TIME, "last_seen_at": _TIME,
                               "user_agent": _TEXT}),
    "recovery_links": _list_of({"channel": {"type": "string"}, "sent_to": _TEXT,
                                "issued_by": {"type": "string"}, "created_at": _TIME,
                                "expires_at": _TIME, "used_at": _TIME}),
    "audit_events": _list_of({"event": {"type": "string"}, "description": {"type": "string"},
                              "occurred_at": _TIME, "customer_id": ref("CustomerId"),
                              "actor": {"type": "string"}, "ip": _TEXT, "user_agent": _TEXT,
                              "details": {"type": "object"}}),
})

_EXPORT_RESPONSE = json_response("The customer's data, as a file to save.", EXPORT)
_EXPORT_RESPONSE["headers"] = {"Content-Disposition": {
    "description": 'attachment; filename="tessera-data-<customer ID>.json"',
    "required": True, "schema": {"type": "string"}}}

PATHS = {
    "/customers/{customer_id}/merge": {"post": operation(
        "mergeCustomers", "Merge another customer into this one", "admin:write",
        description=MERGE_RULES,
        parameters=(parameter("CustomerIdPath"), parameter("IfMatch")),
        request_body=json_body(MERGE_REQUEST, "The customer to merge in."),
        responses={"200": json_response("The survivor after the merge.", CUSTOMER_VIEW,
                                        etag=True),
                   "404": problem_response("No such customer (in the path, or as "
                                           "absorbed_customer_id: the problem type says "
                                           "which).")},
        errors=("400", "404", "409", "412", "428"))},
    "/customers/{customer_id}/export": {"get": operation(
        "exportCustomerData", "Export everything held about a customer", "admin:gdpr",
        description="The customer's data as one versioned JSON document (`format`): "
                    "profile, identifiers, factors (never secrets: set or not, when; "
                    "recovery codes counted; passkeys by name, kind and use, never a key), "
                    "phone bindings, sessions, connected apps and consents, linked accounts, "
                    "communication consents with their history, known devices, recovery "
                    "links and the audit events of the customer and its aliases. Audited. "
                    "An erased customer has nothing to export (409).",
        parameters=(parameter("CustomerIdPath"),),
        responses={"200": _EXPORT_RESPONSE},
        errors=("400", "404", "409"))},
    "/customers/{customer_id}/erasure": {"post": operation(
        "eraseCustomer", "Erase a customer's personal data", "admin:gdpr",
        description="Deletes the customer's identifiers, linked accounts, factors "
                    "(passkeys included), sessions, phone bindings, devices, consents and "
                    "recovery links, empties the profile, revokes every token, and strips "
                    "personal data (IP, user agent, identifiers, names) from the audit "
                    "events of the customer and its aliases. The customer ID stays as a "
                    "tombstone and is never issued again. The customer's verified email "
                    "addresses are told first-hand (the notice is sent after the erasure "
                    "commits). If-Match is required; the body is optional. An erased "
                    "customer is 409.",
        parameters=(parameter("CustomerIdPath"), parameter("IfMatch")),
        request_body={"required": False, "description": "An optional reason.",
                      "content": {"application/json": {"schema": ERASURE_REQUEST}}},
        responses={"200": json_response("The tombstone.", TOMBSTONE, etag=True)},
        errors=("400", "404", "409", "412", "428"))},
}
