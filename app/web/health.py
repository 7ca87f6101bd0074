"""Liveness and readiness checks for load balancers and container runtimes."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter
from app.platform.faults import redis_reachable, redis_urls, rollback_quietly
from app.platform.read_only import reads_only

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@limiter.exempt
@reads_only
def healthz():
    """Liveness: the process answers. Touches nothing else, so a database outage does
    not get healthy instances restarted."""
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
@reads_only
def readyz():
    """Readiness: the database answers a query, and Redis (when the rate limits or send
    limits use it) answers PING. Requests that need Redis are refused while it is down
    (fail closed), so an instance without it is not ready."""
    body = {"status": "ok", "database": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        rollback_quietly(db.session)
        current_app.logger.warning("readiness check: database unreachable")
        body["database"] = "unreachable"
    urls = redis_urls(current_app.config)
    if urls:
        body["redis"] = "ok" if all(redis_reachable(url) for url in urls) else "unreachable"
        if body["redis"] != "ok":
            current_app.logger.warning("readiness check: Redis unreachable")
    if "unreachable" in body.values():
        body["status"] = "unavailable"
        return jsonify(body), 503
    return jsonify(body)
