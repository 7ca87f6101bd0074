"""One-time codes sent by SMS: to log in without a password, to prove a phone when it is
added, and as a second factor.

Sending:
- the number must be fit for SMS (app/phones/sms_policy.py: no landlines, premium rate ...),
  checked before anything else, for known and unknown numbers alike;
- the send limits (app/auth/send_limits.py: 30 s between sends to a number, 5 an hour per
  number, per IP and per country prefix) are reserved before the provider is called, and
  released if the provider fails, so a failed send is never counted or recorded as sent.
  A code for a number without an account is refused by a full country budget like any
  other but does not count toward it (only texts we send do), and a second-factor code
  (after a proved first factor) counts per number in a bucket of its own customer's, so
  nobody can spend a calling code's budget with strangers' numbers, or a customer's
  per-number limit on the step they reach only with their password;
- a code is 6 digits from `secrets`, stored as a keyed hash, valid SMS_CODE_SECONDS.
  With Twilio Verify the provider makes and checks the code; we keep the same row (its
  code hash is of a random value nobody knows) for the attempt count and single use;
- sending is two steps: open_code() (the fitness check, the limits, a row nobody can
  redeem yet), which costs the same for every number, and deliver_code() (the country
  budget, the code, the text). An SMS login or recovery runs the second step only for a
  number with an account, after the response (app/auth/flow.py), so neither the answer
  nor its timing says whether the number has one.

Checking:
- at most SMS_CODE_MAX_ATTEMPTS wrong tries per code, counted by an atomic UPDATE before the
  comparison, so concurrent guesses cannot exceed it;
- a failure count per phone number (app/auth/throttle.py under the kind "sms-code") that
  a resend does not reset, with the same backoff as passwords once it grows;
- a code is spent by a conditional UPDATE: of two concurrent submissions exactly one wins.

A code is bound to its purpose and, when known, to its customer, so a code sent for one
number or customer never proves another.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from app.auth import one_time_codes, throttle
from app.auth.send_limits import (SMS_NUMBER_GAP, SMS_NUMBER_HOUR, SMS_PREFIX_HOUR, Limit,
                                  LimitReached, LimitsUnavailable, release, reserve, sms_limits)
from app.extensions import db
from app.models import Customer, VerificationCode, utcnow
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash, matches
from app.providers import EXPIRED, MAX_ATTEMPTS, ProviderError, sms_sender

LOGIN = "sms_login"
VERIFY_PHONE = "verify_phone"
SECOND_FACTOR = "sms_mfa"
RECOVERY = "sms_recovery"
PURPOSES = (LOGIN, VERIFY_PHONE, SECOND_FACTOR, RECOVERY)
_HASH_PURPOSE = "verification-code"
THROTTLE_KIND = "sms-code"

_TEXTS = {
    LOGIN: "Your Tessera login code is {code}. It expires in {minutes} minutes. "
           "Do not share it with anyone.",
    VERIFY_PHONE: "Your Tessera code to confirm this phone is {code}. It expires in "
                  "{minutes} minutes. Do not share it with anyone.",
    SECOND_FACTOR: "Your Tessera security code is {code}. It expires in {minutes} minutes. "
                   "Do not share it with anyone.",
    RECOVERY: "Your Tessera code to reset your password is {code}. It expires in {minutes} "
              "minutes. Do not share it with anyone: Tessera will never ask you for it.",
}


class SmsCodeError(ValueError):
    """A code cannot be sent or accepted; `message` is safe to show. `retry_at` is set
    when waiting helps."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


@dataclass(frozen=True)
class SentCode:
    """A code on its way: the row's id (for the flow or page to keep), the number, and
    the request's send-limit reservation (given back if the text is not sent)."""

    verification_id: int
    phone: str
    reservation: str | None = field(default=None, repr=False, compare=False)


def normalize_code(text: str | None) -> str:
    """The 6 digits of what was typed (spaces and hyphens dropped); SmsCodeError if it
    cannot be a code. Checked before any database work."""
    code = (text or "")[:32].strip().replace(" ", "").replace("-", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise SmsCodeError("Enter the 6-digit code from the text message.")
    return code


def send_code(purpose: str, phone: str, origin: Origin, *, customer: Customer | None,
              deliver: bool = True, payload: dict | None = None) -> SentCode:
    """Send a code for `purpose` to the E.164 `phone` and return its row id: open_code()
    then, with deliver=True, deliver_code().

    `customer` is who the code will prove (None: nobody, e.g. a login to an unknown
    number). With deliver=False everything happens (policy, limits, the row) except the
    message itself, and the code can never be redeemed.
    Raises SmsCodeError (unfit number, a limit, the provider failed).
    """
    sent = open_code(purpose, phone, origin, customer=customer, payload=payload)
    db.session.commit()
    if deliver:
        deliver_code(sent, purpose, origin, customer=customer)
    return sent


def open_code(purpose: str, phone: str, origin: Origin, *, customer: Customer | None,
              payload: dict | None = None) -> SentCode:
    """The part of sending a code that costs the same whoever the number belongs to: the
    number's fitness, the send limits (the country budget only checked: deliver_code
    counts it, so only texts we send use it up), and a code row that nobody can redeem yet
    (the hash of a random value), flushed for its id; the caller commits.

    An SMS login or recovery runs only this on the request path, for known and unknown
    numbers alike, so neither the time nor the queries of the answer say which it was.
    Raises SmsCodeError (unfit number, a limit: audited and committed).
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    # Read now: reserve() commits, and an expired customer would cost a query to reload.
    customer_pk, customer_id = (customer.id, customer.customer_id) if customer else (None, None)
    try:
        check_sms_destination(phone)
    except SmsNotAllowed as error:
        raise SmsCodeError(str(error)) from None
    try:
        # A second factor (a first one was proved) has its own per-number budget, out of
        # strangers' reach.
        proved_by = customer_id if purpose == SECOND_FACTOR else None
        reservation = reserve(sms_limits(phone, origin.ip, delivered=False,
                                         proved_by=proved_by))
    except LimitReached as error:
        record_event("sms.limited", origin, customer_id, purpose=purpose,
                     limit=error.limit.name)
        db.session.commit()
        raise SmsCodeError(_limit_message(error.limit.name), error.retry_at) from None
    except LimitsUnavailable:
        current_app.logger.error("SMS send limits unavailable; refusing to send")
        raise SmsCodeError("Text messages cannot be sent right now. Try again later.") from None
    now = utcnow()
    row = VerificationCode(
        purpose=purpose, kind="phone", destination=phone, match_key=phone,
        code_hash=keyed_hash(_HASH_PURPOSE, secrets.token_hex(16)), created_at=now,
        expires_at=now + timedelta(seconds=int(current_app.config["SMS_CODE_SECONDS"])),
        customer_pk=customer_pk, payload=payload)
    db.session.add(row)
    db.session.flush()
    return SentCode(row.id, phone, reservation)


def deliver_code(sent: SentCode, purpose: str, origin: Origin, *,
                 customer: Customer | None) -> None:
    """Text the code of a row open_code() made: count it in the country's budget, make
    the code (or let Twilio Verify make it) and send it (committed).

    The code becomes redeemable (its hash is stored and committed) just before it is
    sent, never for a text that did not leave. When the country budget is full or the
    provider fails, the row is voided, the send limits are given back, the failure is
    audited, and SmsCodeError says why.
    """
    customer_id = customer.customer_id if customer else None
    row = db.session.get(VerificationCode, sent.verification_id)
    try:
        counted = reserve(_country_budget(sent.phone))
    except LimitReached as error:
        _not_sent(row, sent.reservation)
        record_event("sms.limited", origin, customer_id, purpose=purpose,
                     limit=error.limit.name)
        db.session.commit()
        raise SmsCodeError(_limit_message(error.limit.name), error.retry_at) from None
    except LimitsUnavailable:
        _not_sent(row, sent.reservation)
        db.session.commit()
        current_app.logger.error("SMS send limits unavailable; refusing to send")
        raise SmsCodeError("Text messages cannot be sent right now. Try again later.") from None
    sender = sms_sender()
    try:
        if sender.holds_codes:
            row.provider_ref = sender.start_verification(sent.phone)[:64]
        else:
            code = f"{secrets.randbelow(10**6):06d}"
            row.code_hash = keyed_hash(_HASH_PURPOSE, code)
            db.session.commit()
            minutes = int(current_app.config["SMS_CODE_SECONDS"]) // 60
            sender.send(sent.phone, _TEXTS[purpose].format(code=code, minutes=minutes))
    except ProviderError as error:
        _not_sent(row, sent.reservation, counted)
        record_event("sms.failed", origin, customer_id, purpose=purpose,
                     provider=error.provider, reason=error.reason, status=error.status,
                     code=error.code)
        db.session.commit()
        current_app.logger.warning("SMS not sent (%s %s %s)", error.provider, error.reason,
                                   error.code)
        raise SmsCodeError(error.message) from None
    row.sent_at = utcnow()
    record_event("sms.sent", origin, customer_id, purpose=purpose,
                 verification_id=sent.verification_id)
    db.session.commit()


def void_code(verification_id: int) -> None:
    """Make a code row unusable for good (it was not sent: e.g. the phone-risk decision
    refused the number). The caller commits."""
    row = db.session.get(VerificationCode, verification_id)
    if row is not None:
        row.expires_at = utcnow()


def _country_budget(phone: str) -> list[Limit]:
    """The per-country-calling-code limit alone, counted: see sms_limits()."""
    return [limit for limit in sms_limits(phone, None) if limit.name == SMS_PREFIX_HOUR]


def _not_sent(row: VerificationCode, *reservations: str | None) -> None:
    """A text that did not leave: the code can never be used, and nothing counts it."""
    row.expires_at = utcnow()
    for reservation in reservations:
        if reservation is not None:
            try:
                release(reservation)
            except LimitsUnavailable:
                current_app.logger.warning("send limits unavailable; a reservation stays")


def check_code(verification_id: int, text: str, origin: Origin, *, purpose: str,
               customer: Customer | None = None) -> VerificationCode:
    """Accept the code typed for the code row `verification_id`, once. Return the spent row
    (its customer_pk says whom it proves). Raise SmsCodeError otherwise; a wrong code
    counts against the code and against the number.

    `customer`, when given, must be the row's customer: a code sent to someone else proves
    nothing here.
    """
    code = normalize_code(text)
    row = db.session.get(VerificationCode, verification_id)
    if (row is None or row.purpose != purpose or row.kind != "phone"
            or (customer is not None and row.customer_pk != customer.id)):
        raise SmsCodeError("This code has expired. Ask for a new one.")
    reservation = throttle.reserve_attempt(THROTTLE_KIND, row.match_key)
    if not reservation.allowed:
        record_event("sms.code_throttled", origin, _customer_id(row), purpose=purpose)
        db.session.commit()
        raise SmsCodeError("Too many wrong codes for this number. Wait a little and try "
                           "again.", reservation.retry_at)
    limit = int(current_app.config["SMS_CODE_MAX_ATTEMPTS"])
    attempts = one_time_codes.count_attempt(row.id, limit)
    if attempts is None:
        raise SmsCodeError("This code has expired or was tried too often. Ask for a new one.")
    db.session.refresh(row)
    if not _code_matches(row, code, origin):
        record_event("sms.code_failed", origin, _customer_id(row), purpose=purpose,
                     attempts=attempts)
        db.session.commit()
        raise SmsCodeError(one_time_codes.wrong_code_message(limit, attempts,
                                                             "Ask for a new one."))
    if not one_time_codes.spend(row.id):
        db.session.rollback()
        raise SmsCodeError("This code has already been used.")
    throttle.clear(reservation.key_hash)
    db.session.commit()
    return row


def _code_matches(row: VerificationCode, code: str, origin: Origin) -> bool:
    """Compare the code: ours by keyed hash (constant time), Verify's by asking Twilio."""
    if not row.provider_ref:
        return matches(row.code_hash, _HASH_PURPOSE, code)
    try:
        return sms_sender().check_verification(row.destination, code)
    except ProviderError as error:
        record_event("sms.failed", origin, _customer_id(row), purpose=row.purpose,
                     provider=error.provider, reason=error.reason, status=error.status,
                     code=error.code, step="check")
        if error.reason in (MAX_ATTEMPTS, EXPIRED):
            row.expires_at = utcnow()  # Twilio will not approve it any more
            db.session.commit()
            raise SmsCodeError("This code has expired or was tried too often. "
                               "Ask for a new one.") from None
        db.session.commit()
        raise SmsCodeError(error.message) from None


def _customer_id(row: VerificationCode) -> str | None:
    customer = db.session.get(Customer, row.customer_pk) if row.customer_pk else None
    return customer.customer_id if customer else None


def _limit_message(name: str) -> str:
    if name == SMS_NUMBER_GAP:
        return "We just sent a code to this number. Wait a moment before asking again."
    if name == SMS_NUMBER_HOUR:
        return ("Too many codes were sent to this number. Try again later, or log in "
                "another way (with your password).")
    return "Too many text messages were sent from here. Try again later."
