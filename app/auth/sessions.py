"""Server-side login sessions.

The browser holds only a random token (cookie `tessera_session`); the database holds its
keyed hash and everything else. A new token is issued at every login (no fixation), and
logout ends the session on the server, so a copied cookie stops working. Sessions end after
SESSION_IDLE_SECONDS without use and SESSION_ABSOLUTE_SECONDS after login, whichever is first.

Every way a session ends on purpose (`end_session`, `end_all_sessions`) also queues, for
each ended session, the clients that were issued tokens in it. The queue lives on the
SQLAlchemy session and follows its transactions (app/platform/after_commit.py): a commit makes the
entries ready, a rollback (or a rolled-back savepoint) drops them, so apps are told only about ends that
really happened. app/oidc/logout.py takes the ready entries once the request or CLI
command is over and sends the back-channel logout tokens (never inside the transaction).
Sessions that merely expire tell nobody: the apps' own lifetimes cover those.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from app.extensions import db
from app.models import Customer, IssuedToken, LoginSession, utcnow
from app.platform import after_commit
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash

COOKIE_NAME = "tessera_session"
_PURPOSE = "login-session"
# last_seen_at is written at most this often, so page views do not each cost a write.
_TOUCH_INTERVAL = timedelta(seconds=60)
# The after-commit queue (app/platform/after_commit.py) of ended sessions the apps must hear of.
_ENDED_SESSIONS = "ended_sessions"


@dataclass(frozen=True)
class EndedSession:
    """A login session ended on purpose, and the clients issued tokens in it: whom
    back-channel logout must tell once the end is committed."""

    customer_pk: int
    session_id: int
    client_ids: tuple[str, ...]
    origin: Origin  # who ended it, for the audit event of a failed notification


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
    """The live session for a cookie token, or None if unknown, ended, idle or expired.

    Touching `last_seen_at` commits here, before the request's own work: it runs before
    every request, most of which (pages that only read) never commit, yet the idle
    timeout must see the customer was active; it is committed alone, so a request that
    later fails cannot lose it.
    """
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


def open_sessions(customer: Customer) -> list[LoginSession]:
    """The customer's sessions nobody ended and that have not timed out (idle or
    absolute), the most recently used first: what "Apps & sessions" lists."""
    now = utcnow()
    idle = timedelta(seconds=int(current_app.config["SESSION_IDLE_SECONDS"]))
    return list(db.session.scalars(
        select(LoginSession)
        .where(LoginSession.customer_pk == customer.id, LoginSession.ended_at.is_(None),
               LoginSession.expires_at > now, LoginSession.last_seen_at > now - idle)
        .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())))


def own_open_session(customer: Customer, session_id: int) -> LoginSession | None:
    """One of the customer's open sessions by its id; None if it is another customer's,
    already ended or timed out (so one customer can never end another's)."""
    return next((s for s in open_sessions(customer) if s.id == session_id), None)


def end_session(login_session: LoginSession, origin: Origin) -> None:
    """End one session on the server and audit the logout (the caller commits). The
    clients that had the session are told once that commit is done (see the module
    docstring)."""
    login_session.ended_at = utcnow()
    record_event("logout", origin, login_session.customer.customer_id)
    _queue_ends(login_session.customer_pk, [login_session.id], origin)


def end_all_sessions(customer: Customer, *, now: datetime | None = None,
                     origin: Origin | None = None, keep: LoginSession | None = None) -> int:
    """End every live session of a customer but `keep` (the caller audits and commits);
    how many. The clients that had them are told once the caller's transaction commits."""
    ended = db.session.execute(
        update(LoginSession)
        .where(LoginSession.customer_pk == customer.id, LoginSession.ended_at.is_(None),
               LoginSession.id != (keep.id if keep is not None else -1))
        .values(ended_at=now or utcnow())
        .returning(LoginSession.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    _queue_ends(customer.id, ended, origin or Origin())
    return len(ended)


def take_committed_ends() -> list[EndedSession]:
    """The ended sessions whose end has committed and that nobody was told about yet;
    each is handed out once."""
    return after_commit.take(_ENDED_SESSIONS)


def _queue_ends(customer_pk: int, session_ids: list[int], origin: Origin) -> None:
    """Queue the ends of these sessions in the innermost open transaction."""
    if not session_ids:
        return
    clients: dict[int, set[str]] = {session_id: set() for session_id in session_ids}
    for session_id, client_id in db.session.execute(
            select(IssuedToken.login_session_id, IssuedToken.client_id).distinct()
            .where(IssuedToken.login_session_id.in_(session_ids))):
        clients[session_id].add(client_id)
    ends = [EndedSession(customer_pk, session_id, tuple(sorted(client_ids)), origin)
            for session_id, client_ids in clients.items() if client_ids]
    for end in ends:
        after_commit.defer(_ENDED_SESSIONS, end)
