"""Admin API endpoints: the blueprint, its request rules, and finding and viewing a
customer. The other endpoints live by area and add themselves to the same blueprint:
recovery_views (support's recovery actions), directory_views (identifiers, linked
accounts, listing, profile), data_rights_views (merge, export, erasure) and
consent_views (communication consents). Views stay thin: services do the work;
app/admin/requests.py holds what every view does with a request."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from app.admin import listing, openapi
from app.admin.auth import admin_required
from app.admin.customer_view import customer_summary, customer_view, tombstone_view
from app.admin.problems import api_problem, http_error, unexpected_error
from app.admin.requests import ApiProblem, audit, path_customer, with_etag
from app.directory.customers import CustomerError, find_customer
from app.extensions import csrf, db, limiter

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
csrf.exempt(bp)
bp.register_error_handler(ApiProblem, api_problem)
bp.register_error_handler(HTTPException, http_error)
bp.register_error_handler(Exception, unexpected_error)


def _admin_limit() -> str:
    return current_app.config["ADMIN_RATE_LIMIT"]


limiter.limit(_admin_limit)(bp)


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/customers")
@admin_required("admin:read")
def find():
    """With `q`: find the customer behind what a customer can read out: customer ID (a
    merged ID finds the survivor), email, phone in any format, username or
    system:account_number. Without: a page of the customer listing, filtered
    (app/admin/listing.py)."""
    if "q" not in request.args:
        return jsonify(listing.list_page(request.args))
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


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (public: it holds no data)."""
    return jsonify(openapi.document(current_app.config["ISSUER"]))


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


# The other areas register their routes on `bp` when imported.
from app.admin import (client_views, consent_views, data_rights_views,  # noqa: E402,F401
                       directory_views, recovery_views)
