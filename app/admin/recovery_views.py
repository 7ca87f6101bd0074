"""Admin API: support's recovery actions (scope admin:recovery).

    POST /customers/<id>/lock                                   {"reason": "..."}
    POST /customers/<id>/unlock
    POST /customers/<id>/password-reset
    POST /customers/<id>/mfa-reset
    POST /customers/<id>/phone-bindings/<binding_id>/release
    POST /customers/<id>/phone-bindings/<binding_id>/recycled
    POST /customers/<id>/sessions/revoke
    POST /customers/<id>/recovery-links       {"channel": ..., "identifier_id": ...}

The services are in app/auth/support.py, app/phones/support_actions.py and
app/auth/recovery_links.py. If-Match is optional here (support acts on the customer as
they are now), but a stale one is still 412. Endpoints without a body ignore any body sent. Each answers with the customer view
and its new ETag (a recovery link: the link, 201), and tells the customer through every
trusted channel after the commit.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.admin.auth import admin_required
from app.admin.customer_view import customer_view
from app.admin.requests import (ApiProblem, audit, claim_version, invalid, json_body, only_fields,
                                string_field, with_etag, writable_customer)
from app.auth import recovery_links, support
from app.directory.customers import CustomerError, NotTheirs, StateConflict
from app.extensions import db
from app.models import Customer
from app.phones import support_actions
from app.platform.notifications import notify_support_action

bp = Blueprint("recovery", __name__)  # nested in admin_api: app/admin/blueprint.py

SCOPE = "admin:recovery"
#: Database ids are 32-bit on PostgreSQL; anything outside cannot name a row.
MAX_ID = 2**31 - 1


def _refusal(error: CustomerError) -> ApiProblem:
    """The problem for a service's refusal."""
    if isinstance(error, NotTheirs):
        return ApiProblem(404, "Not found", str(error), error.kind)
    if isinstance(error, StateConflict):
        return ApiProblem(409, "Conflict", str(error), error.kind)
    if isinstance(error, recovery_links.LinkRefused):
        return ApiProblem(409, "Conflict", str(error), "recovery-link-refused")
    if isinstance(error, recovery_links.DeliveryFailed):
        return ApiProblem(502, "Bad gateway", str(error), "delivery-failed")
    return ApiProblem(422, "Unprocessable content", str(error), "unprocessable")


def _act(service, *args, **kwargs):
    """Run a service; its refusals become problems (and the blueprint rolls back)."""
    try:
        return service(*args, **kwargs)
    except CustomerError as error:
        raise _refusal(error) from None


def _answer(customer: Customer, notice: str, detail: str = "", *, skip: str | None = None):
    """Commit, tell the customer, and answer with the fresh customer view and ETag."""
    db.session.commit()
    notify_support_action(customer, notice, detail, skip=skip)
    return with_etag(jsonify(customer_view(customer)), customer)


def _binding_id(text: str) -> int:
    """A binding id from the path: 400 unless a whole number, 404 outside the id range."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ApiProblem(400, "Bad request", "A phone binding id is a whole number.",
                         "invalid-binding-id")
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise ApiProblem(404, "Not found", "This customer has no phone binding with this id.",
                         "unknown-phone-binding")
    return value


@bp.post("/customers/<customer_id>/lock")
@admin_required(SCOPE)
def recovery_lock(customer_id: str):
    """Lock an active account (a reason is required); signs the customer out everywhere."""
    customer = writable_customer(customer_id)
    body = json_body()
    only_fields(body, {"reason"})
    text = string_field(body, "reason", max_length=support.LOCK_REASON_MAX)
    try:
        reason = support.normalize_lock_reason(text)
    except CustomerError as error:
        raise invalid("reason", str(error)) from None
    claim_version(customer, required=False)
    _act(support.lock, customer, reason, g.admin.origin)
    audit("account_locked", customer.customer_id, lock_reason=reason)
    return _answer(customer, "account_locked")


def _bodyless_action(customer_id: str, service, action: str, details=None):
    """The shape of every action without a body: load the customer, check any If-Match,
    run `service(customer, origin)`, audit `action` (with `details(result)`, if given),
    commit, and tell the customer with the notice of the same name."""
    customer = writable_customer(customer_id)
    claim_version(customer, required=False)
    result = _act(service, customer, g.admin.origin)
    audit(action, customer.customer_id, **(details(result) if details else {}))
    return _answer(customer, action)


def _binding_action(customer_id: str, binding_id: str, service, action: str):
    """Release or retire one phone binding with `service(customer, binding_id, origin)`;
    audited as `action`. The customer is told on every trusted channel but that number."""
    customer = writable_customer(customer_id)
    number = _binding_id(binding_id)
    claim_version(customer, required=False)
    binding = _act(service, customer, number, g.admin.origin)
    audit(action, customer.customer_id, binding_id=binding.id,
          phone_hint=binding.e164[-2:])
    if action == "phone_recycled":  # phone_bindings.mark_recycled tells the customer
        db.session.commit()
        return with_etag(jsonify(customer_view(customer)), customer)
    return _answer(customer, "phone_released", binding.e164, skip=binding.e164)


@bp.post("/customers/<customer_id>/unlock")
@admin_required(SCOPE)
def recovery_unlock(customer_id: str):
    """Unlock a locked account."""
    return _bodyless_action(customer_id, support.unlock, "account_unlocked")


@bp.post("/customers/<customer_id>/password-reset")
@admin_required(SCOPE)
def recovery_password_reset(customer_id: str):
    """Force a new password at the next login; signs the customer out everywhere."""
    return _bodyless_action(customer_id, support.require_password_reset,
                            "password_reset_required")


@bp.post("/customers/<customer_id>/mfa-reset")
@admin_required(SCOPE)
def recovery_mfa_reset(customer_id: str):
    """Remove the authenticator app, recovery codes and passkeys; a new app at the next
    login."""
    return _bodyless_action(customer_id, support.reset_mfa, "mfa_reset")


@bp.post("/customers/<customer_id>/phone-bindings/<binding_id>/release")
@admin_required(SCOPE)
def recovery_release_binding(customer_id: str, binding_id: str):
    """SMS to this number stops opening the account; the phone stays, unverified."""
    return _binding_action(customer_id, binding_id, support_actions.release_binding,
                           "phone_released")


@bp.post("/customers/<customer_id>/phone-bindings/<binding_id>/recycled")
@admin_required(SCOPE)
def recovery_binding_recycled(customer_id: str, binding_id: str):
    """The number belongs to someone else now: binding recycled, phone removed."""
    return _binding_action(customer_id, binding_id, support_actions.mark_binding_recycled,
                           "phone_recycled")


@bp.post("/customers/<customer_id>/sessions/revoke")
@admin_required(SCOPE)
def recovery_revoke_sessions(customer_id: str):
    """Sign the customer out of every browser and app."""
    return _bodyless_action(customer_id, support.revoke_everything, "sessions_revoked",
                            details=lambda signed_out: {"sessions_ended": signed_out.sessions,
                                                        "grants_revoked": signed_out.grants})


def _identifier_id(body: dict, channel: str) -> int | None:
    """identifier_id: required for email and sms, absent for a handover."""
    if "identifier_id" not in body:
        if channel != recovery_links.HANDOVER:
            raise invalid("identifier_id", "is required for the email and sms channels")
        return None
    value = body["identifier_id"]
    if type(value) is not int or not 1 <= value <= MAX_ID:
        raise invalid("identifier_id", f"must be a whole number from 1 to {MAX_ID}")
    if channel == recovery_links.HANDOVER:
        raise invalid("identifier_id", "is only for the email and sms channels")
    return value


@bp.post("/customers/<customer_id>/recovery-links")
@admin_required(SCOPE)
def recovery_issue_link(customer_id: str):
    """Issue a single-use link to set a new password: by email, SMS, or handed to support
    (the URL is in this response only)."""
    customer = writable_customer(customer_id)
    body = json_body()
    only_fields(body, {"channel", "identifier_id"})
    channel = string_field(body, "channel", max_length=16, choices=recovery_links.CHANNELS)
    identifier_id = _identifier_id(body, channel)
    claim_version(customer, required=False)
    link, url = _act(recovery_links.issue, customer, channel, g.admin.origin,
                     identifier_id=identifier_id)
    audit("recovery_link_issued", customer.customer_id, channel=channel,
          destination_hint=link.destination_hint)
    db.session.commit()
    recovery_links.notify_issued(customer, link, identifier_id)
    issued = {"channel": link.channel, "destination": link.destination_hint,
              "expires_at": link.expires_at.isoformat()}
    if url is not None:
        issued["url"] = url
    response = with_etag(jsonify({"recovery_link": issued}), customer)
    response.status_code = 201
    return response
