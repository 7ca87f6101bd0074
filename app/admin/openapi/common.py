"""Pieces every part of the OpenAPI document shares: problem responses, the customer ID
and If-Match parameters, and `operation()`, which adds the scope and the errors every
admin endpoint can answer with."""
from __future__ import annotations

SCOPE_DESCRIPTIONS = {
    "admin:read": "Find and view customers, read consents and passkeys, resolve account "
                  "numbers.",
    "admin:write": "Change identifiers, linked accounts, profile, consents; merge.",
    "admin:recovery": "Lock, unlock, reset factors, remove passkeys, revoke sessions, issue "
                      "recovery links.",
    "admin:gdpr": "Export and erase a customer's data.",
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def problem_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": ref("Problem")}}}


_ERRORS = {
    "400": "Malformed input: a customer ID with a wrong check symbol, invalid JSON, a bad "
           "field.",
    "401": "No access token, or one that is invalid, expired or revoked.",
    "403": "A token without the scope, or not an admin client's.",
    "404": "No such customer (or other resource).",
    "409": "The request conflicts with the customer's state.",
    "412": "If-Match does not name the customer's current version.",
    "413": "The body is larger than the limit.",
    "415": "The body is not application/json.",
    "422": "Well-formed but refused (e.g. an invalid email address or phone number).",
    "428": "If-Match is required for this change.",
    "429": "Too many requests from this caller.",
}

#: The errors of every authenticated call.
_ALWAYS = ("401", "403", "429")

COMPONENTS = {
    "schemas": {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {
                    "type": "object", "required": ["field", "message"],
                    "properties": {"field": {"type": "string"},
                                   "message": {"type": "string"}}}},
            },
        },
        "Timestamp": {"type": ["string", "null"], "format": "date-time"},
        "CustomerId": {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{13}$",
                       "description": "Canonical customer ID: 12 Crockford base32 "
                                      "symbols and a check symbol."},
        "ConsentState": {
            "type": "object",
            "required": ["channel", "purpose", "granted", "recorded_at", "source",
                         "wording_version"],
            "properties": {
                "channel": {"enum": ["email", "sms"]},
                "purpose": {"enum": ["marketing", "service"]},
                "granted": {"type": "boolean"},
                "recorded_at": {"type": ["string", "null"], "format": "date-time"},
                "source": {"enum": ["signup", "account", "admin", None]},
                "wording_version": {"type": ["string", "null"]},
            },
        },
        "Passkey": {
            "type": "object",
            "description": "One of a customer's passkeys, as support may discuss it with "
                           "them: never its public key, credential ID or user handle.",
            "required": ["id", "name", "created_at", "last_used_at", "synced", "backed_up",
                         "aaguid", "transports"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer", "minimum": 1,
                       "description": "For DELETE /customers/{customer_id}/passkeys/"
                                      "{passkey_id}."},
                "name": {"type": "string", "maxLength": 64,
                         "description": "The customer's name for it (the device it is on)."},
                "created_at": {"type": "string", "format": "date-time"},
                "last_used_at": {"type": ["string", "null"], "format": "date-time"},
                "synced": {"type": "boolean",
                           "description": "Backup eligible: the passkey syncs between the "
                                          "customer's devices (a login with it is `swk`). "
                                          "false: bound to one device or security key "
                                          "(`hwk`)."},
                "backed_up": {"type": "boolean",
                              "description": "A synced passkey its provider reported "
                                             "backed up (when added, or at its last "
                                             "use)."},
                "aaguid": {"type": "string",
                           "description": "The authenticator model's AAGUID (all zeros when "
                                          "the authenticator does not say)."},
                "transports": {"type": "array", "items": {"type": "string"},
                               "description": "How the browser reaches it (usb, nfc, ble, "
                                              "internal, hybrid...)."},
            },
        },
        "CustomerSummary": {
            "type": "object",
            "required": ["customer_id", "customer_id_display", "status", "name",
                         "created_at"],
            "properties": {
                "customer_id": ref("CustomerId"),
                "customer_id_display": {"type": "string"},
                "status": {"enum": ["active", "locked", "erased", "merged"]},
                "name": {"type": ["string", "null"]},
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
    },
    "parameters": {
        "CustomerIdPath": {
            "name": "customer_id", "in": "path", "required": True,
            "description": "A customer ID in any spelling (case, spaces, hyphens, I/L for 1, "
                           "O for 0). A merged customer's ID resolves to the survivor.",
            "schema": {"type": "string", "maxLength": 64},
        },
        "IfMatch": {
            "name": "If-Match", "in": "header", "required": True,
            "description": "The ETag of the customer as you read it.",
            "schema": {"type": "string"},
        },
        "IfMatchOptional": {
            "name": "If-Match", "in": "header", "required": False,
            "description": "The ETag of the customer as you read it; without it the "
                           "action applies to the customer as they are now.",
            "schema": {"type": "string"},
        },
        "XOperator": {"name": "X-Operator", "in": "header", "required": False,
                      "description": "The human operator, for the audit log (printable "
                                     "characters kept, cut to 128).",
                      "schema": {"type": "string"}},
        "XReason": {"name": "X-Reason", "in": "header", "required": False,
                    "description": "Why (a ticket number...), for the audit log (printable "
                                   "characters kept, cut to 128).",
                    "schema": {"type": "string"}},
    },
    "headers": {
        "ETag": {"description": "The customer's version, for If-Match.",
                 "schema": {"type": "string"}},
    },
}


def parameter(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def json_body(schema: dict, description: str = "") -> dict:
    return {"required": True, "description": description,
            "content": {"application/json": {"schema": schema}}}


def json_response(description: str, schema: dict, *, etag: bool = False) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": schema}}}
    if etag:
        response["headers"] = {"ETag": {"$ref": "#/components/headers/ETag"}}
    return response


def operation(operation_id: str, summary: str, scope: str, *, responses: dict,
              errors: tuple[str, ...] = (), parameters: tuple[dict, ...] = (),
              request_body: dict | None = None, description: str = "") -> dict:
    """One operation: its scope as security, the audit headers, and problem responses
    for `errors` plus 401/403/429 (and 413/415/400 when it takes a body)."""
    codes = set(errors) | set(_ALWAYS)
    if request_body is not None:
        codes |= {"400", "413", "415"}
    all_responses = dict(responses)
    for code in sorted(codes):
        all_responses.setdefault(code, problem_response(_ERRORS[code]))
    op = {"operationId": operation_id, "summary": summary,
          "description": (description + "\n\n" if description else "")
          + f"Needs the `{scope}` scope.",
          "security": [{"adminToken": [scope]}],
          "x-required-scope": scope,
          "parameters": [*parameters, parameter("XOperator"), parameter("XReason")],
          "responses": all_responses}
    if request_body is not None:
        op["requestBody"] = request_body
    return op
