"""Messages to customers about their own account: the welcome message with their
customer ID, and security notifications (a new phone or email, a TOTP app added or
removed, recovery codes renewed, the password changed).

Security notifications go to every verified email address of the customer: the point is
that the owner hears of a change even if an attacker made it. Sending happens after the
change is committed; a failed send is logged, never raised, because the change stands
whether or not the message got through.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer, PhoneBinding, utcnow
from app.models.phone import ACTIVE, RECYCLED, RELEASED
from app.platform import after_commit
from app.platform.i18n import customer_locale, speaking
from app.platform.messages import brand_name, compose_email, sms_text
from app.providers import email_sender, sms_sender
from app.providers.base import ProviderError

#: What each notification says (subject, first line of the body).
SECURITY_NOTICES = {
    "phone_added": (_l("A phone number was added to your account"),
                    _l("The phone number %(detail)s can now be used to log in to your account.")),
    "phone_removed": (_l("A phone number was removed from your account"),
                      _l("The phone number %(detail)s was removed from your account.")),
    "phone_recycled": (_l("A phone number no longer opens your account"),
                       _l("The phone number %(detail)s appears to belong to someone else now "
                       "(the phone company reassigned it, or a new holder proved it), so "
                       "text-message codes to it no longer log you in to your account. "
                       "Phone numbers are reassigned when a line is closed; if it is still "
                       "yours, or you have a new one, add it on your account page.")),
    "email_added": (_l("An email address was added to your account"),
                    _l("The email address %(detail)s was added to your account.")),
    "email_removed": (_l("An email address was removed from your account"),
                      _l("The email address %(detail)s was removed from your account.")),
    "totp_added": (_l("An authenticator app was added to your account"),
                   _l("An authenticator app now protects your account as a second factor.")),
    "totp_removed": (_l("The authenticator app was removed from your account"),
                     _l("Your account no longer asks for an authenticator app code.")),
    "passkey_added": (_l("A passkey was added to your account"),
                      _l("The passkey “%(detail)s” can now be used to log in to your "
                      "account.")),
    "passkey_removed": (_l("A passkey was removed from your account"),
                        _l("The passkey “%(detail)s” no longer logs in to your "
                        "account.")),
    "recovery_codes_renewed": (_l("New recovery codes were made for your account"),
                               _l("New recovery codes were made; the old ones no longer work.")),
    "password_changed": (_l("Your password was changed"),
                         _l("The password of your account was changed.")),
    "recovery_text_refused": (_l("We did not text a code to reset your password"),
                              _l("Someone asked to reset your password with a code texted to "
                              "%(detail)s. We did not text it: we cannot trust text messages "
                              "to that number for a password reset right now (its SIM card "
                              "may have changed recently, or the phone company could not "
                              "confirm it). If it was you, use \"Forgot your password?\" "
                              "with this email address instead.")),
    "login_phone_unchecked": (_l("A login we could not fully check"),
                              _l("Someone logged in to your account with a code texted to "
                              "%(detail)s while we could not check that number with the phone "
                              "company. Until you log in with a second factor, changes to "
                              "your login details ask for one. Add a password or an "
                              "authenticator app on your account page, so a code alone "
                              "never has to do.")),
    # Support's actions (app/admin): the customer always hears of them.
    "account_locked": (_l("Your account was locked"),
                       _l("Support locked your account: nobody can log in to it until it is "
                       "unlocked.")),
    "account_unlocked": (_l("Your account was unlocked"),
                         _l("Support unlocked your account; you can log in again.")),
    "password_reset_required": (_l("You must choose a new password"),
                                _l("Support reset the password of your account and logged you "
                                "out everywhere: the old password no longer works. To "
                                "choose a new one, use \"Forgot your password?\" on the "
                                "login page (we send a code to the email address or phone "
                                "on your account), or ask support for a recovery link.")),
    "mfa_reset": (_l("Your second factor was reset"),
                  _l("Support removed the authenticator app, recovery codes and passkeys "
                  "from your account. When you next log in you will set up a new "
                  "authenticator app, after confirming it is you with a code we text to the "
                  "phone on your account (or, without one, with a recovery link from "
                  "support).")),
    "phone_released": (_l("A phone number no longer opens your account"),
                       _l("Support released the phone number %(detail)s from your account: "
                       "text-message codes to it no longer log you in.")),
    "sessions_revoked": (_l("You were logged out everywhere"),
                         _l("Support ended every session of your account and signed it out of "
                         "every app.")),
    "recovery_link_issued": (_l("A recovery link was issued for your account"),
                             _l("Support issued a single-use link to set a new password on "
                             "your account, sent to %(detail)s.")),
    "accounts_merged": (_l("Two of your accounts were merged"),
                        _l("Support merged the account %(detail)s into this one. Its customer ID "
                        "still finds this account.")),
    "deletion_scheduled": (_l("Your account will be deleted"),
                           _l("You asked us to delete your account. It will be deleted on "
                           "%(detail)s unless you cancel on your account page before then.")),
    "deletion_cancelled": (_l("Your account will not be deleted"),
                           _l("The deletion of your account was cancelled.")),
    "account_erased": (_l("Your account was deleted"),
                       _l("Your account and the personal data in it were deleted.")),
}

_FOOTER = _l("If this was you, there is nothing to do. If it was not, log in and check "
             "your account, or contact support and quote your customer ID %(customer_id)s.")


@dataclass(frozen=True)
class Outgoing:
    """One message composed for sending: by "email" (with its HTML part) or "sms"."""

    channel: str
    destination: str
    subject: str
    text: str
    html: str | None = None


def _verified(customer: Customer, kind: str) -> list[str]:
    return [i.value for i in customer.identifiers if i.kind == kind and i.verified_at]


def _notice_email(destination: str, notice: str, detail: object, customer_id: str | None,
                  closing: str | None = None) -> Outgoing:
    """The email of `notice` (in the language of the enclosing `speaking` block): its
    first line, then `closing` (the usual footer naming the customer ID by default)."""
    subject, first_line = SECURITY_NOTICES[notice]
    grouped = format_for_people(customer_id) if customer_id else None
    paragraphs = [str(first_line) % {"detail": _shown(detail)}]
    if closing is not None:
        paragraphs.append(closing)
    elif grouped:
        paragraphs.append(str(_FOOTER) % {"customer_id": grouped})
    email = compose_email(str(subject), paragraphs, customer_id=grouped)
    return Outgoing("email", destination, email.subject, email.text, email.html)


def _shown(detail: object) -> str:
    """A notice's detail as the reader's language writes it (a date, or text as given)."""
    if isinstance(detail, date):
        return format_date(detail, "long")
    return str(detail)


def notify_security_change(customer: Customer, notice: str, detail: object = "") -> int:
    """Email every verified address of `customer` about a change, in the customer's
    language; return how many were sent. `detail` fills the notice (e.g. the phone number
    that was added)."""
    return _send(notice, _security_emails(customer, notice, detail))


def _security_emails(customer: Customer, notice: str, detail: object) -> list[Outgoing]:
    with speaking(customer_locale(customer.locale)):
        return [_notice_email(address, notice, detail, customer.customer_id)
                for address in _verified(customer, "email")]


#: To the owner of a phone number someone asked to add to another account: the code went
#: to whoever holds the phone now (numbers are recycled), so the owner hears of it.
PHONE_CLAIM_SUBJECT = _l("Someone tried to add your phone number to another account")
PHONE_CLAIM_TEXT = (_l("Someone tried to add the phone number %(phone)s, which is on your "
                    "%(brand)s account, to another account, and a code was texted to it. "
                    "Nothing changes unless that code is typed in by whoever holds the "
                    "phone.\n\nIf you still hold this number, ignore the code and this "
                    "email. If your number has been reassigned, add your new one."))
#: The end of the notice to a verified email address removed from an account, by who
#: removed it: the customer on the account page, or support.
REMOVED_ADDRESS_FOOTERS = {
    "customer": (_l("\n\nThis address no longer receives messages about the account. If you "
                 "did not remove it, contact support.")),
    "support": (_l("\n\nThis address no longer receives messages about the account. If you "
                "did not ask for this, contact support.")),
}


def notify_security_change_after_commit(customer: Customer, notice: str,
                                        detail: object = "") -> None:
    """Queue the email notice of `notify_security_change` for when the caller's
    transaction commits (nothing is sent if it rolls back). The recipients are read now:
    call it after the change, so an address just added hears of it too."""
    after_commit.defer(_NOTICES, (notice, _security_emails(customer, notice, detail)))


def notify_removed_address_after_commit(address: str, removed_by: str,
                                        locale: str | None = None) -> None:
    """Queue the "email_removed" notice to the address itself, for when the removal
    commits. It is no longer among the account's recipients, yet its owner should hear of
    it most of all: an attacker removes the address that would warn them. `removed_by`
    is "customer" or "support" (REMOVED_ADDRESS_FOOTERS); `locale` is the customer's saved
    one."""
    with speaking(customer_locale(locale)):
        message = _notice_email(address, "email_removed", address, None,
                                closing=str(REMOVED_ADDRESS_FOOTERS[removed_by]))
    after_commit.defer(_NOTICES, ("email_removed", [message]))


def notify_phone_claimed_after_commit(owner: Customer, phone: str) -> None:
    """Queue PHONE_CLAIM_TEXT to every verified email address of `owner` (not to the
    phone: whoever holds it now got the code), for when the caller's transaction
    commits."""
    messages = []
    with speaking(customer_locale(owner.locale)):
        for address in _verified(owner, "email"):
            text = str(PHONE_CLAIM_TEXT) % {"phone": phone, "brand": brand_name()}
            email = compose_email(str(PHONE_CLAIM_SUBJECT), text.split("\n\n"))
            messages.append(Outgoing("email", address, email.subject, email.text, email.html))
    after_commit.defer(_NOTICES, ("phone_claimed", messages))


def notify_addresses(customer_id: str, addresses: tuple[str, ...], notice: str,
                     locale: str | None = None) -> int:
    """Email `notice` to `addresses`, collected before the customer's records of them
    were deleted (app/directory/erasure.py: "account_erased"), in `locale` (the saved one,
    read before erasure cleared it); call it after the commit. Returns how many were
    sent; failures are logged, never raised."""
    with speaking(customer_locale(locale)):
        messages = [_notice_email(address, notice, "", customer_id) for address in addresses]
    return _send(notice, messages)


def _trusted_phones(customer: Customer) -> list[str]:
    """Verified phones whose binding is active and not on an SMS hold: a number that may
    have gone to someone else must not hear about this account. A phone's binding is its
    newest one not released or recycled (app/phones/bindings.binding_of); read here from
    the models, because app/phones builds on this module."""
    current: dict[str, PhoneBinding] = {}
    for binding in db.session.scalars(select(PhoneBinding).where(
            PhoneBinding.customer_pk == customer.id,
            PhoneBinding.status.notin_([RELEASED, RECYCLED])).order_by(PhoneBinding.id.desc())):
        current.setdefault(binding.e164, binding)
    now = utcnow()
    phones = []
    for e164 in _verified(customer, "phone"):
        binding = current.get(e164)
        if binding is None or binding.status != ACTIVE:
            continue
        if binding.sms_hold_until is not None and binding.sms_hold_until > now:
            continue
        phones.append(e164)
    return phones


def notify_support_action(customer: Customer, notice: str, detail: object = "", *,
                          skip: str | None = None) -> int:
    """Tell the customer about something support did, on every channel we trust, in the
    customer's language: each verified email, and by text each verified phone that is
    not held or recycled, except `skip` (the destination a recovery link just went to:
    the notice must arrive through another channel). Returns how many were sent;
    failures are logged, never raised."""
    return _send(notice, _messages(customer, notice, detail, skip))


def notify_after_commit(customer: Customer, notice: str, detail: object = "", *,
                        skip: str | None = None) -> None:
    """Queue the notice of `notify_support_action` for when the caller's transaction
    commits; nothing is sent if it (or the savepoint it was queued in) rolls back. For
    services that change the database in the caller's transaction, so every path that
    commits the change tells the customer and none sends for a change that did not stand.
    The recipients are read now, while the session can still query."""
    after_commit.defer(_NOTICES, (notice, _messages(customer, notice, detail, skip)))


_NOTICES = "security_notices"


def _send_committed(notices: list) -> None:
    """Send the notices whose change has just committed (app/platform/after_commit.py)."""
    for notice, messages in notices:
        _send(notice, messages)


after_commit.on_ready(_NOTICES, _send_committed)


def _messages(customer: Customer, notice: str, detail: object,
              skip: str | None) -> list[Outgoing]:
    """The notice to every trusted channel but `skip`, in the customer's language: the
    email, and a text ("<brand>: <subject>. <first line>")."""
    with speaking(customer_locale(customer.locale)):
        subject, first_line = SECURITY_NOTICES[notice]
        # TRANSLATORS: a text message (SMS): GSM-7 characters only. It carries a notice's
        # first line (what changed, e.g. where a link went), so it may take more than one
        # segment.
        text = _("%(brand)s: %(subject)s. %(line)s", brand=brand_name(), subject=subject,
                 line=str(first_line) % {"detail": _shown(detail)})
        return ([_notice_email(address, notice, detail, customer.customer_id)
                 for address in _verified(customer, "email") if address != skip]
                + [Outgoing("sms", phone, str(subject), sms_text(text))
                   for phone in _trusted_phones(customer) if phone != skip])


def _send(notice: str, messages: list[Outgoing]) -> int:
    sent = 0
    for message in messages:
        try:
            if message.channel == "email":
                email_sender().send(message.destination, message.subject, message.text,
                                    html=message.html)
            else:
                sms_sender().send(message.destination, message.text)
            sent += 1
        except ProviderError as error:
            current_app.logger.warning("notice %s not sent by %s: %s", notice,
                                       message.channel, error.reason)
    return sent


def send_welcome_after_commit(customer: Customer, kind: str, destination: str) -> None:
    """Queue, for when the caller's transaction commits (the sign-up stands), the message
    telling a new customer their customer ID, grouped as on the account page, by the
    channel they signed up with (`kind` "email" or "phone"), in the language they signed
    up in. A failed send is logged."""
    customer_id = format_for_people(customer.customer_id)
    with speaking(customer_locale(customer.locale)):
        text = _("Welcome to %(brand)s. Your customer ID is %(customer_id)s. Quote it when "
                 "you contact support; it never changes.", brand=brand_name(),
                 customer_id=customer_id)
        subject = _("Welcome: your customer ID")
        if kind == "email":
            email = compose_email(subject, [text], customer_id=customer_id)
            message = Outgoing("email", destination, subject, email.text, email.html)
        else:
            message = Outgoing("sms", destination, subject, sms_text(text))
    after_commit.defer(_NOTICES, ("welcome", [message]))
