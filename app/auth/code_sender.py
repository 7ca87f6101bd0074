"""Sending a one-time code, by text message or by email: one shape for both channels.

A channel (app/auth/sms_codes.py's SMS, app/auth/email_codes.py's EMAIL) says what differs:
how a destination is read, which send limits apply, how the message leaves, and the words
and error class the customer sees. Everything else is here, once:

- `open_code`: the destination is read, the send limits are reserved before any provider
  is called (a full limit is audited as "<channel>.limited"), and a code row is written
  whose hash is of a random value nobody knows, so it cannot be redeemed yet;
- `deliver_code`: the limits counted only for messages that leave (SMS: the country
  budget), then the code is made, stored and committed, and only then sent. A provider
  failure voids the row, gives the reservations back (a failed send is never counted),
  is audited as "<channel>.failed", and raises the channel's error; a success is audited
  as "<channel>.sent".

Codes are 6 digits from `secrets`, stored as a keyed hash.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app

from app.auth.send_limits import Limit, LimitReached, release, reserve
from app.extensions import db
from app.models import Customer, VerificationCode, utcnow
from app.platform.audit import Origin, record_event
from app.platform.faults import LimitsUnavailable
from app.platform.i18n import customer_locale, speaking
from app.platform.keyed_hash import keyed_hash
from app.providers.base import ProviderError

#: The keyed-hash purpose of every stored code.
HASH_PURPOSE = "verification-code"


class CodeError(ValueError):
    """A code cannot be sent or accepted; `message` is safe to show (translated: a
    module-level lazy text is read in the current language here, once). `retry_at` is
    set when waiting helps."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


@dataclass(frozen=True)
class Channel:
    """What one channel does its own way (see the module docstring)."""

    name: str                    # "sms" | "email": the audit events' prefix
    label: str                   # for the log
    kind: str                    # VerificationCode.kind: "phone" | "email"
    purposes: tuple[str, ...]
    seconds_setting: str         # the setting for how long a code lives
    error: type[CodeError]
    unavailable_message: str     # when the send limits cannot be counted (lazy_gettext)
    #: destination text -> (value, match key); raises `error` for one we cannot use.
    read_destination: Callable[[str], tuple[str, str]]
    #: (match key, origin, purpose, customer ID) -> the limits reserved when a code opens.
    limits: Callable[[str, Origin, str, str | None], list[Limit]]
    #: destination -> the limits counted only when a message leaves.
    delivery_limits: Callable[[str], list[Limit]]
    #: (row, purpose, notice): make, store and commit the code, then send it.
    transmit: Callable[[VerificationCode, str, bool], None]
    limit_message: Callable[[str], str]
    #: Whether the channel may send an owner notice instead of the code (its audit
    #: events say which it was).
    notices: bool = False


@dataclass(frozen=True)
class SentCode:
    """A code on its way: the row's id (for the flow or page to keep), the destination
    (an E.164 number, or an address) and the request's send-limit reservation (given back
    if the message is not sent)."""

    verification_id: int
    destination: str
    reservation: str | None = field(default=None, repr=False, compare=False)

    @property
    def phone(self) -> str:
        """The number a text-message code goes to (the destination, by its SMS name)."""
        return self.destination


def new_code() -> str:
    """A fresh 6-digit code."""
    return f"{secrets.randbelow(10**6):06d}"


def send_code(channel: Channel, destination: str, purpose: str, origin: Origin, *,
              customer: Customer | None, deliver: bool = True, notice: bool = False,
              payload: dict | None = None) -> SentCode:
    """Send a code for `purpose` to `destination` over `channel`: open_code() then, with
    deliver=True, deliver_code().

    `customer` is who the code will prove (None: nobody, e.g. a login to an unknown
    number). With deliver=False everything happens (reading the destination, the limits,
    the row) except the message itself, and the code can never be redeemed. With
    notice=True (channels with `notices`) the destination gets a notice instead of the
    code. Commits the row before anything leaves, so a message never names a code the
    database lacks. Raises the channel's error (a bad destination, a limit, the provider
    failed).
    """
    sent = open_code(channel, destination, purpose, origin, customer=customer,
                     payload=payload)
    db.session.commit()
    if deliver:
        deliver_code(channel, sent, purpose, origin, customer=customer, notice=notice)
    return sent


def open_code(channel: Channel, destination: str, purpose: str, origin: Origin, *,
              customer: Customer | None, payload: dict | None = None) -> SentCode:
    """The part of sending a code that costs the same whoever the destination belongs to:
    reading it, the send limits (those counted only on delivery are left for
    deliver_code), and a code row nobody can redeem yet, flushed for its id; the caller
    commits.

    A full limit is audited and committed before the channel's error is raised: the
    caller rolls back to answer, and the record of the refused send must stand.
    """
    if purpose not in channel.purposes:
        raise ValueError(f"unknown purpose {purpose!r}")
    # Read now: reserve() commits, and an expired customer would cost a query to reload.
    customer_pk, customer_id = (customer.id, customer.customer_id) if customer else (None, None)
    value, match_key = channel.read_destination(destination)
    try:
        reservation = reserve(channel.limits(match_key, origin, purpose, customer_id))
    except LimitReached as error:
        record_event(f"{channel.name}.limited", origin, customer_id, purpose=purpose,
                     limit=error.limit.name)
        db.session.commit()
        raise channel.error(channel.limit_message(error.limit.name), error.retry_at) from None
    except LimitsUnavailable:
        current_app.logger.error("%s send limits unavailable; refusing to send", channel.label)
        raise channel.error(channel.unavailable_message) from None
    now = utcnow()
    row = VerificationCode(
        purpose=purpose, kind=channel.kind, destination=value, match_key=match_key,
        code_hash=keyed_hash_of_nothing(), created_at=now,
        expires_at=now + timedelta(seconds=int(current_app.config[channel.seconds_setting])),
        customer_pk=customer_pk, payload=payload)
    db.session.add(row)
    db.session.flush()
    return SentCode(row.id, value, reservation)


def deliver_code(channel: Channel, sent: SentCode, purpose: str, origin: Origin, *,
                 customer: Customer | None, notice: bool = False) -> None:
    """Send the code of a row open_code() made: count the delivery limits, make the code
    (or let the provider make it) and send it (committed).

    The code becomes redeemable (its hash is stored and committed) just before it is
    sent, never for a message that did not leave. When a delivery limit is full or the
    provider fails, the row is voided, the send limits are given back, the failure is
    audited and committed (the caller rolls back to answer, and the record must stand),
    and the channel's error says why.
    """
    customer_id = customer.customer_id if customer else None
    row = db.session.get(VerificationCode, sent.verification_id)
    counted = _reserve_delivery(channel, row, sent, purpose, origin, customer_id)
    try:
        # In the customer's saved language (else the page's): a login code texted after
        # the response still speaks it.
        with speaking(customer_locale(customer.locale if customer else None)):
            channel.transmit(row, purpose, notice)
    except ProviderError as error:
        _not_sent(row, sent.reservation, counted)
        record_event(f"{channel.name}.failed", origin, customer_id, purpose=purpose,
                     provider=error.provider, reason=error.reason, status=error.status,
                     code=error.code)
        db.session.commit()
        current_app.logger.warning("%s not sent (%s %s %s)", channel.label, error.provider,
                                   error.reason, error.code)
        raise channel.error(error.message) from None
    if not notice:
        # Only a delivered code is "sent"; a notice leaves sent_at empty, for the record.
        row.sent_at = utcnow()
    # The same event for a code and a notice: the asker's activity reads the same.
    details = {"notice": notice} if channel.notices else {}
    record_event(f"{channel.name}.sent", origin, customer_id, purpose=purpose,
                 verification_id=sent.verification_id, **details)
    db.session.commit()


def void_code(verification_id: int) -> None:
    """Make a code row unusable for good (it was not sent: e.g. the phone-risk decision
    refused the number). The caller commits."""
    row = db.session.get(VerificationCode, verification_id)
    if row is not None:
        row.expires_at = utcnow()


def keyed_hash_of_nothing() -> str:
    """A code hash no typed code matches: the keyed hash of a random value nobody knows."""
    return keyed_hash(HASH_PURPOSE, secrets.token_hex(16))


def _reserve_delivery(channel: Channel, row: VerificationCode, sent: SentCode, purpose: str,
                      origin: Origin, customer_id: str | None) -> str | None:
    """Count the limits only a delivered message uses; on refusal the row is voided, the
    request's reservation given back, and the refusal audited and committed."""
    limits = channel.delivery_limits(sent.destination)
    if not limits:
        return None
    try:
        return reserve(limits)
    except LimitReached as error:
        _not_sent(row, sent.reservation)
        record_event(f"{channel.name}.limited", origin, customer_id, purpose=purpose,
                     limit=error.limit.name)
        db.session.commit()
        raise channel.error(channel.limit_message(error.limit.name), error.retry_at) from None
    except LimitsUnavailable:
        _not_sent(row, sent.reservation)
        db.session.commit()
        current_app.logger.error("%s send limits unavailable; refusing to send", channel.label)
        raise channel.error(channel.unavailable_message) from None


def _not_sent(row: VerificationCode, *reservations: str | None) -> None:
    """A message that did not leave: the code can never be used, and nothing counts it.
    If the counters are gone too, the send stays counted (the safe side), only logged."""
    row.expires_at = utcnow()
    for reservation in reservations:
        if reservation is not None:
            try:
                release(reservation)
            except LimitsUnavailable:
                current_app.logger.warning("send limits unavailable; a reservation stays")
