"""The admin API's one blueprint (`admin_api`, under /admin/api) and the rules every
request to it follows: bearer tokens instead of CSRF tokens, the admin rate limit, RFC 9457
problem JSON for every error, never cached. It also serves the API's own description.

The endpoints live in one module per area, each with its own blueprint nested in `bp` here
(so its endpoints are `admin_api.<area>.<view>` and the rules above apply to it): lookup_views
(finding and showing a customer), directory_views (identifiers, linked accounts, listing,
profile), recovery_views (support's recovery actions), passkey_views (a customer's
passkeys), data_rights_views (merge, export, erasure), consent_views (communication
consents) and client_views (registered clients).
The factory registers `bp` (app/__init__.py, register_blueprints). Views stay thin: services
do the work; app/admin/requests.py holds what every view does with a request."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import HTTPException

from app.admin import (client_views, consent_views, data_rights_views, directory_views,
                       lookup_views, openapi, passkey_views, recovery_views)
from app.admin.problems import api_problem, http_error, unexpected_error
from app.admin.requests import ApiProblem
from app.extensions import csrf, limiter

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
csrf.exempt(bp)
bp.register_error_handler(ApiProblem, api_problem)
bp.register_error_handler(HTTPException, http_error)
bp.register_error_handler(Exception, unexpected_error)
for area in (lookup_views, directory_views, recovery_views, passkey_views, data_rights_views,
             consent_views, client_views):
    # Flask-WTF exempts a blueprint by name, and a nested one has its own.
    csrf.exempt(area.bp)
    bp.register_blueprint(area.bp)


def admin_rate_limit() -> str:
    """The per-network limit on the whole admin API (ADMIN_RATE_LIMIT)."""
    return current_app.config["ADMIN_RATE_LIMIT"]


limiter.limit(admin_rate_limit)(bp)


@bp.after_request
def never_cache(response):
    """Admin answers hold customer data: no cache may keep them."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (public: it holds no data)."""
    return jsonify(openapi.document(current_app.config["ISSUER"]))
