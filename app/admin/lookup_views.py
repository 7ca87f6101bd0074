"""Admin API: finding, listing and showing customers (scope admin:read). The blueprint
and the rules every admin request follows are in app/admin/blueprint.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from app.admin import listing
from app.admin.auth import admin_required
from app.admin.customer_view import customer_summary, customer_view, tombstone_view
from app.admin.requests import ApiProblem, audit, path_customer, with_etag
from app.directory.customers import CustomerError, find_customer
from app.extensions import db

bp = Blueprint("lookup", __name__)  # nested in admin_api: app/admin/blueprint.py


@bp.get("/customers")
@admin_required("admin:read")
def find():
    """With `q`: find the customer behind what a customer can read out: customer ID (a
    merged ID finds the survivor), email, phone in any format, username or
    system:account_number. Without: a page of the customer listing, filtered
    (app/admin/listing.py)."""
    if "q" not in request.args:
        page = listing.list_page(request.args)
        db.session.commit()
        return jsonify(page)
    query = request.args.get("q", "")
    try:
        customer = find_customer(query)
    except CustomerError as error:
        raise ApiProblem(400, "Bad request", str(error), "invalid-query") from None
    audit("customer_searched", customer.customer_id if customer else None,
          found=customer is not None)
    db.session.commit()
    return jsonify({"items": [customer_summary(customer)] if customer else [],
                    "next_cursor": None})


@bp.get("/customers/<customer_id>")
@admin_required("admin:read")
def show(customer_id: str):
    """A customer's identifiers, factors (never secrets), phone bindings, sessions,
    connected apps, linked accounts and recent audit events; an erased customer's
    tombstone. A merged customer's ID shows the survivor (`resolved_from`)."""
    found = path_customer(customer_id)
    customer = found.customer
    audit("customer_viewed", customer.customer_id)
    db.session.commit()
    body = tombstone_view(customer) if customer.status == "erased" else customer_view(customer)
    if found.via_alias:
        body["resolved_from"] = found.requested_id
    return with_etag(jsonify(body), customer)

