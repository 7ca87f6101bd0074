"""RFC 9457 problem details: every admin API error is one of these, never HTML."""
from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException

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


def http_error(error: HTTPException):
    """Werkzeug's HTTP errors (404, 405, 413, 429 ...) as problems."""
    return problem(error.code or 500, error.name, error.description)
