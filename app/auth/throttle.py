"""Login backoff, per identifier and per customer, and the failure counts of one-time codes.

After LOGIN_BACKOFF_THRESHOLD consecutive failures, the next attempt must wait
BASE seconds, and the wait doubles after each further failure (capped at MAX): an attacker can slow a customer
down but never lock them out for good. Identifiers we do not know are throttled exactly
like known ones, so the throttle reveals nothing.

Concurrency: an attempt is *reserved* by an atomic UPDATE ... RETURNING, committed before
the password is checked, and counted as a failure until it succeeds. So N concurrent
guesses can never get more than the threshold's worth of password checks, on SQLite or
PostgreSQL.

One mechanism serves every guessable secret: passwords (per identifier and per customer,
app/auth/login.py), second factors (per customer, app/auth/flow.py) and one-time codes
(per destination, `code_kind`: sign-up, SMS login, proving an email or phone). A code's
count is kept by its destination, not by the code, so asking for a new code (or starting
sign-up again) never gives new tries.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import LoginThrottle, utcnow
from app.platform.keyed_hash import keyed_hash


#: The failure count of one-time codes sent to an email address or a phone number, shared
#: by every purpose (app/auth/sms_codes.py keeps "sms-code" for its own codes).
_CODE_KINDS = {"email": "email-code", "phone": "sms-code"}


@dataclass(frozen=True)
class Reservation:
    """The outcome of asking to try a password: allowed, or wait until `retry_at`."""

    allowed: bool
    key_hash: str
    retry_at: datetime | None = None


def throttle_key(kind: str, match_key: str) -> str:
    """The stored key of an identifier (keyed hash: no plain identifiers in this table)."""
    return keyed_hash("login-throttle", f"{kind}:{match_key}")


def code_kind(identifier_kind: str) -> str:
    """The throttle kind that counts wrong one-time codes sent to an identifier of this
    kind ("email" or "phone"); its match key is the destination's match key."""
    return _CODE_KINDS[identifier_kind]


def reserve_attempt(kind: str, match_key: str) -> Reservation:
    """Count one attempt in its own committed transaction; refuse it while backing off.
    It commits at once (also a refused attempt's read): the count must hold whether the
    attempt then fails, and the caller rolls back, or not, and concurrent attempts must
    see it."""
    reservation = count_attempt(kind, match_key)
    db.session.commit()
    return reservation


def count_attempt(kind: str, match_key: str) -> Reservation:
    """reserve_attempt without its commit, for a caller that counts more than one attempt
    (a password: per identifier and per customer) and must commit them all before it
    checks the secret. Until that commit the count's row stays locked, so a concurrent
    attempt on the same key waits for it and then sees it.

    The attempt that reaches the threshold (and each one after it) sets the next wait, in
    the same transaction that counted it, so a concurrent attempt sees the new wait and
    is refused.
    """
    key_hash = throttle_key(kind, match_key)
    now = utcnow()
    config = current_app.config
    threshold = int(config["LOGIN_BACKOFF_THRESHOLD"])
    failures = _count(key_hash, now)
    if failures is None and _create_row(key_hash, now):
        failures = _count(key_hash, now)
    if failures is None:
        blocked_until = db.session.execute(
            select(LoginThrottle.blocked_until).where(LoginThrottle.key_hash == key_hash)
        ).scalar_one()
        return Reservation(False, key_hash, blocked_until)
    if failures >= threshold:
        delay = min(int(config["LOGIN_BACKOFF_BASE_SECONDS"]) * 2 ** (failures - threshold),
                    int(config["LOGIN_BACKOFF_MAX_SECONDS"]))
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key_hash == key_hash)
                           .values(blocked_until=now + timedelta(seconds=delay))
                           .execution_options(synchronize_session=False))
    return Reservation(True, key_hash)


#: Add one to a key's failures unless it is backing off, returning the new count. Built
#: once (every password, code and second factor runs it). No LoginThrottle is ever loaded
#: as an object, so the session has nothing to synchronise with these UPDATEs.
_COUNT = (update(LoginThrottle)
          .where(LoginThrottle.key_hash == bindparam("key"))
          .where(or_(LoginThrottle.blocked_until.is_(None),
                     LoginThrottle.blocked_until <= bindparam("now")))
          .values(failures=LoginThrottle.failures + 1, updated_at=bindparam("now"))
          .returning(LoginThrottle.failures)
          .execution_options(synchronize_session=False))


def _count(key_hash: str, now: datetime) -> int | None:
    """The key's failure count after this attempt, or None (no row yet, or backing off).
    One statement, the common case's only one."""
    return db.session.execute(_COUNT, {"key": key_hash, "now": now}).scalar_one_or_none()


def _create_row(key_hash: str, now: datetime) -> bool:
    """Make the row of a key that has none (True: count again), or False when it has one
    (so _count found it backing off). A concurrent first attempt may make it first."""
    exists = db.session.execute(
        select(LoginThrottle.key_hash).where(LoginThrottle.key_hash == key_hash)
    ).first()
    if exists:
        return False
    try:
        with db.session.begin_nested():
            db.session.execute(insert(LoginThrottle).values(
                key_hash=key_hash, failures=0, updated_at=now))
    except IntegrityError:
        pass  # another request created it first
    return True


def clear(*key_hashes: str) -> None:
    """Forget the failures after a successful login (the caller commits).

    One key at a time, in the order given, which must be the order they were counted in:
    on PostgreSQL each UPDATE locks its row, and a login clearing (identifier, customer)
    while another login with the same identifier counts them must take the locks in the
    same order, or the two can deadlock (one UPDATE over both keys locks them in whatever
    order the index scan meets them)."""
    now = utcnow()
    for key_hash in key_hashes:
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key_hash == key_hash)
                           .values(failures=0, blocked_until=None, updated_at=now)
                           .execution_options(synchronize_session=False))
