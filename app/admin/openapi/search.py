"""OpenAPI: finding, listing and viewing customers."""
from __future__ import annotations

from app.admin.openapi.common import json_response, operation, parameter, ref

_TIME = ref("Timestamp")

CUSTOMER_VIEW = {
    "type": "object",
    "required": ["customer_id", "status", "version", "identifiers", "factors",
                 "phone_bindings", "sessions", "connected_apps", "linked_accounts",
                 "recent_events", "communication_consents", "aliases", "required_actions"],
    "properties": {
        "customer_id": ref("CustomerId"),
        "customer_id_display": {"type": "string"},
        "status": {"enum": ["active", "locked"]},
        "name": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "version": {"type": "integer"},
        "given_name": {"type": ["string", "null"]},
        "family_name": {"type": ["string", "null"]},
        "middle_name": {"type": ["string", "null"]},
        "nickname": {"type": ["string", "null"]},
        "locale": {"type": ["string", "null"]},
        "zoneinfo": {"type": ["string", "null"]},
        "lock": {"type": ["object", "null"]},
        "required_actions": {"type": "array", "items": {
            "enum": ["update_password", "configure_totp"]}},
        "deletion_due_at": _TIME,
        "aliases": {"type": "array", "items": ref("CustomerId"),
                    "description": "IDs of customers merged into this one."},
        "resolved_from": {"type": "string",
                          "description": "The merged ID the request named, if it did."},
        "identifiers": {"type": "array", "items": {
            "type": "object", "required": ["id", "kind", "value", "verified"],
            "properties": {"id": {"type": "integer"},
                           "kind": {"enum": ["email", "phone", "username"]},
                           "value": {"type": "string"}, "verified": {"type": "boolean"},
                           "verified_at": _TIME}}},
        "factors": {"type": "object",
                    "required": ["password", "totp", "recovery_codes_remaining", "passkeys"],
                    "properties": {"password": {"type": "boolean"},
                                   "totp": {"type": "boolean"},
                                   "recovery_codes_remaining": {"type": "integer"},
                                   "passkeys": {"type": "array", "items": ref("Passkey"),
                                                "description": "Oldest first."}}},
        "phone_bindings": {"type": "array", "items": {"type": "object"}},
        "sessions": {"type": "array", "items": {"type": "object"}},
        "connected_apps": {"type": "array", "items": {"type": "object"}},
        "linked_accounts": {"type": "array", "items": {
            "type": "object", "required": ["system", "account_number"],
            "properties": {"system": {"type": "string"},
                           "account_number": {"type": "string"}}}},
        "communication_consents": {"type": "array", "items": ref("ConsentState")},
        "recent_events": {"type": "array", "items": {"type": "object"}},
    },
}

TOMBSTONE = {
    "type": "object",
    "required": ["customer_id", "status", "erased_at"],
    "properties": {"customer_id": ref("CustomerId"),
                   "customer_id_display": {"type": "string"},
                   "status": {"const": "erased"}, "erased_at": _TIME,
                   "resolved_from": {"type": "string"}},
}

CUSTOMER_PAGE = {
    "type": "object", "required": ["items", "next_cursor"],
    "properties": {"items": {"type": "array", "items": ref("CustomerSummary")},
                   "next_cursor": {"type": ["string", "null"]}},
}

PATHS = {
    "/customers": {"get": operation(
        "findCustomers", "Find a customer, or list customers", "admin:read",
        description="With `q`: the customer behind a customer ID (any spelling; a merged ID "
                    "finds the survivor), an email, a phone number in any format, a "
                    "username or `system:account_number` (0 or 1 items). Without `q`: a "
                    "page of customers, newest first, filtered by status and creation time; "
                    "pass `next_cursor` back as `cursor` for the next page.",
        parameters=(
            {"name": "q", "in": "query", "required": False,
             "schema": {"type": "string", "maxLength": 320}},
            {"name": "status", "in": "query", "required": False,
             "description": "Only customers in this state. Without it: every customer "
                            "but merged ones, whose IDs are aliases of the survivor "
                            "(listed under its own ID); `merged` lists the aliases.",
             "schema": {"enum": ["active", "locked", "erased", "merged"]}},
            {"name": "created_after", "in": "query", "required": False,
             "description": "Customers created at or after this ISO 8601 date-time "
                            "(inclusive; without an offset it is UTC).",
             "schema": {"type": "string", "format": "date-time"}},
            {"name": "created_before", "in": "query", "required": False,
             "description": "Customers created before this ISO 8601 date-time "
                            "(exclusive; without an offset it is UTC), so back-to-back "
                            "windows neither overlap nor leave a gap.",
             "schema": {"type": "string", "format": "date-time"}},
            {"name": "limit", "in": "query", "required": False,
             "description": "Customers per page.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
            {"name": "cursor", "in": "query", "required": False,
             "description": "The `next_cursor` of the previous page: an opaque, signed "
                            "position (newest first, then by customer ID). A cursor "
                            "this API did not give out is a 400.",
             "schema": {"type": "string", "maxLength": 200}},
        ),
        responses={"200": json_response("Matching customers.", CUSTOMER_PAGE)},
        errors=("400",))},
    "/customers/{customer_id}": {"get": operation(
        "getCustomer", "View a customer", "admin:read",
        description="Identifiers with their verified state, factors (never secrets; "
                    "passkeys by name, kind and use), phone "
                    "bindings with their risk state, active sessions, connected apps, "
                    "linked accounts, consents and recent audit events. An erased "
                    "customer's tombstone. The ETag is for If-Match on writes.",
        parameters=(parameter("CustomerIdPath"),),
        responses={"200": json_response("The customer.", {"oneOf": [CUSTOMER_VIEW, TOMBSTONE]},
                                        etag=True)},
        errors=("400", "404"))},
}
