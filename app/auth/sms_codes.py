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
- sending is the shared code sender (app/auth/code_sender.py) over the SMS channel
  defined here, in two steps: open_code(SMS, ...) (the fitness check, the limits, a row
  nobody can redeem yet), which costs the same for every number, and
  deliver_code(SMS, ...) (the country budget, the code, the text). An SMS login or
  recovery runs the second step only for a number with an account, after the response
  (app/auth/flow.py), so neither the answer nor its timing says whether the number has
  one.

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

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l

from app.auth import one_time_codes, throttle
from app.auth.code_sender import HASH_PURPOSE, Channel, CodeError, new_code
from app.auth.send_limits import SMS_NUMBER_GAP, SMS_NUMBER_HOUR, SMS_PREFIX_HOUR, Limit, sms_limits
from app.extensions import db
from app.models import Customer, VerificationCode, utcnow
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash, matches
from app.platform.messages import brand_name, sms_text
from app.providers import sms_sender
from app.providers.base import EXPIRED, MAX_ATTEMPTS, ProviderError

LOGIN = "sms_login"
VERIFY_PHONE = "verify_phone"
SECOND_FACTOR = "sms_mfa"
RECOVERY = "sms_recovery"
PURPOSES = (LOGIN, VERIFY_PHONE, SECOND_FACTOR, RECOVERY)
THROTTLE_KIND = "sms-code"

#: Each purpose's text: the code first (a lock screen shows the start), short enough for
#: one SMS segment in every shipped language (tests/platform/test_messages.py), then the
#: WebOTP line (app/platform/messages.py sms_text).
_TEXTS = {
    # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
    LOGIN: _l("%(code)s is your %(brand)s login code. It expires in %(minutes)s minutes. "
              "Never share it."),
    # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
    VERIFY_PHONE: _l("%(code)s is your %(brand)s code to confirm this phone. It expires in "
                     "%(minutes)s minutes."),
    # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
    SECOND_FACTOR: _l("%(code)s is your %(brand)s security code. It expires in %(minutes)s "
                      "minutes. Never share it."),
    # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
    RECOVERY: _l("%(code)s is your %(brand)s code to reset your password. Never share it: "
                 "we will never ask you for it."),
}


class SmsCodeError(CodeError):
    """A text-message code cannot be sent or accepted; `message` is safe to show."""


def normalize_code(text: str | None) -> str:
    """The 6 digits of what was typed (spaces and hyphens dropped); SmsCodeError if it
    cannot be a code. Checked before any database work."""
    code = (text or "")[:32].strip().replace(" ", "").replace("-", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise SmsCodeError(_("Enter the 6-digit code from the text message."))
    return code


def _read_phone(phone: str) -> tuple[str, str]:
    """An E.164 number fit for SMS, as (value, match key); checked before anything else,
    for known and unknown numbers alike."""
    try:
        check_sms_destination(phone)
    except SmsNotAllowed as error:
        raise SmsCodeError(str(error)) from None
    return phone, phone


def _open_limits(phone: str, origin: Origin, purpose: str,
                 customer_id: str | None) -> list[Limit]:
    """The send limits reserved when a code opens; the country budget is only checked
    (delivery counts it). A second factor (a first one was proved) has its own
    per-number budget, out of strangers' reach."""
    proved_by = customer_id if purpose == SECOND_FACTOR else None
    return sms_limits(phone, origin.ip, delivered=False, proved_by=proved_by)


def _country_budget(phone: str) -> list[Limit]:
    """The per-country-calling-code limit alone, counted: see sms_limits()."""
    return [limit for limit in sms_limits(phone, None) if limit.name == SMS_PREFIX_HOUR]


def _text_code(row: VerificationCode, purpose: str, notice: bool) -> None:
    """Make the code (or let Twilio Verify make it) and text it. Our own code's hash is
    committed before the text leaves: a code is never texted that the database lacks."""
    sender = sms_sender()
    if sender.holds_codes:
        row.provider_ref = sender.start_verification(row.destination)[:64]
        return
    code = new_code()
    row.code_hash = keyed_hash(HASH_PURPOSE, code)
    db.session.commit()
    text = str(_TEXTS[purpose]) % {"code": code, "brand": brand_name(),
                                   "minutes": int(current_app.config["SMS_CODE_SECONDS"]) // 60}
    sender.send(row.destination, sms_text(text, code=code))


def _limit_message(name: str) -> str:
    if name == SMS_NUMBER_GAP:
        return _("We just sent a code to this number. Wait a moment before asking again.")
    if name == SMS_NUMBER_HOUR:
        return _("Too many codes were sent to this number. Try again later, or log in "
                 "another way (with your password).")
    return _("Too many text messages were sent from here. Try again later.")


#: The SMS channel of app/auth/code_sender.py: `send_code(SMS, phone, purpose, ...)`.
SMS = Channel(
    name="sms", label="SMS", kind="phone", purposes=PURPOSES,
    seconds_setting="SMS_CODE_SECONDS", error=SmsCodeError,
    unavailable_message=_l("Text messages cannot be sent right now. Try again later."),
    read_destination=_read_phone, limits=_open_limits, delivery_limits=_country_budget,
    transmit=_text_code, limit_message=_limit_message)


def check_code(verification_id: int, text: str, origin: Origin, *, purpose: str,
               customer: Customer | None = None) -> VerificationCode:
    """Accept the code typed for the code row `verification_id`, once. Return the spent row
    (its customer_pk says whom it proves). Raise SmsCodeError otherwise; a wrong code
    counts against the code and against the number.

    `customer`, when given, must be the row's customer: a code sent to someone else proves
    nothing here.

    Commits: a throttled or wrong code's audit event (the caller raises, and does not
    commit), and a right code's spending, so a code is single use even if the rest of
    the request fails.
    """
    code = normalize_code(text)
    row = db.session.get(VerificationCode, verification_id)
    if (row is None or row.purpose != purpose or row.kind != "phone"
            or (customer is not None and row.customer_pk != customer.id)):
        raise SmsCodeError(_("This code has expired. Ask for a new one."))
    reservation = throttle.reserve_attempt(THROTTLE_KIND, row.match_key)
    if not reservation.allowed:
        record_event("sms.code_throttled", origin, _customer_id(row), purpose=purpose)
        db.session.commit()
        raise SmsCodeError(_("Too many wrong codes for this number. Wait a little and try "
                             "again."), reservation.retry_at)
    limit = int(current_app.config["SMS_CODE_MAX_ATTEMPTS"])
    attempts = one_time_codes.count_attempt(row.id, limit)
    if attempts is None:
        raise SmsCodeError(_("This code has expired or was tried too often. Ask for a new "
                             "one."))
    db.session.refresh(row)
    if not _code_matches(row, code, origin):
        record_event("sms.code_failed", origin, _customer_id(row), purpose=purpose,
                     attempts=attempts)
        db.session.commit()
        raise SmsCodeError(one_time_codes.wrong_code_message(limit, attempts))
    if not one_time_codes.spend(row.id):
        raise SmsCodeError(_("This code has already been used."))
    throttle.clear(reservation.key_hash)
    db.session.commit()
    return row


def _code_matches(row: VerificationCode, code: str, origin: Origin) -> bool:
    """Compare the code: ours by keyed hash (constant time), Verify's by asking Twilio.
    A failed check's audit event (and the row's expiry) is committed before SmsCodeError:
    the caller does not commit a refusal."""
    if not row.provider_ref:
        return matches(row.code_hash, HASH_PURPOSE, code)
    try:
        return sms_sender().check_verification(row.destination, code)
    except ProviderError as error:
        record_event("sms.failed", origin, _customer_id(row), purpose=row.purpose,
                     provider=error.provider, reason=error.reason, status=error.status,
                     code=error.code, step="check")
        if error.reason in (MAX_ATTEMPTS, EXPIRED):
            row.expires_at = utcnow()  # Twilio will not approve it any more
            db.session.commit()
            raise SmsCodeError(_("This code has expired or was tried too often. "
                                 "Ask for a new one.")) from None
        db.session.commit()
        raise SmsCodeError(error.message) from None


def _customer_id(row: VerificationCode) -> str | None:
    customer = db.session.get(Customer, row.customer_pk) if row.customer_pk else None
    return customer.customer_id if customer else None
