"""OpenAPI: identifiers, linked accounts and the profile, changed on a customer's behalf,
and resolving many account numbers at once (app/admin/directory_views.py)."""
from __future__ import annotations

from app.admin.openapi.common import json_response, operation, parameter, ref
from app.admin.openapi.search import CUSTOMER_VIEW

_NAME = {"type": ["string", "null"], "maxLength": 100,
         "description": "Trimmed and NFKC-normalised; empty or null clears it."}
_SYSTEM = {"type": "string", "minLength": 1, "maxLength": 64,
           "description": "A lower-case slug (letters, digits, '.', '_', '-'); compared "
                          "case-insensitively, stored in lower case."}
_ACCOUNT_NUMBER = {"type": "string", "minLength": 1, "maxLength": 128,
                   "description": "Trimmed and NFKC-normalised, case kept; no control "
                                  "characters."}

IDENTIFIER_ID = {"name": "identifier_id", "in": "path", "required": True,
                 "description": "The `id` of one of the customer's identifiers (see "
                                "`identifiers` in the customer view).",
                 "schema": {"type": "integer", "minimum": 1}}
SYSTEM = {"name": "system", "in": "path", "required": True,
          "description": "The other system's name, as linked.", "schema": _SYSTEM}
ACCOUNT_NUMBER = {"name": "account_number", "in": "path", "required": True,
                  "description": "The account number, percent-encoded (a `/` in it may be "
                                 "sent as is or as %2F: the rest of the path is the "
                                 "number).",
                  "schema": _ACCOUNT_NUMBER}

_WRITE = (parameter("CustomerIdPath"), parameter("IfMatch"))

NEW_IDENTIFIER = {
    "type": "object", "additionalProperties": False, "required": ["kind", "value"],
    "properties": {
        "kind": {"enum": ["email", "phone", "username"]},
        "value": {"type": "string", "minLength": 1, "maxLength": 320,
                  "description": "As the customer gives it: a phone number in any format "
                                 "(without a country code it is read in the default "
                                 "region), an email address, a username."},
        "verified": {"type": "boolean", "default": False,
                     "description": "Support checked that the customer holds it. A "
                                    "verified phone can receive login codes at once."},
    },
}
NEW_LINKED_ACCOUNT = {
    "type": "object", "additionalProperties": False,
    "required": ["system", "account_number"],
    "properties": {"system": _SYSTEM, "account_number": _ACCOUNT_NUMBER},
}
PROFILE_PATCH = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "given_name": _NAME, "family_name": _NAME, "middle_name": _NAME, "nickname": _NAME,
        "locale": {"type": ["string", "null"], "maxLength": 35,
                   "pattern": "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$",
                   "description": "A BCP 47 language tag (en, en-GB, zh-Hant-TW), stored "
                                  "in its usual case; null clears it."},
    },
}
RESOLVE_REQUEST = {
    "type": "object", "additionalProperties": False,
    "required": ["system", "account_numbers"],
    "properties": {"system": _SYSTEM,
                   "account_numbers": {"type": "array", "minItems": 1, "maxItems": 1000,
                                       "items": _ACCOUNT_NUMBER}},
}
RESOLVE_RESPONSE = {
    "type": "object", "additionalProperties": False, "required": ["system", "results"],
    "properties": {
        "system": {"type": "string", "description": "The system, as stored."},
        "results": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["account_number", "customer_id"],
            "properties": {"account_number": {"type": "string",
                                              "description": "As given in the request."},
                           "customer_id": {"anyOf": [ref("CustomerId"),
                                                     {"type": "null"}]}}}},
    },
}


def _body(schema: dict, description: str, *, merge_patch: bool = False) -> dict:
    content = {"application/json": {"schema": schema}}
    if merge_patch:
        content["application/merge-patch+json"] = {"schema": schema}
    return {"required": True, "description": description, "content": content}


def _view(description: str) -> dict:
    return json_response(description, CUSTOMER_VIEW, etag=True)


PATHS = {
    "/customers/{customer_id}": {"patch": operation(
        "updateCustomerProfile", "Change a customer's names or locale", "admin:write",
        description="A JSON merge patch (RFC 7396) of the profile: members given are set, "
                    "null clears one, absent ones stay. At least one member. The audit "
                    "event names the members that changed, not their values.",
        parameters=_WRITE,
        request_body=_body(PROFILE_PATCH, "The members to change.", merge_patch=True),
        responses={"200": _view("The customer, changed.")},
        errors=("400", "404", "409", "412", "422", "428"))},
    "/customers/{customer_id}/identifiers": {"post": operation(
        "addCustomerIdentifier", "Add an email, phone or username for a customer",
        "admin:write",
        description="Normalised as at sign-up. 409 if the customer or anyone else already "
                    "has it (who is never said); 422 if it is not a valid email, phone "
                    "number or username. The customer is told of a new phone or email on "
                    "every verified channel.",
        parameters=_WRITE,
        request_body=_body(NEW_IDENTIFIER, "The identifier."),
        responses={"201": _view("The customer, with the identifier.")},
        errors=("400", "404", "409", "412", "422", "428"))},
    "/customers/{customer_id}/identifiers/{identifier_id}/verify": {"post": operation(
        "verifyCustomerIdentifier", "Mark a customer's identifier verified", "admin:write",
        description="Support checked that the customer holds it. A phone is bound for SMS "
                    "login (vouched for by `admin`). 404 for an id that is not this "
                    "customer's.",
        parameters=(*_WRITE, IDENTIFIER_ID),
        responses={"200": _view("The customer, with the identifier verified.")},
        errors=("400", "404", "409", "412", "428"))},
    "/customers/{customer_id}/identifiers/{identifier_id}": {"delete": operation(
        "removeCustomerIdentifier", "Remove a customer's identifier", "admin:write",
        description="A phone's binding is released (no more login codes to it). The last "
                    "identifier cannot be removed (409). 404 for an id that is not this "
                    "customer's. The customer is told on every verified channel, and a "
                    "removed verified email address is told too.",
        parameters=(*_WRITE, IDENTIFIER_ID),
        responses={"200": _view("The customer, without the identifier.")},
        errors=("400", "404", "409", "412", "428"))},
    "/customers/{customer_id}/linked-accounts": {"post": operation(
        "linkCustomerAccount", "Link an account number in another system", "admin:write",
        description="Each (system, account number) belongs to one customer: 409 if it is "
                    "linked already (to whom is never said); 422 for an invalid value.",
        parameters=_WRITE,
        request_body=_body(NEW_LINKED_ACCOUNT, "The account in the other system."),
        responses={"201": _view("The customer, with the linked account.")},
        errors=("400", "404", "409", "412", "422", "428"))},
    "/customers/{customer_id}/linked-accounts/{system}/{account_number}": {
        "delete": operation(
            "unlinkCustomerAccount", "Unlink an account number in another system",
            "admin:write",
            description="400 for a malformed system or account number; 404 if this "
                        "customer has no such link.",
            parameters=(*_WRITE, SYSTEM, ACCOUNT_NUMBER),
            responses={"200": _view("The customer, without the linked account.")},
            errors=("400", "404", "409", "412", "428"))},
    "/linked-accounts/resolve": {"post": operation(
        "resolveLinkedAccounts", "Find the customers behind many account numbers",
        "admin:read",
        description="For each account number of one system, in the order given, the ID "
                    "of the customer it is linked to, or null. Merged customers' links "
                    "moved to the survivor and erased customers have none, so every ID "
                    "is a live customer's. A bad account number is a 400 whose "
                    "`errors[].field` names its index (`account_numbers[3]`). Audited "
                    "with the counts, never the numbers.",
        request_body=_body(RESOLVE_REQUEST, "The system and up to 1000 account numbers."),
        responses={"200": json_response("One result per account number.",
                                        RESOLVE_RESPONSE)},
        errors=("400",))},
}
