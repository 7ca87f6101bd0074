"""Adding, confirming and removing a customer's phones and emails: the one service behind
the account pages (app/web/account_identifiers.py: the customer proves a number or address
with a code) and the admin API (app/admin/directory_views.py: support vouches for it).

Everything here changes the database in the caller's transaction; the view commits once,
and the customer's notices are queued to go out when that commit happens
(app/platform/notifications.py), so nothing is announced that did not stand.

Who is acting is read from the origin, as in app/directory/customers.py: "customer" is the
customer on the account pages; anyone else (support, the CLI) acts on their behalf. The
customer hears of their own changes by email; of support's on every channel we trust,
because a change made by support is exactly what an impostor talks support into.

Adding never reveals whether a number or address belongs to someone else: the asker gets
the same answers, and a code row bound to them whose code nobody knows. The owner hears of
it instead: an email address gets a notice in place of the code (as at sign-up). A phone
number is different, because numbers are recycled to new subscribers: the code is texted
to whoever holds the phone now, and proving it moves the number to the prover
(customers.take_over_phone: the old binding is marked recycled and the old customer is
told); the owner's verified email addresses hear of the attempt.

The "last way in" rule, for every removal: an account keeps one identifier (nobody could
find it otherwise: customers.remove_identifier), and a customer removing their own also
keeps a way to log in (`can_log_in_without`). Support may remove a way to log in the
customer lost (a reassigned number, say) and then issue a recovery link.
"""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l

from app.auth import code_sender, email_codes, sms_codes
from app.directory.customers import (CustomerError, IdentifierTaken, LastIdentifier,
                                     NormalizedIdentifier, add_identifier, find_by_identifier,
                                     normalize_identifier, remove_identifier, take_over_phone,
                                     verify_identifier)
from app.extensions import db
from app.models import Customer, Identifier, PasswordCredential, VerificationCode
from app.models.customer import IDENTIFIER_KINDS
from app.models.phone import SUSPECT
from app.phones import bindings
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.notifications import (notify_after_commit, notify_phone_claimed_after_commit,
                                        notify_removed_address_after_commit,
                                        notify_security_change_after_commit)

#: Kinds the customer manages on the account pages, and the kinds anyone is told about
#: (there is no notice for a username).
NOTIFIED_KINDS = ("phone", "email")
#: What each kind is called on the pages (lazy: translated where it is shown).
LABELS = {"phone": _l("phone number"), "email": _l("email address")}


class IdentifierChangeError(CustomerError):
    """Adding, confirming or removing cannot go on; `message` is safe to show (translated:
    a module-level lazy text is read in the current language here)."""

    def __init__(self, message: str) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message


class LastWayIn(IdentifierChangeError):
    """Removing the identifier would break the "last way in" rule (module docstring)."""


# ---- the customer, with a code -------------------------------------------------------------

def start_phone(customer: Customer, text: str, origin: Origin) -> tuple[int, str]:
    """Text a code to prove the phone `text` for `customer`; return (row id, E.164).

    A number on another customer's account gets the code too: whoever holds the phone
    now receives it, and proving it is how a recycled number moves to its new holder
    (see confirm). Its owner's verified emails get a notice when the caller commits. The
    answers read the same either way. Raises IdentifierChangeError with a message for the
    form.
    """
    identifier = _normalize("phone", text)
    owner = _claimed_elsewhere(customer, identifier)
    try:
        sent = code_sender.send_code(sms_codes.SMS, identifier.value, sms_codes.VERIFY_PHONE,
                                     origin, customer=customer)
    except sms_codes.SmsCodeError as error:
        raise IdentifierChangeError(error.message) from None
    if owner is not None:
        record_event("identifier.attempted_existing", origin, owner.customer_id, kind="phone")
        notify_phone_claimed_after_commit(owner, identifier.value)
    return sent.verification_id, identifier.value


def start_email(customer: Customer, text: str, origin: Origin) -> tuple[int, str]:
    """Email a code to prove the address `text` for `customer`; return (row id, address).

    An address of another customer gets a notice instead of the code, under the same
    limits. Raises IdentifierChangeError with a message for the form.
    """
    identifier = _normalize("email", text)
    owner = _claimed_elsewhere(customer, identifier)
    try:
        verification_id = email_codes.send_email_code(
            identifier.value, origin, customer=customer, owner_notice=owner is not None)
    except email_codes.EmailCodeError as error:
        raise IdentifierChangeError(error.message) from None
    if owner is not None:
        record_event("identifier.attempted_existing", origin, owner.customer_id, kind="email")
    return verification_id, identifier.value


def confirm(customer: Customer, kind: str, verification_id: int, value: str, code: str,
            origin: Origin) -> Identifier:
    """Check the code sent to `value` and add it to `customer` as a verified identifier
    (or mark their unverified one verified), and queue the notice to the customer's
    verified addresses. Raises IdentifierChangeError: the caller rolls back, and nothing
    changes but the code's attempt count (which the code check commits itself)."""
    try:
        if kind == "phone":
            sms_codes.normalize_code(code)
        else:
            email_codes.normalize_code(code)
    except (sms_codes.SmsCodeError, email_codes.EmailCodeError) as error:
        raise IdentifierChangeError(error.message) from None
    identifier = _normalize(kind, value)
    row = db.session.get(VerificationCode, verification_id)
    # The code must have gone to this very number or address: the session's pair is
    # checked against the row before any attempt is spent.
    if row is None or row.kind != kind or row.match_key != identifier.match_key:
        raise IdentifierChangeError(email_codes.EXPIRED_MESSAGE)
    try:
        if kind == "phone":
            sms_codes.check_code(verification_id, code, origin,
                                 purpose=sms_codes.VERIFY_PHONE, customer=customer)
        else:
            email_codes.check_email_code(verification_id, code, origin, customer=customer)
    except (sms_codes.SmsCodeError, email_codes.EmailCodeError) as error:
        raise IdentifierChangeError(error.message) from None

    own = _own_identifier(customer, identifier)
    if (own is not None and own.verified_at is not None
            and not _needs_reproof(customer, identifier)):
        raise IdentifierChangeError(_already_yours(kind))
    try:
        if own is not None:
            verify_identifier(own, origin)
            bound = own
        elif kind == "phone":
            # Possession of the phone, just proved, wins over a stale binding elsewhere;
            # the previous owner is told by bindings.mark_recycled when this commits.
            bound, _previous_owner = take_over_phone(customer, identifier, origin)
        else:
            bound = add_identifier(customer, identifier, origin, verified=True)
    except IdentifierTaken:
        # Someone else holds it (it was never free, or it was added after the code went).
        raise IdentifierChangeError(_("This code is no longer valid. Ask for a new one.")) \
            from None
    except CustomerError as error:
        raise IdentifierChangeError(str(error)) from None
    _tell_customer(customer, kind, "added", identifier.value, origin)
    return bound


# ---- support, vouching ------------------------------------------------------------------------

def add(customer: Customer, identifier: NormalizedIdentifier, origin: Origin, *,
        verified: bool) -> Identifier:
    """Add an identifier support vouches for (`verified`: support checked possession; a
    verified phone is bound for SMS login) and queue the customer's notice. Raises
    AlreadyOnAccount, IdentifierTaken, or CustomerError (the value is refused)."""
    row = add_identifier(customer, identifier, origin, verified=verified)
    _tell_customer(customer, identifier.kind, "added", identifier.value, origin)
    return row


def verify(identifier: Identifier, origin: Origin) -> bool:
    """Mark an identifier verified on support's word; return whether it was not before.
    Verifying a verified one changes nothing but a phone's last verification time, and
    only a newly verified one is worth a notice: from now on it logs in (a phone) or
    receives notices (an email)."""
    newly_verified = identifier.verified_at is None
    verify_identifier(identifier, origin)
    if newly_verified:
        _tell_customer(identifier.customer, identifier.kind, "added", identifier.value,
                       origin)
    return newly_verified


# ---- removing (both) ------------------------------------------------------------------------

def remove(customer: Customer, identifier_id: int, origin: Origin, *,
           kinds: tuple[str, ...] = IDENTIFIER_KINDS) -> NormalizedIdentifier | None:
    """Remove the customer's identifier `identifier_id` (of one of `kinds`) under the
    "last way in" rule, and queue the notices; return what was removed.

    Returns None when the customer has no such identifier (the caller answers 404, the
    same as for another customer's). Raises LastWayIn. A removed verified email address
    hears of it too.
    """
    # Lock the customer row (PostgreSQL) so two concurrent removals cannot each leave
    # the other's identifier as "the remaining one" and together remove both.
    db.session.refresh(customer, with_for_update=True)
    identifier = next((row for row in customer.identifiers
                       if row.id == identifier_id and row.kind in kinds), None)
    if identifier is None:
        return None
    by_customer = origin.actor == "customer"
    if by_customer and not can_log_in_without(customer, identifier):
        raise LastWayIn(_last_way_in(identifier.kind))
    kind, value, was_verified = identifier.kind, identifier.value, identifier.verified_at
    # A plain copy: the row is deleted and expired by the commit.
    removed = NormalizedIdentifier(kind, value, identifier.match_key)
    try:
        remove_identifier(identifier, origin)
    except LastIdentifier as error:
        raise LastWayIn(str(error)) from None
    _tell_customer(customer, kind, "removed", value, origin)
    if kind == "email" and was_verified:
        notify_removed_address_after_commit(value, "customer" if by_customer else "support",
                                            locale=customer.locale)
    return removed


def can_log_in_without(customer: Customer, removing: Identifier) -> bool:
    """Whether `customer` can still log in once `removing` is gone: any identifier with
    the password, or a verified phone we can text a login code to."""
    remaining = [row for row in customer.identifiers if row.id != removing.id]
    if remaining and db.session.get(PasswordCredential, customer.id) is not None:
        return True
    for row in remaining:
        if row.kind == "phone" and row.verified_at is not None:
            try:
                check_sms_destination(row.value)
            except SmsNotAllowed:
                continue
            return True
    return False


# ---- helpers --------------------------------------------------------------------------------

def _already_yours(kind: str) -> str:
    """The refusal of a phone or email already verified on the asker's account."""
    if kind == "phone":
        return _("This phone number is already on your account.")
    return _("This email address is already on your account.")


def _last_way_in(kind: str) -> str:
    """LastWayIn's message for a phone or email (see `remove`)."""
    if kind == "phone":
        return _("This phone number is the last way you can log in. Add another phone or "
                 "email first.")
    return _("This email address is the last way you can log in. Add another phone or "
             "email first.")


def _tell_customer(customer: Customer, kind: str, change: str, value: str,
                   origin: Origin) -> None:
    """Queue the notice that a phone or email was added or removed: by email for the
    customer's own change, on every trusted channel for support's (module docstring)."""
    if kind not in NOTIFIED_KINDS:
        return
    if origin.actor == "customer":
        notify_security_change_after_commit(customer, f"{kind}_{change}", value)
    else:
        notify_after_commit(customer, f"{kind}_{change}", value)


def _own_identifier(customer: Customer, identifier: NormalizedIdentifier) -> Identifier | None:
    return next((row for row in customer.identifiers
                 if row.kind == identifier.kind and row.match_key == identifier.match_key),
                None)


def _normalize(kind: str, text: str) -> NormalizedIdentifier:
    try:
        return normalize_identifier(kind, text)
    except CustomerError as error:
        raise IdentifierChangeError(str(error)) from None


def _needs_reproof(customer: Customer, identifier: NormalizedIdentifier) -> bool:
    """A verified phone whose binding the phone-risk policy made suspect: the customer,
    logged in another way, proves it again with a fresh code to re-activate it."""
    if identifier.kind != "phone":
        return False
    binding = bindings.binding_of(customer, identifier.value)
    return binding is not None and binding.status == SUSPECT


def _claimed_elsewhere(customer: Customer, identifier: NormalizedIdentifier) -> Customer | None:
    """The other customer who holds `identifier`, or None (free, or the asker's own; a
    verified one of the asker's own is refused: there is nothing to prove)."""
    own = _own_identifier(customer, identifier)
    if own is not None:
        if own.verified_at is not None and not _needs_reproof(customer, identifier):
            raise IdentifierChangeError(_already_yours(identifier.kind))
        return None  # on the account but not proved yet: the code proves it now
    owner = find_by_identifier(identifier.kind, identifier.match_key)
    return owner if owner is not None and owner.id != customer.id else None
