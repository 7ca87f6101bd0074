"""Messages to customers about their own account: the welcome message with their
customer ID, and security notifications (a new phone or email, a TOTP app added or
removed, recovery codes renewed, the password changed).

Security notifications go to every verified email address of the customer: the point is
that the owner hears of a change even if an attacker made it. Sending happens after the
change is committed; a failed send is logged, never raised, because the change stands
whether or not the message got through.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer, PhoneBinding, utcnow
from app.models.phone import ACTIVE, RECYCLED, RELEASED
from app.platform import after_commit
from app.providers import email_sender, sms_sender
from app.providers.base import ProviderError

#: What each notification says (subject, first line of the body).
SECURITY_NOTICES = {
    "phone_added": ("A phone number was added to your account",
                    "The phone number {detail} can now be used to log in to your account."),
    "phone_removed": ("A phone number was removed from your account",
                      "The phone number {detail} was removed from your account."),
    "phone_recycled": ("A phone number no longer opens your account",
                       "The phone number {detail} appears to belong to someone else now "
                       "(the phone company reassigned it, or a new holder proved it), so "
                       "text-message codes to it no longer log you in to your account. "
                       "Phone numbers are reassigned when a line is closed; if it is still "
                       "yours, or you have a new one, add it on your account page."),
    "email_added": ("An email address was added to your account",
                    "The email address {detail} was added to your account."),
    "email_removed": ("An email address was removed from your account",
                      "The email address {detail} was removed from your account."),
    "totp_added": ("An authenticator app was added to your account",
                   "An authenticator app now protects your account as a second factor."),
    "totp_removed": ("The authenticator app was removed from your account",
                     "Your account no longer asks for an authenticator app code."),
    "recovery_codes_renewed": ("New recovery codes were made for your account",
                               "New recovery codes were made; the old ones no longer work."),
    "password_changed": ("Your password was changed",
                         "The password of your account was changed."),
    "recovery_text_refused": ("We did not text a code to reset your password",
                              "Someone asked to reset your password with a code texted to "
                              "{detail}. We did not text it: we cannot trust text messages "
                              "to that number for a password reset right now (its SIM card "
                              "may have changed recently, or the phone company could not "
                              "confirm it). If it was you, use \"Forgot your password?\" "
                              "with this email address instead."),
    "login_phone_unchecked": ("A login we could not fully check",
                              "Someone logged in to your account with a code texted to "
                              "{detail} while we could not check that number with the phone "
                              "company. Until you log in with a second factor, changes to "
                              "your login details ask for one. Add a password or an "
                              "authenticator app on your account page, so a code alone "
                              "never has to do."),
    # Support's actions (app/admin): the customer always hears of them.
    "account_locked": ("Your account was locked",
                       "Support locked your account: nobody can log in to it until it is "
                       "unlocked."),
    "account_unlocked": ("Your account was unlocked",
                         "Support unlocked your account; you can log in again."),
    "password_reset_required": ("You must choose a new password",
                                "Support reset the password of your account and logged you "
                                "out everywhere: the old password no longer works. To "
                                "choose a new one, use \"Forgot your password?\" on the "
                                "login page (we send a code to the email address or phone "
                                "on your account), or ask support for a recovery link."),
    "mfa_reset": ("Your second factor was reset",
                  "Support removed the authenticator app and recovery codes from your "
                  "account. When you next log in you will set up a new authenticator app, "
                  "after confirming it is you with a code we text to the phone on your "
                  "account (or, without one, with a recovery link from support)."),
    "phone_released": ("A phone number no longer opens your account",
                       "Support released the phone number {detail} from your account: "
                       "text-message codes to it no longer log you in."),
    "sessions_revoked": ("You were logged out everywhere",
                         "Support ended every session of your account and signed it out of "
                         "every app."),
    "recovery_link_issued": ("A recovery link was issued for your account",
                             "Support issued a single-use link to set a new password on "
                             "your account, sent to {detail}."),
    "accounts_merged": ("Two of your accounts were merged",
                        "Support merged the account {detail} into this one. Its customer ID "
                        "still finds this account."),
    "deletion_scheduled": ("Your account will be deleted",
                           "You asked us to delete your account. It will be deleted on "
                           "{detail} unless you cancel on your account page before then."),
    "deletion_cancelled": ("Your account will not be deleted",
                           "The deletion of your account was cancelled."),
    "account_erased": ("Your account was deleted",
                       "Your account and the personal data in it were deleted."),
}

_FOOTER = ("\n\nIf this was you, there is nothing to do. If it was not, log in and check "
           "your account, or contact support and quote your customer ID {customer_id}.")


def _verified(customer: Customer, kind: str) -> list[str]:
    return [i.value for i in customer.identifiers if i.kind == kind and i.verified_at]


def notify_security_change(customer: Customer, notice: str, detail: str = "") -> int:
    """Email every verified address of `customer` about a change; return how many were
    sent. `detail` fills the notice (e.g. the phone number that was added)."""
    subject, first_line = SECURITY_NOTICES[notice]
    body = first_line.format(detail=detail) + _FOOTER.format(
        customer_id=format_for_people(customer.customer_id))
    sent = 0
    for address in _verified(customer, "email"):
        try:
            email_sender().send(address, subject, body)
            sent += 1
        except ProviderError as error:
            current_app.logger.warning("security notice %s not sent: %s", notice, error.reason)
    return sent


# ---- identifier changes (app/directory/identifier_changes.py) -----------------------------

#: To the owner of a phone number someone asked to add to another account: the code went
#: to whoever holds the phone now (numbers are recycled), so the owner hears of it.
PHONE_CLAIM_SUBJECT = "Someone tried to add your phone number to another account"
PHONE_CLAIM_TEXT = ("Someone tried to add the phone number {phone}, which is on your "
                    "Tessera account, to another account, and a code was texted to it. "
                    "Nothing changes unless that code is typed in by whoever holds the "
                    "phone.\n\nIf you still hold this number, ignore the code and this "
                    "email. If your number has been reassigned, add your new one.")
#: The end of the notice to a verified email address removed from an account, by who
#: removed it: the customer on the account page, or support.
REMOVED_ADDRESS_FOOTERS = {
    "customer": ("\n\nThis address no longer receives messages about the account. If you "
                 "did not remove it, contact support."),
    "support": ("\n\nThis address no longer receives messages about the account. If you "
                "did not ask for this, contact support."),
}


def notify_security_change_after_commit(customer: Customer, notice: str,
                                        detail: str = "") -> None:
    """Queue the email notice of `notify_security_change` for when the caller's
    transaction commits (nothing is sent if it rolls back). The recipients are read now:
    call it after the change, so an address just added hears of it too."""
    subject, first_line = SECURITY_NOTICES[notice]
    body = first_line.format(detail=detail) + _FOOTER.format(
        customer_id=format_for_people(customer.customer_id))
    after_commit.defer(_NOTICES, (notice, [("email", address, subject, body)
                                           for address in _verified(customer, "email")]))


def notify_removed_address_after_commit(address: str, removed_by: str) -> None:
    """Queue the "email_removed" notice to the address itself, for when the removal
    commits. It is no longer among the account's recipients, yet its owner should hear of
    it most of all: an attacker removes the address that would warn them. `removed_by`
    is "customer" or "support" (REMOVED_ADDRESS_FOOTERS)."""
    subject, first_line = SECURITY_NOTICES["email_removed"]
    body = first_line.format(detail=address) + REMOVED_ADDRESS_FOOTERS[removed_by]
    after_commit.defer(_NOTICES, ("email_removed", [("email", address, subject, body)]))


def notify_phone_claimed_after_commit(owner: Customer, phone: str) -> None:
    """Queue PHONE_CLAIM_TEXT to every verified email address of `owner` (not to the
    phone: whoever holds it now got the code), for when the caller's transaction
    commits."""
    body = PHONE_CLAIM_TEXT.format(phone=phone)
    after_commit.defer(_NOTICES, ("phone_claimed", [
        ("email", address, PHONE_CLAIM_SUBJECT, body)
        for address in _verified(owner, "email")]))


def notify_addresses(customer_id: str, addresses: tuple[str, ...], notice: str) -> int:
    """Email `notice` to `addresses`, collected before the customer's records of them
    were deleted (app/directory/erasure.py: "account_erased"); call it after the commit.
    Returns how many were sent; failures are logged, never raised."""
    subject, first_line = SECURITY_NOTICES[notice]
    text = first_line.format(detail="") + _FOOTER.format(
        customer_id=format_for_people(customer_id))
    return _send(notice, [("email", address, subject, text) for address in addresses])


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


def notify_support_action(customer: Customer, notice: str, detail: str = "", *,
                          skip: str | None = None) -> int:
    """Tell the customer about something support did, on every channel we trust: each
    verified email, and by text each verified phone that is not held or recycled, except
    `skip` (the destination a recovery link just went to: the notice must arrive through
    another channel). Returns how many were sent; failures are logged, never raised."""
    return _send(notice, _messages(customer, notice, detail, skip))


def notify_after_commit(customer: Customer, notice: str, detail: str = "", *,
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


def _messages(customer: Customer, notice: str, detail: str,
              skip: str | None) -> list[tuple[str, str, str, str]]:
    """(channel, destination, subject, text) of a notice to every trusted channel but
    `skip`."""
    subject, first_line = SECURITY_NOTICES[notice]
    line = first_line.format(detail=detail)
    text = line + _FOOTER.format(customer_id=format_for_people(customer.customer_id))
    return ([("email", address, subject, text)
             for address in _verified(customer, "email") if address != skip]
            + [("sms", phone, subject, f"Tessera: {subject}. {line}")
               for phone in _trusted_phones(customer) if phone != skip])


def _send(notice: str, messages: list[tuple[str, str, str, str]]) -> int:
    sent = 0
    for channel, destination, subject, text in messages:
        try:
            if channel == "email":
                email_sender().send(destination, subject, text)
            else:
                sms_sender().send(destination, text)
            sent += 1
        except ProviderError as error:
            current_app.logger.warning("notice %s not sent by %s: %s", notice, channel,
                                       error.reason)
    return sent


def send_welcome_after_commit(customer: Customer, kind: str, destination: str) -> None:
    """Queue, for when the caller's transaction commits (the sign-up stands), the message
    telling a new customer their customer ID, grouped as on the account page, by the
    channel they signed up with (`kind` "email" or "phone"). A failed send is logged."""
    customer_id = format_for_people(customer.customer_id)
    text = (f"Welcome to Tessera. Your customer ID is {customer_id}. Quote it when you "
            "contact support; it never changes.")
    channel = "email" if kind == "email" else "sms"
    after_commit.defer(_NOTICES, ("welcome", [(channel, destination,
                                               "Welcome: your customer ID", text)]))
