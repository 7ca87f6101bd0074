"""The steps every emailed or texted one-time code shares (sign-up, SMS and email codes).

A code row (VerificationCode) is tried in two atomic steps around the comparison:
`count_attempt` adds one to its attempts, only while it is unspent, unexpired and under
the limit, before the code is compared (so concurrent guesses cannot get more tries than
the limit); `spend` marks it consumed, only if nobody did first (so of two concurrent
right answers exactly one wins).
"""
from __future__ import annotations

from flask_babel import gettext as _, ngettext
from sqlalchemy import update

from app.extensions import db
from app.models import VerificationCode, utcnow


def count_attempt(row_id: int, limit: int) -> int | None:
    """Count one try of a live code and commit; the attempts so far, or None when the
    code is spent, expired or out of tries. It commits at once, before the code is
    compared: a wrong guess must count even though the caller then raises and rolls back,
    and concurrent guesses must see each other's counts."""
    attempts = db.session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == row_id, VerificationCode.consumed_at.is_(None),
               VerificationCode.expires_at > utcnow(), VerificationCode.attempts < limit)
        .values(attempts=VerificationCode.attempts + 1)
        .returning(VerificationCode.attempts)
    ).scalar_one_or_none()
    db.session.commit()
    return attempts


def spend(row_id: int) -> bool:
    """Mark a code used (in the caller's transaction); False if it already was."""
    return db.session.execute(
        update(VerificationCode)
        .where(VerificationCode.id == row_id, VerificationCode.consumed_at.is_(None))
        .values(consumed_at=utcnow())).rowcount == 1


def wrong_code_message(limit: int, attempts: int, *, start_again: bool = False) -> str:
    """What to say after a wrong code: the tries left, or that this code is finished and
    what to do then (ask for a new code, or with `start_again` start again: sign-up)."""
    left = limit - attempts
    if left <= 0:
        if start_again:
            return _("That code is not right, and it cannot be tried again. Start again.")
        return _("That code is not right, and it cannot be tried again. Ask for a new one.")
    return ngettext("That code is not right. %(num)d try left.",
                    "That code is not right. %(num)d tries left.", left)
