"""The email channel of account recovery (app/auth/recovery.py): a 6-digit code emailed to
a verified address of an active customer, to reset a forgotten password.

It is the sign-up email channel (app/auth/email_codes.py's EMAIL) with its own purpose and
words, so it has the same rules: the address is normalised first (one mailbox spelt two
ways is one address), the same per-address send limits (EMAIL_SENDS_PER_ADDRESS_PER_HOUR,
one every EMAIL_MIN_SECONDS_BETWEEN_SENDS) reserved before anything is sent, the same
wrong-code limit per code and the same failure backoff per address (app/auth/throttle.py),
and single use.

No enumeration: `open_reset_code` does the same work for every address (one lookup, the
send limits, a code row nobody can redeem yet), and the email itself is the job the caller
runs after the response (`email_reset_code`), only for the address of an active customer.
An unknown address is sent nothing, and its code row can never be redeemed.
"""
from __future__ import annotations

import dataclasses

from flask_babel import lazy_gettext as _l

from app.auth import code_sender, email_codes
from app.auth.code_sender import SentCode
from app.extensions import db
from app.models import Customer, Identifier, VerificationCode
from app.platform.audit import Origin

#: The code row's purpose: a code to reset a password, sent by email.
RECOVERY = "email_recovery"
#: The factor a recovery flow records for a proved email code (not an RFC 8176 value: a
#: recovery flow starts no session, so no `amr` is ever made of it).
EMAIL_FACTOR = "email"

RESET_SUBJECT = _l("Your code to reset your %(brand)s password")
RESET_TEXT = (_l("Your code to reset the password of your %(brand)s account is %(code)s. It "
                 "expires in %(minutes)s minutes. Do not share it with anyone: %(brand)s will "
                 "never ask you for it."),
              _l("If you did not ask to reset your password, ignore this email: your "
                 "password stays as it is."))


def _email_reset_code(row: VerificationCode, purpose: str, notice: bool) -> None:
    """Email the reset code (its hash committed first: email_codes.email_new_code)."""
    email_codes.email_new_code(row, RESET_SUBJECT, RESET_TEXT)


#: The email channel for recovery codes: sign-up's limits, messages and error class.
EMAIL_RECOVERY = dataclasses.replace(email_codes.EMAIL, purposes=(RECOVERY,),
                                     transmit=_email_reset_code, notices=False)


def looks_like_email(text: str | None) -> bool:
    """Whether what was typed on "Forgot your password?" is an email address (a phone
    number never has an "@")."""
    return "@" in (text or "")


def customer_with_verified_email(match_key: str) -> Customer | None:
    """The active customer whose verified email address has this match key, or None. One
    query either way: a recovery must cost the same for a stranger's address."""
    return db.session.scalar(
        db.select(Customer).join(Identifier, Identifier.customer_pk == Customer.id)
        .where(Identifier.kind == "email", Identifier.match_key == match_key,
               Identifier.verified_at.is_not(None), Customer.status == "active"))


def open_reset_code(address_text: str, origin: Origin) -> tuple[int | None, SentCode]:
    """Read the address, find its customer, reserve the send limits and write a code row
    nobody can redeem yet, the same for every address (code_sender.open_code); return the
    customer's primary key (None: nobody's address) and the code. The caller commits, then
    runs `email_reset_code` after the response. EmailCodeError for an address we cannot
    read or a full limit (audited as "email.limited")."""
    _, match_key = EMAIL_RECOVERY.read_destination(address_text)
    customer = customer_with_verified_email(match_key)
    # Read now: the limits commit, and reloading an expired customer would cost a query
    # that a stranger's address does not.
    customer_pk = customer.id if customer else None
    sent = code_sender.open_code(EMAIL_RECOVERY, address_text, RECOVERY, origin,
                                 customer=customer)
    return customer_pk, sent


def email_reset_code(customer_pk: int | None, sent: SentCode, origin: Origin) -> None:
    """The deferred job: email the code when the address is a customer's (nobody's
    address is sent nothing). Commits itself (code_sender.deliver_code): it runs after the
    response, with no request left to commit for it."""
    if customer_pk is None:
        return
    customer = db.session.get(Customer, customer_pk)
    code_sender.deliver_code(EMAIL_RECOVERY, sent, RECOVERY, origin, customer=customer)


def check_reset_code(verification_id: int, text: str, origin: Origin) -> Customer:
    """The customer a right code proves, if their address is still verified and they are
    active. EmailCodeError otherwise (a wrong code counts against the code and the address,
    and its audit event is committed, as for every email code)."""
    row = db.session.get(VerificationCode, verification_id)
    customer = db.session.get(Customer, row.customer_pk) if row and row.customer_pk else None
    spent = email_codes.check_email_code(verification_id, text, origin, customer=customer,
                                         purpose=RECOVERY)
    if customer is None or customer_with_verified_email(spent.match_key) is not customer:
        raise email_codes.EmailCodeError(email_codes.EXPIRED_MESSAGE)
    return customer
