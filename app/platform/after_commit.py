"""Work that may happen only once the current database transaction has committed.

Two things must never go out for a change that did not stand: a customer's security
notice (app/platform/notifications.py) and the apps' back-channel logout (app/auth/sessions.py,
app/oidc/logout.py). Each queues its item here under a key. The queue follows the
SQLAlchemy session's transactions: a released savepoint hands its items to the enclosing
transaction, the outermost commit makes them ready, and a rollback (of the transaction or
of the savepoint the item was queued in) drops them.

Ready items are either handed to a listener at once (`on_ready`, called right after the
commit) or collected later with `take` (at the end of the request, outside any
transaction).
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db

# Keys in Session.info: items per open transaction, and items whose transaction committed.
_PENDING = "tessera.after_commit.pending"
_READY = "tessera.after_commit.ready"
_listeners: dict[str, Callable[[list], None]] = {}


def defer(key: str, item: object) -> None:
    """Queue `item` under `key` in the innermost open transaction."""
    session = db.session()  # the Session behind the scoped proxy
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, {}).setdefault(transaction, []).append((key, item))


def take(key: str) -> list:
    """The items of `key` whose transaction committed and nobody took yet; each once."""
    if not db.session.registry.has():
        return []
    return db.session.info.get(_READY, {}).pop(key, [])


def on_ready(key: str, listener: Callable[[list], None]) -> None:
    """Hand the items of `key` to `listener` as soon as their transaction commits."""
    _listeners[key] = listener


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    transaction = session.get_nested_transaction() or session.get_transaction()
    items = pending.pop(transaction, None)
    if not items:
        return
    if transaction.nested:
        pending.setdefault(transaction.parent, []).extend(items)
        return
    ready = session.info.setdefault(_READY, {})
    for key, item in items:
        ready.setdefault(key, []).append(item)
    for key, listener in _listeners.items():
        if ready.get(key):
            listener(ready.pop(key))


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction) -> None:
    """Whatever is still queued when its transaction ends was not committed: drop it."""
    pending = session.info.get(_PENDING)
    if pending:
        pending.pop(transaction, None)
