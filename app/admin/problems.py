"""RFC 9457 problem details: every admin API error is one of these, never HTML."""
from __future__ import annotations

from flask import current_app, jsonify
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.platform.faults import RETRY_AFTER_SECONDS, is_outage, rollback_quietly

PROBLEM_TYPE_BASE = "https://tessera.dev/problems/"
CONTENT_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, *, kind: str | None = None,
            headers: dict | None = None, **extensions: object):
    """A problem response: `kind` names the type (e.g. "invalid-customer-id")."""
    body = {"type": PROBLEM_TYPE_BASE + kind if kind else "about:blank", "title": title,
            "status": status}
    if detail:
        body["detail"] = detail
    body.update(extensions)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = CONTENT_TYPE
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def api_problem(error):
    """An ApiProblem raised by a view: nothing it began is kept."""
    rollback_quietly(db.session)
    return problem(error.status, error.title, error.detail, kind=error.kind,
                   headers=error.headers, **error.extensions)


def http_error(error: HTTPException):
    """Werkzeug's HTTP errors (404, 405, 413, 429 ...) as problems."""
    rollback_quietly(db.session)
    headers = {}
    if error.code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    kind = "body-too-large" if error.code == 413 else None
    return problem(error.code or 500, error.name, error.description, kind=kind,
                   headers=headers)


def unexpected_error(error: Exception):
    """Fail closed: a 500 problem, never a stack trace; the log keeps the details. An
    outage (Redis or the database unreachable) is a 503 with Retry-After instead."""
    rollback_quietly(db.session)
    if is_outage(error):
        current_app.logger.warning("admin API refused during an outage: %s",
                                   type(error).__name__)
        return outage_problem()
    current_app.logger.exception("Unhandled error in the admin API")
    return problem(500, "Internal server error", "The request could not be completed. "
                   "Nothing was changed.", kind="internal-error")


def outage_problem():
    """503: a service Tessera needs is unreachable; nothing was done, retry shortly."""
    return problem(503, "Service unavailable", "A service Tessera depends on is briefly "
                   "unavailable. Try again shortly.", kind="service-unavailable",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
