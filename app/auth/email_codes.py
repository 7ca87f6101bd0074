"""One-time codes sent by email to prove an address when a customer adds it to their
account (purpose "verify_email"). The rules follow the SMS codes (app/auth/sms_codes.py):

Sending:
- the address is normalised first (app.directory.customers.normalize_identifier), so one mailbox
  spelt two ways is one address to the limits;
- at most EMAIL_SENDS_PER_ADDRESS_PER_HOUR sends to one address an hour and one every
  EMAIL_MIN_SECONDS_BETWEEN_SENDS. They are reserved with app/auth/send_limits.py before
  the provider is called (atomic, and shared by every app instance, which counting
  VerificationCode rows before inserting one would not be: two concurrent requests would
  both see room) and released if the provider fails, so a failed send does not count;
- a code is 6 digits from `secrets`, stored as a keyed hash, valid
  VERIFICATION_CODE_SECONDS, bound to the customer who asked;
- when the address belongs to another account, the caller asks for an `owner_notice`:
  the address gets a notice instead of a code (as at sign-up), under the same limits and
  audit events, so the asker sees the same page, the same activity and the same errors.

Checking:
- at most VERIFICATION_CODE_MAX_ATTEMPTS wrong tries per code, counted by an atomic UPDATE
  before the comparison, so concurrent guesses cannot exceed it;
- a failure count per address (app/auth/throttle.py, shared with sign-up codes) that a
  new code does not reset, with the same backoff as passwords once it grows;
- a code is spent by a conditional UPDATE: of two concurrent submissions exactly one wins;
- a code proves nothing for another customer or another purpose.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app

from app.auth import one_time_codes, throttle
from app.auth.send_limits import (Limit, LimitReached, LimitsUnavailable, release, reserve)
from app.directory.customers import CustomerError, normalize_identifier
from app.extensions import db
from app.models import Customer, VerificationCode, utcnow
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash, matches
from app.providers import ProviderError, email_sender

PURPOSE = "verify_email"
_HASH_PURPOSE = "verification-code"

#: Send limits per address (module constants until they earn a setting in app/config.py).
EMAIL_SENDS_PER_ADDRESS_PER_HOUR = 5
EMAIL_MIN_SECONDS_BETWEEN_SENDS = 30
#: Limit names, for the audit log and the message the customer reads.
EMAIL_ADDRESS_HOUR = "email_address_hour"
EMAIL_ADDRESS_GAP = "email_address_gap"
HOUR = 3600

CODE_SUBJECT = "Your Tessera confirmation code"
CODE_TEXT = ("Your code to confirm this email address for your Tessera account is {code}. "
             "It expires in {minutes} minutes. Do not share it with anyone.\n\n"
             "If you did not ask for this code, you can ignore this email.")
NOTICE_SUBJECT = "Someone tried to add your email address to another account"
NOTICE_TEXT = ("Someone tried to add this email address to another Tessera account. It is "
               "already used by an account, so nothing was changed.\n\nIf it was you, log "
               "in with this address instead. If not, you can ignore this email.")

EXPIRED_MESSAGE = "This code has expired. Ask for a new one."


class EmailCodeError(ValueError):
    """A code cannot be sent or accepted; `message` is safe to show. `retry_at` is set
    when waiting helps."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


def normalize_code(text: str | None) -> str:
    """The 6 digits of what was typed (spaces and hyphens dropped); EmailCodeError if it
    cannot be a code. Checked before any database work."""
    code = (text or "")[:32].strip().replace(" ", "").replace("-", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise EmailCodeError("Enter the 6-digit code from the email.")
    return code


def email_limits(match_key: str) -> list[Limit]:
    """The limits on sending one code to an address (by its match key). The hourly limit
    comes first so that when both are full, the customer hears the longer wait."""
    return [Limit(EMAIL_ADDRESS_HOUR, match_key, HOUR, EMAIL_SENDS_PER_ADDRESS_PER_HOUR),
            Limit(EMAIL_ADDRESS_GAP, match_key, EMAIL_MIN_SECONDS_BETWEEN_SENDS, 1)]


def send_email_code(email: str, origin: Origin, *, customer: Customer | None,
                    deliver: bool = True, owner_notice: bool = False) -> int:
    """Send a code to prove `email` for `customer` and return the code row's id.

    With deliver=False everything happens (normalising, limits, the row) except the
    message. With owner_notice=True the address is sent a notice that someone tried to add
    it to another account, instead of the code; either way the row's code is one nobody
    knows. Raises EmailCodeError (a malformed address, a limit, the provider failed).
    """
    try:
        identifier = normalize_identifier("email", email)
    except CustomerError as error:
        raise EmailCodeError(str(error)) from None
    customer_id = customer.customer_id if customer else None
    try:
        reservation = reserve(email_limits(identifier.match_key))
    except LimitReached as error:
        record_event("email.limited", origin, customer_id, purpose=PURPOSE,
                     limit=error.limit.name)
        db.session.commit()
        raise EmailCodeError(_limit_message(error.limit.name), error.retry_at) from None
    except LimitsUnavailable:
        current_app.logger.error("email send limits unavailable; refusing to send")
        raise EmailCodeError("Email cannot be sent right now. Try again later.") from None

    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    seconds = int(current_app.config["VERIFICATION_CODE_SECONDS"])
    sends_code = deliver and not owner_notice
    row = VerificationCode(
        purpose=PURPOSE, kind="email", destination=identifier.value,
        match_key=identifier.match_key,
        code_hash=keyed_hash(_HASH_PURPOSE, code if sends_code else secrets.token_hex(16)),
        expires_at=now + timedelta(seconds=seconds),
        customer_pk=customer.id if customer else None)
    db.session.add(row)
    db.session.commit()
    if not deliver:
        return row.id

    try:
        if owner_notice:
            email_sender().send(identifier.value, NOTICE_SUBJECT, NOTICE_TEXT)
        else:
            email_sender().send(identifier.value, CODE_SUBJECT,
                                CODE_TEXT.format(code=code, minutes=seconds // 60))
    except ProviderError as error:
        _release_quietly(reservation)
        # The code can never be used: nobody received it.
        row.expires_at = now
        record_event("email.failed", origin, customer_id, purpose=PURPOSE,
                     provider=error.provider, reason=error.reason, status=error.status,
                     code=error.code)
        db.session.commit()
        current_app.logger.warning("email not sent (%s %s)", error.provider, error.reason)
        raise EmailCodeError(error.message) from None
    if sends_code:
        # Only a delivered code is "sent"; a notice leaves sent_at empty, for the record.
        row.sent_at = utcnow()
    # The same event for a code and a notice: the asker's activity reads the same.
    record_event("email.sent", origin, customer_id, purpose=PURPOSE, verification_id=row.id,
                 notice=owner_notice)
    db.session.commit()
    return row.id


def check_email_code(verification_id: int, text: str, origin: Origin, *,
                     customer: Customer | None) -> VerificationCode:
    """Accept the code typed for the code row `verification_id`, once, and return the
    spent row. The row must be a "verify_email" code of `customer`. Raise EmailCodeError
    otherwise; a wrong code counts against the code."""
    code = normalize_code(text)
    row = db.session.get(VerificationCode, verification_id)
    if (row is None or row.purpose != PURPOSE or row.kind != "email"
            or row.customer_pk != (customer.id if customer else None)):
        raise EmailCodeError(EXPIRED_MESSAGE)
    reservation = throttle.reserve_attempt(throttle.code_kind("email"), row.match_key)
    if not reservation.allowed:
        record_event("email.code_throttled", origin, customer.customer_id if customer else None,
                     purpose=PURPOSE)
        db.session.commit()
        raise EmailCodeError("Too many wrong codes for this address. Wait a little and try "
                             "again.", reservation.retry_at)
    limit = int(current_app.config["VERIFICATION_CODE_MAX_ATTEMPTS"])
    attempts = one_time_codes.count_attempt(row.id, limit)
    if attempts is None:
        raise EmailCodeError("This code has expired or was tried too often. Ask for a new one.")
    db.session.refresh(row)
    if not matches(row.code_hash, _HASH_PURPOSE, code):
        record_event("email.code_failed", origin, customer.customer_id if customer else None,
                     purpose=PURPOSE, attempts=attempts)
        db.session.commit()
        raise EmailCodeError(one_time_codes.wrong_code_message(limit, attempts,
                                                               "Ask for a new one."))
    if not one_time_codes.spend(row.id):
        db.session.rollback()
        raise EmailCodeError("This code has already been used.")
    throttle.clear(reservation.key_hash)
    db.session.commit()
    return row


def _release_quietly(reservation: str) -> None:
    """Give back a failed send's reservation; if the counters are gone too, the send
    stays counted (the safe side) and the failure is only logged."""
    try:
        release(reservation)
    except LimitsUnavailable:
        current_app.logger.warning("could not release an email send reservation")


def _limit_message(name: str) -> str:
    if name == EMAIL_ADDRESS_GAP:
        return "We just sent a code to this address. Wait a moment before asking again."
    return "Too many codes were sent to this address. Try again later."
