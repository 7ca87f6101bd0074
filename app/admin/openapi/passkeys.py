"""OpenAPI: a customer's passkeys (app/admin/passkey_views.py)."""
from __future__ import annotations

from app.admin.openapi.common import json_response, operation, parameter, ref
from app.admin.openapi.search import CUSTOMER_VIEW

_MAX_ID = 2**31 - 1

PASSKEY_ID = {"name": "passkey_id", "in": "path", "required": True,
              "description": "The `id` of one of the customer's passkeys (see "
                             "`factors.passkeys` in the customer view).",
              "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_ID}}

PASSKEYS = {
    "type": "object",
    "required": ["customer_id", "passkeys"],
    "additionalProperties": False,
    "properties": {
        "customer_id": ref("CustomerId"),
        "passkeys": {"type": "array", "items": ref("Passkey"),
                     "description": "Oldest first."},
        "resolved_from": {"type": "string",
                          "description": "The merged ID the request named, if it did."},
    },
}

PATHS = {
    "/customers/{customer_id}/passkeys": {"get": operation(
        "listPasskeys", "List a customer's passkeys", "admin:read",
        description="Each passkey's name, when it was added and last used, whether it is "
                    "synced between the customer's devices and backed up, its "
                    "authenticator model (AAGUID) and transports; never its public key, "
                    "credential ID or user handle. The same list is `factors.passkeys` in "
                    "the customer view. An erased customer has none left: 409 "
                    "`customer-erased`. The ETag is the customer's, for If-Match.",
        parameters=(parameter("CustomerIdPath"),),
        responses={"200": json_response("The passkeys.", PASSKEYS, etag=True)},
        errors=("400", "404", "409"))},
    "/customers/{customer_id}/passkeys/{passkey_id}": {"delete": operation(
        "removePasskey", "Remove one of a customer's passkeys", "admin:recovery",
        description="For a passkey the customer lost (a stolen phone, a security key left "
                    "behind): it no longer logs in. The customer is told by email. "
                    "If-Match is required (428 without, 412 when stale): it names one "
                    "passkey of the list you read. 404 `unknown-passkey` for an id that is "
                    "not this customer's (nothing changes). To remove every passkey with "
                    "the other second factors, reset the MFA instead.",
        parameters=(parameter("CustomerIdPath"), parameter("IfMatch"), PASSKEY_ID),
        responses={"200": json_response("The customer, without the passkey.", CUSTOMER_VIEW,
                                        etag=True)},
        errors=("400", "404", "409", "412", "428"))},
}
