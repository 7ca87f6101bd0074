"""OpenAPI: support's recovery actions (app/admin/recovery_views.py)."""
from __future__ import annotations

from app.admin.openapi.common import (json_body, json_response, operation, parameter,
                                      problem_response)
from app.admin.openapi.search import CUSTOMER_VIEW

SCOPE = "admin:recovery"
_MAX_ID = 2**31 - 1

_CUSTOMER = parameter("CustomerIdPath")
_IF_MATCH = parameter("IfMatchOptional")
_BINDING = {"name": "binding_id", "in": "path", "required": True,
            "description": "The id of one of the customer's phone bindings (see "
                           "`phone_bindings` in the customer view).",
            "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_ID}}

_THE_CUSTOMER = json_response("The customer after the change.", CUSTOMER_VIEW, etag=True)

LOCK_BODY = {
    "type": "object", "additionalProperties": False, "required": ["reason"],
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 200,
                              "description": "Why the account is locked (shown to support, "
                                             "never to the customer). Not blank, no control "
                                             "characters."}},
}

RECOVERY_LINK_BODY = {
    "type": "object", "additionalProperties": False, "required": ["channel"],
    "properties": {
        "channel": {"enum": ["email", "sms", "handover"]},
        "identifier_id": {"type": "integer", "minimum": 1, "maximum": _MAX_ID,
                          "description": "Required for email and sms, absent for handover: "
                                         "the id of one of the customer's verified email "
                                         "addresses or phones (see `identifiers` in the "
                                         "customer view)."},
    },
}

RECOVERY_LINK = {
    "type": "object", "required": ["recovery_link"], "additionalProperties": False,
    "properties": {"recovery_link": {
        "type": "object", "additionalProperties": False,
        "required": ["channel", "destination", "expires_at"],
        "properties": {
            "channel": {"enum": ["email", "sms", "handover"]},
            "destination": {"type": ["string", "null"],
                            "description": "Where it went, masked; null for a handover."},
            "expires_at": {"type": "string", "format": "date-time"},
            "url": {"type": "string", "format": "uri",
                    "description": "Handover only: the link, shown this once and never "
                                   "stored. Give it to the customer in person."},
        }}},
}


def _action(operation_id: str, summary: str, description: str, *,
            errors: tuple[str, ...] = ("400", "404", "409", "412"),
            parameters: tuple[dict, ...] = (_CUSTOMER, _IF_MATCH),
            request_body: dict | None = None) -> dict:
    return operation(operation_id, summary, SCOPE, description=description,
                     parameters=parameters, request_body=request_body,
                     responses={"200": _THE_CUSTOMER}, errors=errors)


_SIGNED_OUT = ("The customer is signed out everywhere: every login session ends, every "
               "access and refresh token issued until now stops working, codes not yet "
               "redeemed expire.")
_NO_BODY = "No request body (one sent is ignored)."
_TOLD = "The customer is told on every verified email and every trusted phone."

PATHS = {
    "/customers/{customer_id}/lock": {"post": _action(
        "lockCustomer", "Lock an account",
        "No login, session or token works until it is unlocked. " + _SIGNED_OUT + " Unused "
        "recovery links die. 409 unless the customer is active. " + _TOLD,
        request_body=json_body(LOCK_BODY, "Why support locks the account."))},
    "/customers/{customer_id}/unlock": {"post": _action(
        "unlockCustomer", "Unlock an account",
        "Lifts support's lock; nothing issued before the lock comes back. 409 unless "
        "locked. " + _NO_BODY + " " + _TOLD)},
    "/customers/{customer_id}/password-reset": {"post": _action(
        "requirePasswordReset", "Force a new password",
        "For a suspected compromise: adds the required action `update_password` (the "
        "customer must choose a new password right after their next login, before "
        "anything else). " + _SIGNED_OUT + " 409 when a reset is already pending or the "
        "customer has no password (issue a recovery link instead). " + _NO_BODY + " "
        + _TOLD)},
    "/customers/{customer_id}/mfa-reset": {"post": _action(
        "resetMfa", "Reset the second factor",
        "Removes the authenticator app, the recovery codes and every passkey, and adds the "
        "required action `configure_totp` (a new app right after the next login). "
        + _SIGNED_OUT + " 409 when there is no app, recovery code or passkey to remove. "
        + _NO_BODY + " "
        + _TOLD)},
    "/customers/{customer_id}/phone-bindings/{binding_id}/release": {"post": _action(
        "releasePhoneBinding", "Release a phone binding",
        "Text messages to this number no longer log in to, recover or notify the "
        "account. The phone stays on the account, unverified: the customer can prove it "
        "again from their account page. 404 if the binding is not this customer's, 409 "
        "if it is already released or recycled. " + _NO_BODY + " " + _TOLD,
        parameters=(_CUSTOMER, _BINDING, _IF_MATCH))},
    "/customers/{customer_id}/phone-bindings/{binding_id}/recycled": {"post": _action(
        "markPhoneBindingRecycled", "Mark a phone number recycled",
        "The number now belongs to someone else: the binding is marked recycled and the "
        "phone removed from the account, so it never opens it again and its new holder "
        "may use it. 404 if the binding is not this customer's, 409 if it is already "
        "recycled. " + _NO_BODY + " " + _TOLD,
        parameters=(_CUSTOMER, _BINDING, _IF_MATCH))},
    "/customers/{customer_id}/sessions/revoke": {"post": _action(
        "revokeSessions", "Sign the customer out everywhere",
        _SIGNED_OUT + " " + _NO_BODY + " " + _TOLD)},
    "/customers/{customer_id}/recovery-links": {"post": operation(
        "issueRecoveryLink", "Issue a recovery link", SCOPE,
        description="A single-use link to set a new password (nothing more: it does not "
                    "log the customer in or clear `configure_totp`), valid for 15 "
                    "minutes by default; it kills the customer's older unused links. "
                    "`email` and `sms` send it to one of the customer's verified "
                    "identifiers; `handover` returns the URL in this response, once, for "
                    "support to give in person. SMS needs an active phone binding without "
                    "an SMS hold that the phone-risk policy allows for a recovery (409 "
                    "otherwise). 409 for a locked customer (unlock first). 422 for an "
                    "identifier that is not one of the customer's verified emails or "
                    "phones, or a number we do not text. 502 when the message could not "
                    "be sent (no link is kept). The customer is told through every other "
                    "trusted channel.",
        parameters=(_CUSTOMER, _IF_MATCH),
        request_body=json_body(RECOVERY_LINK_BODY, "Where the link goes."),
        responses={"201": json_response("The link was issued.", RECOVERY_LINK, etag=True),
                   "502": problem_response("The email or SMS provider failed; no link "
                                           "was kept.")},
        errors=("400", "404", "409", "412", "422"))},
}
