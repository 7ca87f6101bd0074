"""Admin API endpoints: find a customer, and see what is going on with them. Views stay
thin: app/admin/customer_view.py builds what they return."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.admin.auth import admin_required
from app.admin.customer_view import customer_summary, customer_view
from app.admin.problems import http_error, problem
from app.audit import record_event
from app.customers import CustomerError, find_customer, get_by_customer_id
from app.extensions import csrf, db, limiter
from app.identity import customer_ids

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
csrf.exempt(bp)
bp.register_error_handler(HTTPException, http_error)


def _admin_limit() -> str:
    return current_app.config["ADMIN_RATE_LIMIT"]


limiter.limit(_admin_limit)(bp)


def _audit(action: str, customer_id: str | None, **details: object) -> None:
    caller = g.admin
    record_event(f"admin.{action}", caller.origin, customer_id, client_id=caller.client_id,
                 operator=caller.operator, reason=caller.reason, **details)
    db.session.commit()


@bp.get("/customers")
@admin_required("admin:read")
def find():
    """Find the customer behind what a customer can read out (`q`): customer ID, email,
    phone in any format, username or system:account_number."""
    query = request.args.get("q", "")
    try:
        customer = find_customer(query)
    except CustomerError as error:
        return problem(400, "Bad request", str(error), kind="invalid-query")
    _audit("customer_searched", customer.customer_id if customer else None,
           found=customer is not None)
    return jsonify({"items": [customer_summary(customer)] if customer else []})


@bp.get("/customers/<customer_id>")
@admin_required("admin:read")
def show(customer_id: str):
    """A customer's identifiers, factors (never secrets), phone bindings, sessions,
    connected apps, linked accounts and recent audit events."""
    try:
        canonical = customer_ids.parse(customer_id)
    except customer_ids.InvalidCustomerId as error:
        return problem(400, "Bad request", str(error), kind="invalid-customer-id")
    customer = get_by_customer_id(canonical)
    if customer is None:
        return problem(404, "Not found", "No customer has this ID.", kind="unknown-customer")
    _audit("customer_viewed", customer.customer_id)
    return jsonify(customer_view(customer))
