"""Admin API: a customer's communication consents (app/directory/communication_consents.py).

    GET /customers/<id>/consents   (admin:read)   the choices now and their whole history
    PUT /customers/<id>/consents   (admin:write)  record what the customer asked support
                                                  for (source "admin"), If-Match required

Support records only what the customer asked for themselves (on the phone, by letter):
the actor of each row names the admin client and operator, and the audit event the
reason. An erased customer has no consents left to read or change: 409 either way.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.admin.auth import admin_required
from app.admin.requests import (ApiProblem, PathCustomer, audit, bool_field, claim_version, invalid,
                                json_body, only_fields, path_customer, string_field, with_etag,
                                writable_customer)
from app.directory import communication_consents
from app.directory.communication_consents import (CHANNELS, PURPOSES, WORDING_VERSION_MAX, WORDINGS,
                                                  OutdatedWording)
from app.directory.customers import CustomerError
from app.extensions import db
from app.models import Customer

bp = Blueprint("consents", __name__)  # nested in admin_api: app/admin/blueprint.py

#: At most one change per channel and purpose.
MAX_CHANGES = len(WORDINGS)
_CHANGE_FIELDS = {"channel", "purpose", "granted", "wording_version"}


@bp.get("/customers/<customer_id>/consents")
@admin_required("admin:read")
def show_consents(customer_id: str):
    """The customer's choice now for every channel and purpose, and every decision
    (oldest first) with its source, actor and wording version."""
    found = path_customer(customer_id)
    _refuse_erased(found.customer)
    audit("consents_viewed", found.customer.customer_id)
    db.session.commit()
    return with_etag(jsonify(_consents_body(found)), found.customer)


@bp.put("/customers/<customer_id>/consents")
@admin_required("admin:write")
def change_consents(customer_id: str):
    """Give or withdraw consents as the customer asked: each change is recorded with
    source "admin" unless it is already the customer's choice. All or nothing."""
    customer = writable_customer(customer_id)
    changes = _parse_changes(json_body())
    claim_version(customer, required=True)
    recorded = []
    for index, change in enumerate(changes):
        try:
            row = communication_consents.record(
                customer, change["channel"], change["purpose"], change["granted"], "admin",
                g.admin.origin, wording_version=change["wording_version"])
        except OutdatedWording as error:
            raise _unprocessable(f"changes[{index}].wording_version", str(error)) from None
        except CustomerError as error:
            raise _unprocessable(f"changes[{index}]", str(error)) from None
        if row is not None:
            recorded.append({"channel": row.channel, "purpose": row.purpose,
                             "granted": row.granted})
    audit("consents_changed", customer.customer_id, changes=recorded,
          unchanged=len(changes) - len(recorded))
    db.session.commit()
    return with_etag(jsonify(_consents_body(PathCustomer(customer, customer.customer_id))),
                     customer)


# ---- helpers --------------------------------------------------------------------------------

def _refuse_erased(customer: Customer) -> None:
    if customer.status == "erased":
        raise ApiProblem(409, "Conflict", "This customer was erased; no consents are left.",
                         "customer-erased")


def _consents_body(found: PathCustomer) -> dict:
    customer = found.customer
    body = {
        "customer_id": customer.customer_id,
        "current": [state.as_dict() for state in communication_consents.current(customer)],
        "history": [{"channel": row.channel, "purpose": row.purpose, "granted": row.granted,
                     "wording_version": row.wording_version, "source": row.source,
                     "actor": row.actor, "recorded_at": row.recorded_at.isoformat()}
                    for row in communication_consents.history(customer)],
    }
    if found.via_alias:
        body["resolved_from"] = found.requested_id
    return body


def _parse_changes(body: dict) -> list[dict]:
    """The body's `changes`, checked for shape: 400 naming the field path otherwise."""
    only_fields(body, {"changes"})
    changes = body.get("changes")
    if changes is None:
        raise invalid("changes", "is required")
    if not isinstance(changes, list):
        raise invalid("changes", "must be an array")
    if not 1 <= len(changes) <= MAX_CHANGES:
        raise invalid("changes", f"has 1 to {MAX_CHANGES} items")
    parsed, seen = [], {}
    for index, item in enumerate(changes):
        change = _parse_change(index, item)
        pair = (change["channel"], change["purpose"])
        if pair in seen:
            raise invalid(f"changes[{index}]", f"repeats the channel and purpose of "
                                               f"changes[{seen[pair]}]")
        seen[pair] = index
        parsed.append(change)
    return parsed


def _parse_change(index: int, item: object) -> dict:
    path = f"changes[{index}]"
    if not isinstance(item, dict):
        raise invalid(path, "must be an object")
    try:
        only_fields(item, _CHANGE_FIELDS)
        if item.get("granted") is None:
            raise invalid("granted", "is required")
        return {"channel": string_field(item, "channel", choices=CHANNELS),
                "purpose": string_field(item, "purpose", choices=PURPOSES),
                "granted": bool_field(item, "granted"),
                "wording_version": string_field(item, "wording_version", required=False,
                                                max_length=WORDING_VERSION_MAX)}
    except ApiProblem as problem:
        # The shared field checks name the member; the caller needs the path to it.
        error = problem.extensions["errors"][0]
        raise invalid(f"{path}.{error['field']}", error["message"]) from None


def _unprocessable(field_name: str, message: str) -> ApiProblem:
    return ApiProblem(422, "Unprocessable content", f"{field_name}: {message}",
                      "unprocessable", extensions={"errors": [{"field": field_name,
                                                               "message": message}]})
