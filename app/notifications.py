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
