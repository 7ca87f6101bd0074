"""Recovery links: support gives a locked-out customer a single-use link to set a new
password. Nothing more: using one does not log the customer in, verify or release any
phone, or clear a pending "configure_totp"; it sets the password and signs the customer
out everywhere.

    issue (support, app/admin/recovery_views.py) ──▶ email / SMS / handed over in person
    GET /recover/link/<token>   moves the token into a short-lived HttpOnly cookie and
                                redirects to /recover/link, so it leaves the URL (never
                                consumes the link: mail scanners open links)
    GET /recover/link           the set-a-password form
    POST /recover/link          consumes it, atomically, and sets the password

The token is `secrets.token_urlsafe(32)` (256 bits); only its keyed hash is stored. A
link lives RECOVERY_LINK_SECONDS (15 minutes by default), works once, belongs to one
customer, and issuing a new one kills the customer's older unused ones. A "handover" URL
is returned once, to support, and never stored. Links are only for an active customer:
support unlocks a locked account first (and a lock kills unused links).

A recovery link never bypasses phone trust: a link by SMS needs a verified phone whose
binding is active and not on an SMS hold, and the phone-risk decision for a "recovery"
(app/risk/trust.assess) must be ALLOW. With the offline phone lookup that decision
is at least a step up (a SIM swap cannot be ruled out), so links go by email or handover.

After a link is issued the customer hears of it through another channel
(`notify_issued`): every trusted email and phone except the one the link went to.
"""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from app.auth import support
from app.auth.flow import mask_phone
from app.auth.login import set_password
from app.directory.customers import CustomerError, bump_version
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import Customer, Identifier, RecoveryLink, utcnow
from app.models.phone import ACTIVE
from app.phones import bindings, trust
from app.phones.sms_policy import SmsNotAllowed, check_sms_destination
from app.platform.audit import Origin, record_event
from app.platform.keyed_hash import keyed_hash
from app.platform.i18n import customer_locale, speaking
from app.platform.messages import brand_name, compose_email, sms_text
from app.platform.notifications import notify_security_change_after_commit, notify_support_action
from app.providers import email_sender, sms_sender
from app.providers.base import ProviderError
from app.risk import phone_policy

EMAIL, SMS, HANDOVER = "email", "sms", "handover"
CHANNELS = (EMAIL, SMS, HANDOVER)
PATH_PREFIX = "/recover/link/"
IN_PERSON = "support, in person"
_PURPOSE = "recovery-link"
_HINT_MAX = 64
# Ours are 43 characters; anything much longer is not worth hashing.
_TOKEN_MAX = 128


class RecoveryLinkError(CustomerError):
    """A recovery link cannot be issued or used; the message says why."""


class UnusableDestination(RecoveryLinkError):
    """The channel or identifier named cannot take a link (not the customer's verified
    email or phone, or a number we do not text)."""


class LinkRefused(RecoveryLinkError):
    """The customer's state refuses a link now: the account is locked, or the phone is
    held, suspect, recycled or not trusted by the phone-risk policy."""


class DeliveryFailed(RecoveryLinkError):
    """The email or SMS provider failed; no link was kept."""


class LinkInvalid(RecoveryLinkError):
    """Unknown, used, expired, or its customer is no longer active: one answer for all."""


def link_url(token: str) -> str:
    """Where the customer opens a link."""
    return current_app.config["ISSUER"].rstrip("/") + PATH_PREFIX + token


def mask_email(address: str) -> str:
    """An email address as a hint: "a•••@example.com"."""
    local, _, domain = address.partition("@")
    hint = f"{local[:1]}•••@{domain}"
    return hint if len(hint) <= _HINT_MAX else hint[:_HINT_MAX - 1] + "…"


# ---- issuing ------------------------------------------------------------------------------

def issue(customer: Customer, channel: str, origin: Origin, *,
          identifier_id: int | None = None) -> tuple[RecoveryLink, str | None]:
    """Make a link for `customer` and deliver it; return (the link row, the URL for a
    handover, else None). `identifier_id` names the verified email (channel "email") or
    phone ("sms") to send it to. In the caller's transaction: the caller commits, then
    calls `notify_issued`. Raises UnusableDestination, LinkRefused or DeliveryFailed (the
    caller rolls back: no link is kept)."""
    if channel not in CHANNELS:
        raise UnusableDestination(f"Unknown channel {channel!r}: use email, sms or handover.")
    if customer.status != "active":
        raise LinkRefused(f"This account is {customer.status}: unlock it before issuing a "
                          "recovery link.")
    destination = destination_of(customer, channel, identifier_id)
    if channel == SMS:
        _check_phone(customer, destination, origin)
    expired = support.expire_recovery_links(customer)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    link = RecoveryLink(
        token_hash=keyed_hash(_PURPOSE, token), customer_pk=customer.id, channel=channel,
        destination_hint=_hint(channel, destination), issued_by=origin.actor[:128],
        created_at=now,
        expires_at=now + timedelta(seconds=int(current_app.config["RECOVERY_LINK_SECONDS"])))
    db.session.add(link)
    db.session.flush()
    url = link_url(token)
    if destination is not None:
        _deliver(customer, channel, destination, url)
    bump_version(customer)
    record_event("recovery_link.issued", origin, customer.customer_id, channel=channel,
                 destination_hint=link.destination_hint, expires_at=link.expires_at.isoformat(),
                 older_links_expired=expired)
    return link, url if channel == HANDOVER else None


def destination_of(customer: Customer, channel: str, identifier_id: int | None) -> str | None:
    """The email address or phone number a link on `channel` goes to (None for a handover).
    UnusableDestination unless `identifier_id` is one of the customer's verified
    identifiers of the channel's kind."""
    if channel == HANDOVER:
        if identifier_id is not None:
            raise UnusableDestination("A handover link goes to no email or phone: leave "
                                      "identifier_id out.")
        return None
    kind = "email" if channel == EMAIL else "phone"
    identifier: Identifier | None = next(
        (i for i in customer.identifiers if i.id == identifier_id), None)
    if identifier is None or identifier.kind != kind or identifier.verified_at is None:
        raise UnusableDestination(f"identifier_id must name one of this customer's verified "
                                  f"{'email addresses' if kind == 'email' else 'phones'}.")
    return identifier.value


def _hint(channel: str, destination: str | None) -> str | None:
    if destination is None:
        return None
    return mask_email(destination) if channel == EMAIL else mask_phone(destination)


def _check_phone(customer: Customer, phone: str, origin: Origin) -> None:
    """Refuse a text to a number that cannot take one, or is not trusted now."""
    try:
        check_sms_destination(phone)
    except SmsNotAllowed as error:
        raise UnusableDestination(error.message) from None
    binding = bindings.binding_of(customer, phone)
    if binding is None or binding.status != ACTIVE:
        state = binding.status if binding is not None else "not bound"
        raise LinkRefused(f"Text messages to this phone cannot be trusted now (its binding "
                          f"is {state}): send the link by email or hand it over.")
    if binding.sms_hold_until is not None and binding.sms_hold_until > utcnow():
        raise LinkRefused(f"Text messages to this phone are on hold until "
                          f"{binding.sms_hold_until.isoformat()} ({binding.hold_reason}): "
                          "send the link by email or hand it over.")
    decision = trust.assess(customer, phone, "recovery", origin, new_device=False)
    if decision.action != phone_policy.ALLOW:
        raise LinkRefused("The phone-risk check refused a link by text message: "
                          + phone_policy.describe(decision))


def _deliver(customer: Customer, channel: str, destination: str, url: str) -> None:
    """Send support's link, in the customer's saved language (never support's)."""
    minutes = max(1, int(current_app.config["RECOVERY_LINK_SECONDS"]) // 60)
    values = {"brand": brand_name(), "minutes": minutes, "url": url,
              "customer_id": format_for_people(customer.customer_id)}
    try:
        with speaking(customer_locale(customer.locale)):
            if channel == EMAIL:
                email = compose_email(_("Set a new password for your account"), [
                    _("Support made this link so you can set a new password on your "
                      "%(brand)s account (customer ID %(customer_id)s). It works once, for "
                      "%(minutes)s minutes:", **values),
                    url,
                    _("If you did not ask support for this, do not open the link, and "
                      "contact support.")], customer_id=values["customer_id"])
                email_sender().send(destination, email.subject, email.text, html=email.html)
            else:
                # TRANSLATORS: a text message (SMS): GSM-7 characters only, one segment.
                sms_sender().send(destination, sms_text(_(
                    "%(brand)s: support sent you a link to set a new password. It works "
                    "once, for %(minutes)s minutes: %(url)s", **values)))
    except ProviderError as error:
        raise DeliveryFailed(f"The link could not be sent by {channel}: {error.message}") \
            from None


def notify_issued(customer: Customer, link: RecoveryLink, identifier_id: int | None) -> int:
    """After the commit: tell the customer a link was issued, on every trusted channel but
    the one it went to. Returns how many notices were sent."""
    try:
        destination = destination_of(customer, link.channel, identifier_id)
    except UnusableDestination:
        destination = None
    return notify_support_action(customer, "recovery_link_issued",
                                 detail=link.destination_hint or IN_PERSON, skip=destination)


# ---- using --------------------------------------------------------------------------------

def find_usable(token: str | None) -> RecoveryLink | None:
    """The link for a token if it can still be used (unknown, used, expired and links of
    a customer who is not active all give None). Reads only: opening never consumes."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    link = db.session.scalar(select(RecoveryLink).where(
        RecoveryLink.token_hash == keyed_hash(_PURPOSE, token)))
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    return link if link.customer.status == "active" else None


def use(token: str, password: str, origin: Origin) -> Customer:
    """Set the customer's new password with a link, consuming it; the caller commits, and
    the customer is emailed once it has. Signs them out everywhere (a link is for a suspected compromise as much as
    a forgotten password); logs nobody in.

    The policy is checked before the link is claimed, so PasswordRejected leaves it
    usable. The claim is one conditional UPDATE (unused and unexpired), so of two
    concurrent uses exactly one wins; LinkInvalid for the other, and for unknown, used
    and expired links alike."""
    link = find_usable(token)
    if link is None:
        raise LinkInvalid("This link cannot be used.")
    customer = link.customer
    support.refuse_reset_password(customer, password)
    set_password(customer, password, origin)
    now = utcnow()
    claimed = db.session.execute(
        update(RecoveryLink)
        .where(RecoveryLink.id == link.id, RecoveryLink.used_at.is_(None),
               RecoveryLink.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise LinkInvalid("This link cannot be used.")
    signed_out = support.sign_out_everywhere(customer)
    record_event("recovery_link.used", origin, customer.customer_id, channel=link.channel,
                 sessions_ended=signed_out.sessions, grants_revoked=signed_out.grants)
    notify_security_change_after_commit(customer, "password_changed")
    return customer
