"""OpenAPI: a customer's communication consents."""
from __future__ import annotations

from app.admin.openapi.common import json_body, json_response, operation, parameter, ref
from app.directory.communication_consents import (CHANNELS, PURPOSES, SOURCES, WORDING_VERSION_MAX,
                                                  WORDINGS)

#: One change at most per channel and purpose (as app/admin/consent_views.py enforces).
MAX_CHANGES = len(WORDINGS)

CONSENT_DECISION = {
    "type": "object",
    "description": "One decision, as recorded: never changed afterwards.",
    "required": ["channel", "purpose", "granted", "wording_version", "source", "actor",
                 "recorded_at"],
    "additionalProperties": False,
    "properties": {
        "channel": {"enum": list(CHANNELS)},
        "purpose": {"enum": list(PURPOSES)},
        "granted": {"type": "boolean"},
        "wording_version": {"type": "string",
                            "description": "The version of the words the customer saw."},
        "source": {"enum": list(SOURCES)},
        "actor": {"type": "string", "description": "`customer`, or the admin client and "
                                                   "operator who recorded it."},
        "recorded_at": {"type": "string", "format": "date-time"},
    },
}

CONSENTS = {
    "type": "object",
    "required": ["customer_id", "current", "history"],
    "additionalProperties": False,
    "properties": {
        "customer_id": ref("CustomerId"),
        "current": {"type": "array", "items": ref("ConsentState"),
                    "minItems": len(WORDINGS), "maxItems": len(WORDINGS),
                    "description": "The choice now for every channel and purpose; never "
                                   "asked is not granted (`recorded_at` null)."},
        "history": {"type": "array", "items": CONSENT_DECISION,
                    "description": "Every decision, oldest first."},
        "resolved_from": {"type": "string",
                          "description": "The merged ID the request named, if it did."},
    },
}

CONSENT_CHANGES = {
    "type": "object",
    "required": ["changes"],
    "additionalProperties": False,
    "properties": {
        "changes": {
            "type": "array", "minItems": 1, "maxItems": MAX_CHANGES, "uniqueItems": True,
            "description": "At most one change per channel and purpose.",
            "items": {
                "type": "object",
                "required": ["channel", "purpose", "granted"],
                "additionalProperties": False,
                "properties": {
                    "channel": {"enum": list(CHANNELS)},
                    "purpose": {"enum": list(PURPOSES)},
                    "granted": {"type": "boolean",
                                "description": "true gives the consent, false withdraws "
                                               "it."},
                    "wording_version": {
                        "type": ["string", "null"], "maxLength": WORDING_VERSION_MAX,
                        "description": "The wording read to the customer; if given it "
                                       "must be the current one (422 otherwise). Absent "
                                       "or null: the current wording."},
                },
            },
        },
    },
}

_CONSENTS_PATH = "/customers/{customer_id}/consents"

PATHS = {
    _CONSENTS_PATH: {
        "get": operation(
            "getConsents", "Read a customer's communication consents", "admin:read",
            description="The choice now for every channel (email, sms) and purpose "
                        "(marketing, service), and every decision with where it was made "
                        "(signup, account, admin), who recorded it and the version of the "
                        "words the customer saw. Security notices are not consents: they "
                        "always go out. An erased customer has none left: 409 "
                        "`customer-erased`. The ETag is the customer's, for If-Match.",
            parameters=(parameter("CustomerIdPath"),),
            responses={"200": json_response("The consents.", CONSENTS, etag=True)},
            errors=("400", "404", "409")),
        "put": operation(
            "changeConsents", "Record consents the customer asked support for",
            "admin:write",
            description="Give or withdraw consents on the customer's own request (on "
                        "the phone, by letter): each change is recorded with source "
                        "`admin`, the admin client and operator as actor, and the current "
                        "wording. A change that is already the customer's choice records "
                        "nothing. All changes or none: a bad item (400, with the field "
                        "path such as `changes[1].channel` in `errors`) or an outdated "
                        "wording version (422) changes nothing. If-Match is required "
                        "(428 without, 412 when stale); an erased customer is 409.",
            parameters=(parameter("CustomerIdPath"), parameter("IfMatch")),
            request_body=json_body(CONSENT_CHANGES, "The changes, 1 to "
                                                    f"{MAX_CHANGES}."),
            responses={"200": json_response("The consents after the change, with the "
                                             "new ETag.", CONSENTS, etag=True)},
            errors=("400", "404", "409", "412", "422", "428")),
    },
}
