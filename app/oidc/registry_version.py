"""One version for the OAuth registry (clients and signing keys), so per-process caches of
them cost one tiny read per request and still see every change made anywhere at once.

Every flush that inserts, updates or deletes an OAuthClient or a SigningKey also writes a
fresh random version into the one row of `oauth_registry_version`, in the same
transaction (a listener on every session: no write path can forget it, and there are no
bulk UPDATE/DELETE statements on those tables). Each worker's caches (clients in
app/oidc/clients.py, keys in app/oidc/keys.py) remember the version they were filled
under; `current()` reads the row once per request, and a cache whose version differs is
refilled from the tables. Another worker's or another instance's change is thus seen on
the very next request: no timer, no notification channel.

The version is random, not a counter: a transaction that bumps it and then rolls back
leaves nothing another process could later reach by counting up to the same number.
While a transaction has changed the registry, caches neither serve nor store: what it
reads may still be rolled back.

No row (a database emptied by TRUNCATE, say) reads as None: nothing is cached then, and
the next change writes the row again.
"""
from __future__ import annotations

import secrets

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import OAuthClient, SigningKey

_READ = "SELECT version FROM oauth_registry_version WHERE id = 1"
_WRITE = text("INSERT INTO oauth_registry_version (id, version) VALUES (1, :version) "
              "ON CONFLICT (id) DO UPDATE SET version = excluded.version")
_CHECKED = "_tessera_registry_version"
#: session.info key: this transaction changed the registry (cleared at commit/rollback).
_CHANGED = "tessera_registry_changed"
_REGISTRY = (OAuthClient, SigningKey)


def current() -> str | None:
    """The registry's version as this request sees it, or None when caches must not be
    used (no version row, or this transaction changed the registry itself).

    Read once per request. Outside a request (a CLI command, a sweep) every call reads.
    """
    if db.session.info.get(_CHANGED):
        return None
    this_request = request._get_current_object() if has_request_context() else None
    checked = g.get(_CHECKED) if this_request is not None else None
    # Tied to the request object, not just `g`: a test may hold one app context open
    # around several requests, and they share one `g`.
    if checked is not None and checked[0] is this_request:
        return checked[1]
    version = db.session.connection().exec_driver_sql(_READ).scalar()
    if this_request is not None:
        setattr(g, _CHECKED, (this_request, version))
    return version


@event.listens_for(Session, "before_flush")
def _bump_when_the_registry_changes(session: Session, flush_context, instances) -> None:
    if not _changes_registry(session):
        return
    session.execute(_WRITE, {"version": secrets.token_hex(16)})
    session.info[_CHANGED] = True
    if has_app_context():
        g.pop(_CHECKED, None)  # after this transaction, read the version again


def _changes_registry(session: Session) -> bool:
    """Whether this flush inserts, deletes or really changes a client or a signing key."""
    if any(isinstance(row, _REGISTRY) for row in (*session.new, *session.deleted)):
        return True
    return any(isinstance(row, _REGISTRY) and session.is_modified(row) for row in session.dirty)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _transaction_over(session: Session, *args) -> None:
    session.info.pop(_CHANGED, None)
