"""Server-side login sessions.

The browser holds only a random token (cookie `tessera_session`); the database holds its
keyed hash and everything else. A new token is issued at every login (no fixation), and
logout ends the session on the server, so a copied cookie stops working. Sessions end after
SESSION_IDLE_SECONDS without use and SESSION_ABSOLUTE_SECONDS after login, whichever is first.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from app.audit import Origin, record_event
from app.extensions import db
from app.keyed_hash import keyed_hash
from app.models import Customer, LoginSession, utcnow

COOKIE_NAME = "tessera_session"
_PURPOSE = "login-session"
# last_seen_at is written at most this often, so page views do not each cost a write.
_TOUCH_INTERVAL = timedelta(seconds=60)


def start_session(customer: Customer, amr: list[str], acr: str, origin: Origin, *,
                  risk: list | None = None) -> str:
    """Create a login session for `customer` and return the token for the cookie.

    The caller commits (together with the audit event of the login itself).
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(LoginSession(
        token_hash=keyed_hash(_PURPOSE, token),
        customer=customer,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=int(current_app.config["SESSION_ABSOLUTE_SECONDS"])),
        auth_time=now,
        amr=list(amr),
        acr=acr,
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:512] or None,
        risk=risk,
    ))
    return token


def load_session(token: str | None) -> LoginSession | None:
    """The live session for a cookie token, or None if unknown, ended, idle or expired."""
    if not token or len(token) > 128:
        return None
    login_session = db.session.execute(
        db.select(LoginSession).where(LoginSession.token_hash == keyed_hash(_PURPOSE, token))
    ).scalar_one_or_none()
    if login_session is None or login_session.ended_at is not None:
        return None
    now = utcnow()
    idle = timedelta(seconds=int(current_app.config["SESSION_IDLE_SECONDS"]))
    if now >= login_session.expires_at or now - login_session.last_seen_at >= idle:
        return None
    if login_session.customer.status != "active":
        return None
    if now - login_session.last_seen_at >= _TOUCH_INTERVAL:
        login_session.last_seen_at = now
        db.session.commit()
    return login_session


def end_session(login_session: LoginSession, origin: Origin) -> None:
    """End one session on the server and audit the logout."""
    login_session.ended_at = utcnow()
    record_event("logout", origin, login_session.customer.customer_id)
    db.session.commit()


def end_all_sessions(customer: Customer) -> int:
    """End every live session of a customer (the caller audits and commits)."""
    result = db.session.execute(
        update(LoginSession)
        .where(LoginSession.customer_pk == customer.id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    return result.rowcount
