"""Recovery codes: single-use codes that stand in for the authenticator app when it is lost
(NIST SP 800-63B "look-up secrets").

A set of COUNT codes is made when an app is added and can be renewed; a new set replaces
the old one as a whole. Each code is 10 characters from an alphabet without look-alikes
(no 0/o, 1/l/i), about 49 random bits, shown as "xxxxx-xxxxx" and read back in any case,
with or without the hyphen and spaces. Only keyed hashes are stored. Using a code claims
it with one conditional UPDATE, so of concurrent uses of one code exactly one succeeds.
The lookup is by keyed hash, so its timing says nothing useful about the stored codes.
"""
from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select, update

from app.extensions import db
from app.models import Customer, RecoveryCode, TotpCredential, utcnow
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash
from app.platform.notifications import notify_security_change_after_commit

COUNT = 10
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10
_PURPOSE = "recovery-code"
# Longer input is refused before any work; a code with generous spacing fits easily.
_MAX_INPUT = 64


class RecoveryCodeError(ValueError):
    """Recovery codes cannot be made now; the message is safe to show."""


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise(code: str | None) -> str | None:
    """The 10 code characters of what was typed (any case, spaces, hyphens), or None."""
    if not isinstance(code, str) or len(code) > _MAX_INPUT:
        return None
    compact = "".join(code.split()).replace("-", "").lower()
    if len(compact) != LENGTH or any(ch not in ALPHABET for ch in compact):
        return None
    return compact


def _hash(normalised: str) -> str:
    return keyed_hash(_PURPOSE, normalised)


def generate(customer: Customer, origin: Origin) -> list[str]:
    """Replace the customer's codes with COUNT new ones and return them for showing once.

    Audits "recovery_codes.generated" but does NOT commit: callers make it part of their
    own transaction (confirming an app, or `renew`).
    """
    codes: list[str] = []
    # ~49 bits each: a repeat is all but impossible, but cheap to rule out.
    while len(codes) < COUNT:
        code = _new_code()
        if code not in codes:
            codes.append(code)
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.customer_pk == customer.id)
                       .execution_options(synchronize_session=False))
    now = utcnow()
    db.session.execute(insert(RecoveryCode), [
        {"customer_pk": customer.id, "code_hash": _hash(normalise(code)), "created_at": now}
        for code in codes])
    record_event("recovery_codes.generated", origin, customer.customer_id, count=COUNT)
    return codes


def renew(customer: Customer, origin: Origin) -> list[str]:
    """A new set for a customer with a confirmed app; the caller commits, and the
    customer is notified once it has.

    RecoveryCodeError (nothing written) without an app: codes only stand in for one. The
    credential row is locked first so a concurrent removal cannot leave codes behind.
    """
    credential = db.session.execute(
        select(TotpCredential.customer_pk)
        .where(TotpCredential.customer_pk == customer.id,
               TotpCredential.confirmed_at.is_not(None))
        .with_for_update()
    ).first()
    if credential is None:
        raise RecoveryCodeError(_("Recovery codes stand in for an authenticator app. Set up "
                                  "an authenticator app first."))
    codes = generate(customer, origin)
    notify_security_change_after_commit(customer, "recovery_codes_renewed")
    return codes


def use(customer: Customer, code: str, origin: Origin) -> bool:
    """Spend one recovery code: True once per code, then never again.

    On success audits "recovery_code.used" with how many remain, and commits itself: the
    code is spent before the login proceeds, so it stays spent even if the rest of the
    request fails, and a concurrent request cannot use it too. Malformed input returns
    False without touching the database. Failure counting is the caller's.
    """
    normalised = normalise(code)
    if normalised is None:
        return False
    claimed = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.customer_pk == customer.id,
               RecoveryCode.code_hash == _hash(normalised),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    record_event("recovery_code.used", origin, customer.customer_id,
                 remaining=remaining(customer))
    db.session.commit()
    return True


def are_current(customer: Customer, codes: list[str]) -> bool:
    """True if `codes` are exactly the customer's set, none of them used yet: what the
    page that has just shown a new set may offer to download. Reads only hashes."""
    hashes = {_hash(n) for n in map(normalise, codes) if n is not None}
    if len(hashes) != COUNT or len(codes) != COUNT:
        return False
    stored = set(db.session.scalars(select(RecoveryCode.code_hash).where(
        RecoveryCode.customer_pk == customer.id, RecoveryCode.used_at.is_(None))))
    return stored == hashes


def remaining(customer: Customer) -> int:
    """How many of the customer's recovery codes are still unused."""
    return db.session.scalar(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.customer_pk == customer.id, RecoveryCode.used_at.is_(None)))
