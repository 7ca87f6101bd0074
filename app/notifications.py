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

from app.identity.customer_ids import format_for_people
from app.models import Customer
from app.providers import ProviderError, email_sender, sms_sender

#: What each notification says (subject, first line of the body).
SECURITY_NOTICES = {
    "phone_added": ("A phone number was added to your account",
                    "The phone number {detail} can now be used to log in to your account."),
    "phone_removed": ("A phone number was removed from your account",
                      "The phone number {detail} was removed from your account."),
    "phone_recycled": ("A phone number no longer opens your account",
                       "Someone else has proved they now hold the phone number {detail}, "
                       "so it was removed from your account and text-message codes to it no "
                       "longer log you in. Phone numbers are reassigned when a line is "
                       "closed; add your current number on your account page."),
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
    # Support's actions (app/admin): the customer always hears of them.
    "account_locked": ("Your account was locked",
                       "Support locked your account: nobody can log in to it until it is "
                       "unlocked."),
    "account_unlocked": ("Your account was unlocked",
                         "Support unlocked your account; you can log in again."),
    "password_reset_required": ("You must choose a new password",
                                "Support asked for a new password on your account. You were "
                                "logged out everywhere; choose a new password when you next "
                                "log in."),
    "mfa_reset": ("Your second factor was reset",
                  "Support removed the authenticator app and recovery codes from your "
                  "account. You will be asked to set up an authenticator app when you next "
                  "log in."),
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


def _trusted_phones(customer: Customer) -> list[str]:
    """Verified phones whose binding is active and not on an SMS hold: a number that may
    have gone to someone else must not hear about this account."""
    from app import phone_bindings
    from app.models import utcnow
    phones = []
    for e164 in _verified(customer, "phone"):
        binding = phone_bindings.binding_of(customer, e164)
        if binding is None or binding.status != phone_bindings.ACTIVE:
            continue
        if binding.sms_hold_until is not None and binding.sms_hold_until > utcnow():
            continue
        phones.append(e164)
    return phones


def notify_support_action(customer: Customer, notice: str, detail: str = "", *,
                          skip: str | None = None) -> int:
    """Tell the customer about something support did, on every channel we trust: each
    verified email, and by text each verified phone that is not held or recycled, except
    `skip` (the destination a recovery link just went to: the notice must arrive through
    another channel). Returns how many were sent; failures are logged, never raised."""
    subject, first_line = SECURITY_NOTICES[notice]
    text = first_line.format(detail=detail) + _FOOTER.format(
        customer_id=format_for_people(customer.customer_id))
    sent = 0
    for address in _verified(customer, "email"):
        if address == skip:
            continue
        try:
            email_sender().send(address, subject, text)
            sent += 1
        except ProviderError as error:
            current_app.logger.warning("notice %s not emailed: %s", notice, error.reason)
    for phone in _trusted_phones(customer):
        if phone == skip:
            continue
        try:
            sms_sender().send(phone, f"Tessera: {subject}. {first_line.format(detail=detail)}")
            sent += 1
        except ProviderError as error:
            current_app.logger.warning("notice %s not texted: %s", notice, error.reason)
    return sent


def send_welcome(customer: Customer, kind: str, destination: str) -> bool:
    """Tell a new customer their customer ID, grouped as on the account page, by the
    channel they signed up with. True if it was sent."""
    customer_id = format_for_people(customer.customer_id)
    text = (f"Welcome to Tessera. Your customer ID is {customer_id}. Quote it when you "
            "contact support; it never changes.")
    try:
        if kind == "email":
            email_sender().send(destination, "Welcome: your customer ID", text)
        else:
            sms_sender().send(destination, text)
    except ProviderError as error:
        current_app.logger.warning("welcome message not sent: %s", error.reason)
        return False
    return True
