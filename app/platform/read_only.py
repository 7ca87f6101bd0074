"""Views that only read: on SQLite their transaction starts with a plain BEGIN.

Every other SQLite transaction starts with BEGIN IMMEDIATE (app/__init__.py), taking the
database's one write lock at once, so concurrent writers queue instead of failing when a
read lock cannot be upgraded. A view that never writes needs no write lock: with
`@reads_only` it reads a snapshot (WAL mode) beside any writer, and two workers
introspecting tokens no longer wait for each other. PostgreSQL is unaffected.

Mark only views that write nothing on any path. If one ever does write (the first start
creates the signing keys from whatever request needs them first), SQLite upgrades the
lock then, which can fail with "database is locked" only if another writer committed in
between: a one-off error, never a wrong answer.
"""
from __future__ import annotations

from flask import current_app, has_request_context, request

_MARK = "tessera_reads_only"


def reads_only(view):
    """Mark a view function as never writing to the database."""
    setattr(view, _MARK, True)
    return view


def request_reads_only() -> bool:
    """Whether the current request's view is marked @reads_only."""
    if not has_request_context() or request.endpoint is None:
        return False
    return getattr(current_app.view_functions.get(request.endpoint), _MARK, False)
