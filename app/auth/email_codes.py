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

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l

from app.auth import one_time_codes, throttle
from app.auth.code_sender import HASH_PURPOSE, Channel, CodeError, new_code, send_code
from app.auth.send_limits import Limit
from app.directory.customers import CustomerError, normalize_identifier
from app.extensions import db
from app.models import Customer, VerificationCode
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash, matches
from app.platform.messages import brand_name, compose_email
from app.providers import email_sender

PURPOSE = "verify_email"

#: Send limits per address (module constants until they earn a setting in app/config.py).
EMAIL_SENDS_PER_ADDRESS_PER_HOUR = 5
EMAIL_MIN_SECONDS_BETWEEN_SENDS = 30
#: Limit names, for the audit log and the message the customer reads.
EMAIL_ADDRESS_HOUR = "email_address_hour"
EMAIL_ADDRESS_GAP = "email_address_gap"
HOUR = 3600

#: The code email (subject, paragraphs; filled with brand, code and minutes).
CODE_SUBJECT = _l("Your %(brand)s confirmation code")
CODE_TEXT = (_l("Your code to confirm this email address for your %(brand)s account is "
                "%(code)s. It expires in %(minutes)s minutes. Do not share it with anyone."),
             _l("If you did not ask for this code, you can ignore this email."))
NOTICE_SUBJECT = _l("Someone tried to add your email address to another account")
NOTICE_TEXT = (_l("Someone tried to add this email address to another %(brand)s account. It "
                  "is already used by an account, so nothing was changed."),
               _l("If it was you, log in with this address instead. If not, you can ignore "
                  "this email."))

EXPIRED_MESSAGE = _l("This code has expired. Ask for a new one.")


class EmailCodeError(CodeError):
    """An email code cannot be sent or accepted; `message` is safe to show."""


def normalize_code(text: str | None) -> str:
    """The 6 digits of what was typed (spaces and hyphens dropped); EmailCodeError if it
    cannot be a code. Checked before any database work."""
    code = (text or "")[:32].strip().replace(" ", "").replace("-", "")
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        raise EmailCodeError(_("Enter the 6-digit code from the email."))
    return code


def email_limits(match_key: str) -> list[Limit]:
    """The limits on sending one code to an address (by its match key). The hourly limit
    comes first so that when both are full, the customer hears the longer wait."""
    return [Limit(EMAIL_ADDRESS_HOUR, match_key, HOUR, EMAIL_SENDS_PER_ADDRESS_PER_HOUR),
            Limit(EMAIL_ADDRESS_GAP, match_key, EMAIL_MIN_SECONDS_BETWEEN_SENDS, 1)]


def _read_address(email: str) -> tuple[str, str]:
    """The normalised address as (value, match key); EmailCodeError if it is not one."""
    try:
        identifier = normalize_identifier("email", email)
    except CustomerError as error:
        raise EmailCodeError(str(error)) from None
    return identifier.value, identifier.match_key


def _open_limits(match_key: str, origin: Origin, purpose: str,
                 customer_id: str | None) -> list[Limit]:
    """The limits reserved when an email code opens: the address's (email_limits)."""
    return email_limits(match_key)


def _no_delivery_limits(address: str) -> list[Limit]:
    """Email has no limit counted only on delivery."""
    return []


def _email_code(row: VerificationCode, purpose: str, notice: bool) -> None:
    """Email the code, or with `notice` the owner notice instead (the row's code then
    stays one nobody knows). The code's hash is committed before the email leaves."""
    if notice:
        email = compose_email(str(NOTICE_SUBJECT) % {"brand": brand_name()},
                              [str(line) % {"brand": brand_name()} for line in NOTICE_TEXT])
        email_sender().send(row.destination, email.subject, email.text, html=email.html)
        return
    email_new_code(row, CODE_SUBJECT, CODE_TEXT)


def email_new_code(row: VerificationCode, subject, paragraphs) -> None:
    """Make a code for `row`, commit its hash, then email it to the row's address: the
    `subject` and `paragraphs` (gettext strings filled with %(brand)s, %(code)s and
    %(minutes)s), in the language of the enclosing `speaking` block (code_sender). A code
    is never sent that the database lacks. Shared with the recovery codes' channel
    (app/auth/email_recovery.py)."""
    code = new_code()
    row.code_hash = keyed_hash(HASH_PURPOSE, code)
    db.session.commit()
    values = {"brand": brand_name(), "code": code,
              "minutes": int(current_app.config["VERIFICATION_CODE_SECONDS"]) // 60}
    email = compose_email(str(subject) % values, [str(line) % values for line in paragraphs],
                          code=code)
    email_sender().send(row.destination, email.subject, email.text, html=email.html)


def _limit_message(name: str) -> str:
    if name == EMAIL_ADDRESS_GAP:
        return _("We just sent a code to this address. Wait a moment before asking again.")
    return _("Too many codes were sent to this address. Try again later.")


#: The email channel of app/auth/code_sender.py: `send_code(EMAIL, address, PURPOSE, ...)`.
EMAIL = Channel(
    name="email", label="email", kind="email", purposes=(PURPOSE,),
    seconds_setting="VERIFICATION_CODE_SECONDS", error=EmailCodeError,
    unavailable_message=_l("Email cannot be sent right now. Try again later."),
    read_destination=_read_address, limits=_open_limits,
    delivery_limits=_no_delivery_limits, transmit=_email_code, limit_message=_limit_message,
    notices=True)


def send_email_code(email: str, origin: Origin, *, customer: Customer | None,
                    deliver: bool = True, owner_notice: bool = False) -> int:
    """Send a code to prove `email` for `customer` and return the code row's id: the
    shared code sender over EMAIL (app/auth/code_sender.send_code), kept as a short name
    for the many callers that ask for one address's code.

    With owner_notice=True the address is sent a notice that someone tried to add it to
    another account, instead of the code. Raises EmailCodeError.
    """
    return send_code(EMAIL, email, PURPOSE, origin, customer=customer, deliver=deliver,
                     notice=owner_notice).verification_id


def check_email_code(verification_id: int, text: str, origin: Origin, *,
                     customer: Customer | None, purpose: str = PURPOSE) -> VerificationCode:
    """Accept the code typed for the code row `verification_id`, once, and return the
    spent row. The row must be a `purpose` code ("verify_email" unless another channel's,
    e.g. app/auth/email_recovery.py's) of `customer`. Raise EmailCodeError otherwise; a
    wrong code counts against the code.

    Commits: a throttled or wrong code's audit event (the caller raises, and does not
    commit), and a right code's spending, so a code is single use even if the rest of
    the request fails."""
    code = normalize_code(text)
    row = db.session.get(VerificationCode, verification_id)
    if (row is None or row.purpose != purpose or row.kind != "email"
            or row.customer_pk != (customer.id if customer else None)):
        raise EmailCodeError(EXPIRED_MESSAGE)
    reservation = throttle.reserve_attempt(throttle.code_kind("email"), row.match_key)
    if not reservation.allowed:
        record_event("email.code_throttled", origin, customer.customer_id if customer else None,
                     purpose=purpose)
        db.session.commit()
        raise EmailCodeError(_("Too many wrong codes for this address. Wait a little and "
                               "try again."), reservation.retry_at)
    limit = int(current_app.config["VERIFICATION_CODE_MAX_ATTEMPTS"])
    attempts = one_time_codes.count_attempt(row.id, limit)
    if attempts is None:
        raise EmailCodeError(_("This code has expired or was tried too often. Ask for a new "
                               "one."))
    db.session.refresh(row)
    if not matches(row.code_hash, HASH_PURPOSE, code):
        record_event("email.code_failed", origin, customer.customer_id if customer else None,
                     purpose=purpose, attempts=attempts)
        db.session.commit()
        raise EmailCodeError(one_time_codes.wrong_code_message(limit, attempts))
    if not one_time_codes.spend(row.id):
        raise EmailCodeError(_("This code has already been used."))
    throttle.clear(reservation.key_hash)
    db.session.commit()
    return row
