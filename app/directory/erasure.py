"""Erasure: deleting a customer's personal data, and the customer's own "delete my
account" with a grace period.

`erase(customer, origin, reason=...)` works in the caller's transaction (the caller commits
once: nothing is half-erased). It deletes, for the customer and any customers merged into
it (their alias rows keep leftovers of the merge, such as ended sessions):

    identifiers, linked accounts, password, authenticator app, recovery codes, passkeys,
    login sessions, logins in progress, one-time codes (also those sent to the customer's
    addresses before an account was known), phone bindings and their phone events, cached
    phone lookups of those numbers, known devices, app consents, authorization codes,
    recovery links, communication consents

and empties the customer row: names and profile, lock, required actions and any pending
deletion are cleared; status "erased", `erased_at` and `tokens_not_before` are now. Issued
token rows stay, revoked: they hold no personal data, and introspection keeps answering
"inactive" for them. The row itself stays as the tombstone of the customer ID: the unique
index on customer_id stops the generator from ever issuing the ID again. Aliases merged
into the erased customer stay merged and resolve to the tombstone.

Audit events: the rule
----------------------
The audit log is append-only everywhere else; erasure is the one place that updates it.
Every event of the customer and of its aliases is kept, with its event name, time and
actor (support clients, "customer", "cli" are not the person's data), and loses:

- the `ip` and `user_agent` columns (set to NULL);
- every detail whose key names personal data (`PERSONAL_KEYS`, and keys ending in
  `PERSONAL_SUFFIXES`: values of identifiers, emails, phones, usernames, account numbers,
  destinations and hints, names, IPs, user agents, search queries ...);
- every other string (in lists and objects too) that contains one of the person's values
  (their identifiers, account numbers, names, numbers, IPs, user agents, as found in their
  rows and in their events) or looks like an email address, a phone number or an IP
  address: it becomes "[erased]".

Numbers, booleans and the remaining strings stay: kind, factor, reason codes, purposes,
client IDs, scopes, counts. An event that lost keys gets `"erased": [the keys removed]`.
An actor that contains one of the person's values becomes "[erased]" too. Finally
"customer.erased" is recorded, with no personal data (and no IP or user agent, not even
the caller's: the admin API records its caller in its own "admin.customer_erased").

Notifying: the notice "account_erased" goes to the customer's verified email addresses,
which the erasure deletes. So `erase` collects them first and returns an ErasureNotice;
the caller commits and then calls `send_notice` (a notice sent before the commit could
announce an erasure that then failed). Phones get no notice: with their bindings gone,
nothing says the number still belongs to the person.

Delete-my-account: `request_deletion` schedules the erasure ACCOUNT_DELETION_GRACE_DAYS
ahead; the customer keeps logging in meanwhile and can `cancel_deletion`. `erase_due`
(`flask customers erase-due`, run daily) erases everyone past due.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel.dates import format_date
from flask import current_app
from flask_babel import gettext as _, get_locale
from sqlalchemy import delete, or_, select, update

from app.auth.sessions import end_all_sessions
from app.directory.customers import CustomerError, aliases_of, bump_version
from app.extensions import db
from app.models import (AuditEvent, AuthorizationCode, CommunicationConsent, Consent, Customer,
                        Identifier, IssuedToken, KnownDevice, LinkedAccount, LoginFlow,
                        LoginSession, PasskeyCredential, PasswordCredential, PhoneBinding,
                        PhoneEvent, PhoneLookup, RecoveryCode, RecoveryLink, TotpCredential,
                        VerificationCode, utcnow)
from app.platform.audit import Origin, record_event
from app.platform.notifications import notify_addresses

#: Statuses that still hold personal data (a merged customer's data lives on its survivor).
ERASABLE = ("active", "locked")
ERASED = "[erased]"
REASON_MAX = 200

#: Detail keys whose values are personal data, whatever the value looks like.
PERSONAL_KEYS = frozenset({
    "value", "email", "phone", "username", "identifier", "account_number", "destination",
    "destination_hint", "to", "address", "ip", "user_agent", "name", "given_name",
    "family_name", "middle_name", "nickname", "locale", "phone_hint", "e164", "number",
    "query", "q", "login_hint", "lock_reason", "carrier", "carrier_snapshot",
})
PERSONAL_SUFFIXES = ("_email", "_phone", "_ip", "_name", "_address", "_value", "_hint",
                     "_number", "_user_agent", "_destination")
#: Values shorter than this are not searched for in other text (too many false hits).
_MIN_VALUE_LENGTH = 3
_EMAIL_RE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
# Seven or more digits with the separators people type, not inside a longer token.
_PHONE_RE = re.compile(r"(?<![\w-])\+?\d[\d\s().-]{5,}\d(?![\w-])")
# Dates and times (ISO 8601) are not phone numbers; they are removed before that check.
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                      r"(?:Z|[+-]\d{2}:?\d{2})?)?")
_TOKEN_SPLIT_RE = re.compile(r"[\s,;()\[\]<>\"'=]+")

#: Tables emptied for the customer and its aliases, in an order the foreign keys accept.
#: (Passkeys would go with the customer row, but the row stays as the tombstone; their
#: challenges go with the login flows and sessions they are bound to.)
_PERSONAL_TABLES = (PhoneEvent, PhoneBinding, LoginFlow, VerificationCode, LoginSession,
                    AuthorizationCode, Consent, RecoveryLink, CommunicationConsent,
                    KnownDevice, RecoveryCode, TotpCredential, PasskeyCredential,
                    PasswordCredential, LinkedAccount, Identifier)


class ErasureError(CustomerError):
    """The customer cannot be erased (already erased, or merged into another)."""


class DeletionError(CustomerError):
    """A deletion cannot be scheduled or cancelled; the message is safe to show."""


@dataclass(frozen=True)
class ErasureNotice:
    """Who to tell, collected before the addresses were erased."""

    customer_id: str
    emails: tuple[str, ...]
    #: The customer's saved language, read before erasure clears it.
    locale: str | None = None


def erase(customer: Customer, origin: Origin, *, reason: str | None = None) -> ErasureNotice:
    """Erase the customer's personal data by the module's rules, in the caller's
    transaction; return the notice to send after the commit (`send_notice`). ErasureError,
    with nothing changed, for a customer already erased or merged, also when that happened
    concurrently (the row is claimed with a conditional UPDATE first)."""
    if customer.status not in ERASABLE:
        raise ErasureError("This customer was already erased." if customer.status == "erased"
                           else "This customer was merged into another; erase that one.")
    claimed = db.session.execute(
        update(Customer).where(Customer.id == customer.id, Customer.status.in_(ERASABLE))
        .values(version=Customer.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise ErasureError("This customer was erased or merged meanwhile.")
    db.session.refresh(customer)

    alias_ids = aliases_of(customer)
    customer_ids = [customer.customer_id, *alias_ids]
    customer_pks = [customer.id, *db.session.scalars(
        select(Customer.id).where(Customer.merged_into_pk == customer.id))]
    notice = ErasureNotice(customer.customer_id, tuple(
        i.value for i in customer.identifiers if i.kind == "email" and i.verified_at),
        customer.locale)
    personal = _personal_values(customer, customer_pks, customer_ids)

    now = utcnow()
    revoked = db.session.execute(
        update(IssuedToken).where(IssuedToken.customer_pk.in_(customer_pks),
                                  IssuedToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    # Ended before their rows go, so the apps that had them get a back-channel logout
    # (audited, if it fails, without the caller's IP and user agent, as below).
    end_all_sessions(customer, now=now, origin=Origin(actor=origin.actor))
    _delete_personal_rows(customer, customer_pks)
    _empty_customer_row(customer, now)
    scrubbed = _scrub_audit_events(customer_ids, personal)
    # Without the caller's IP and user agent: after an erasure, no row of the customer has
    # one (the admin API's own event records its caller).
    record_event("customer.erased", Origin(actor=origin.actor), customer.customer_id,
                 reason=_scrub(reason, personal) if reason else None,
                 aliases=len(alias_ids), events_scrubbed=scrubbed, tokens_revoked=revoked)
    db.session.flush()
    return notice


def send_notice(notice: ErasureNotice) -> int:
    """Tell the erased customer, at the addresses collected before the erasure (call it
    after the commit). How many messages went out; failures are logged, never raised."""
    return notify_addresses(notice.customer_id, notice.emails, "account_erased",
                            locale=notice.locale)


# ---- what is personal ---------------------------------------------------------------------

def _personal_values(customer: Customer, customer_pks: list[int],
                     customer_ids: list[str]) -> re.Pattern | None:
    """Every value that identifies the person, as one pattern that finds any of them as
    a whole word, in any case: what their rows and their audit events hold."""
    values: set[str] = set()
    values |= {customer.given_name, customer.family_name, customer.middle_name,
               customer.nickname}
    for value, key in db.session.execute(select(Identifier.value, Identifier.match_key)
                                         .where(Identifier.customer_pk.in_(customer_pks))):
        values |= {value, key}
    for system, number in db.session.execute(
            select(LinkedAccount.system, LinkedAccount.account_number)
            .where(LinkedAccount.customer_pk.in_(customer_pks))):
        values |= {number, f"{system}:{number}"}
    values |= set(db.session.scalars(select(PhoneBinding.e164)
                                     .where(PhoneBinding.customer_pk.in_(customer_pks))))
    values |= set(db.session.scalars(select(VerificationCode.destination)
                                     .where(VerificationCode.customer_pk.in_(customer_pks))))
    for ip, user_agent in db.session.execute(
            select(LoginSession.ip, LoginSession.user_agent)
            .where(LoginSession.customer_pk.in_(customer_pks))):
        values |= {ip, user_agent}
    values |= set(db.session.scalars(select(KnownDevice.user_agent)
                                     .where(KnownDevice.customer_pk.in_(customer_pks))))
    for event in _events_of(customer_ids):
        values |= {event.ip, event.user_agent}
        values |= {v for k, v in (event.details or {}).items()
                   if _is_personal_key(str(k)) and isinstance(v, str)}
    values = {v.strip() for v in values if v and len(v.strip()) >= _MIN_VALUE_LENGTH}
    if not values:
        return None
    # Longest first, so a value wins over a shorter one it contains.
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _is_personal_key(key: str) -> bool:
    return key in PERSONAL_KEYS or key.endswith(PERSONAL_SUFFIXES)


def _identifies(text: str, personal: re.Pattern | None) -> bool:
    """Whether `text` holds one of the person's values, or an email address, a phone
    number or an IP address of anyone."""
    if personal is not None and personal.search(text):
        return True
    if _EMAIL_RE.search(text) or _PHONE_RE.search(_TIME_RE.sub(" ", text)):
        return True
    for token in _TOKEN_SPLIT_RE.split(text):
        try:
            ipaddress.ip_address(token.strip(".:/"))
        except ValueError:
            continue
        return True
    return False


def _scrub(value, personal: re.Pattern | None):
    """A detail value without the person in it (see the module docstring)."""
    if isinstance(value, str):
        return ERASED if _identifies(value, personal) else value
    if isinstance(value, list):
        return [_scrub(item, personal) for item in value]
    if isinstance(value, dict):
        return _scrub_details(value, personal)[0]
    return value


def _scrub_details(details: dict, personal: re.Pattern | None) -> tuple[dict, list[str]]:
    """The details without personal keys or values, and the keys removed."""
    kept, removed = {}, []
    for key, value in details.items():
        if _is_personal_key(str(key)):
            removed.append(str(key))
        else:
            kept[key] = _scrub(value, personal)
    return kept, removed


def _events_of(customer_ids: list[str]) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id.in_(customer_ids)).order_by(AuditEvent.id)))


def _scrub_audit_events(customer_ids: list[str], personal: re.Pattern | None) -> int:
    """Apply the audit rule to every event of the customer and its aliases; how many."""
    events = _events_of(customer_ids)
    for event in events:
        details, removed = _scrub_details(dict(event.details or {}), personal)
        if removed:
            details["erased"] = sorted(removed)
        # A new dict: the JSON column does not track changes made inside the old one.
        event.details = details
        event.ip = None
        event.user_agent = None
        if personal is not None and personal.search(event.actor):
            event.actor = ERASED
    return len(events)


# ---- deleting -----------------------------------------------------------------------------

def _delete_personal_rows(customer: Customer, customer_pks: list[int]) -> None:
    match_keys = list(db.session.scalars(select(Identifier.match_key)
                                         .where(Identifier.customer_pk.in_(customer_pks))))
    numbers = list(db.session.scalars(select(PhoneBinding.e164)
                                      .where(PhoneBinding.customer_pk.in_(customer_pks))))
    bindings = select(PhoneBinding.id).where(PhoneBinding.customer_pk.in_(customer_pks))
    db.session.execute(delete(PhoneEvent).where(or_(PhoneEvent.customer_pk.in_(customer_pks),
                                                    PhoneEvent.binding_id.in_(bindings)))
                       .execution_options(synchronize_session=False))
    # Codes sent to the person's addresses before any account was known (sign-up).
    if match_keys:
        db.session.execute(delete(VerificationCode)
                           .where(VerificationCode.match_key.in_(match_keys))
                           .execution_options(synchronize_session=False))
    # A cache of what providers said about the person's numbers; it refills on demand.
    if numbers:
        db.session.execute(delete(PhoneLookup).where(PhoneLookup.e164.in_(numbers))
                           .execution_options(synchronize_session=False))
    for model in _PERSONAL_TABLES:
        db.session.execute(delete(model).where(model.customer_pk.in_(customer_pks))
                           .execution_options(synchronize_session=False))
    db.session.expire(customer, ["identifiers", "linked_accounts"])


def _empty_customer_row(customer: Customer, now: datetime) -> None:
    for name in ("given_name", "family_name", "middle_name", "nickname", "locale", "zoneinfo",
                 "locked_at", "lock_reason", "deletion_requested_at", "deletion_due_at"):
        setattr(customer, name, None)
    customer.required_actions = []
    customer.status = "erased"
    customer.erased_at = now
    customer.tokens_not_before = now
    bump_version(customer)


# ---- delete-my-account --------------------------------------------------------------------

def grace_days() -> int:
    """Days between asking for deletion and the erasure (ACCOUNT_DELETION_GRACE_DAYS)."""
    return int(current_app.config["ACCOUNT_DELETION_GRACE_DAYS"])


def request_deletion(customer: Customer, origin: Origin) -> datetime:
    """Schedule the customer's erasure `grace_days()` from now (the caller commits, then
    sends "deletion_scheduled"); return when it is due. DeletionError if one is pending
    (also one asked for at the same moment in another tab: the row is changed only while
    none is). Nothing else changes: the customer keeps logging in and can cancel."""
    now = utcnow()
    due = now + timedelta(days=grace_days())
    scheduled = db.session.execute(
        update(Customer).where(Customer.id == customer.id, Customer.status.in_(ERASABLE),
                               Customer.deletion_due_at.is_(None))
        .values(deletion_requested_at=now, deletion_due_at=due, version=Customer.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    if scheduled != 1:
        raise DeletionError(_("Your account is already scheduled for deletion.")
                            if customer.status in ERASABLE else
                            _("This account cannot be deleted in its state."))
    db.session.refresh(customer)
    record_event("deletion.requested", origin, customer.customer_id, due_at=due.isoformat(),
                 grace_days=grace_days())
    return due


def cancel_deletion(customer: Customer, origin: Origin) -> bool:
    """Cancel a pending deletion (the caller commits, then sends "deletion_cancelled");
    False if none was pending (or another request cancelled it at the same moment)."""
    cancelled = db.session.execute(
        update(Customer).where(Customer.id == customer.id,
                               Customer.deletion_due_at.is_not(None))
        .values(deletion_requested_at=None, deletion_due_at=None,
                version=Customer.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    if cancelled != 1:
        return False
    db.session.refresh(customer)
    record_event("deletion.cancelled", origin, customer.customer_id)
    return True


def deletion_date(moment: datetime) -> str:
    """A due date as people read it, in the request's language: "21 January 2030" in
    English, the language's long date otherwise ("21. Januar 2030"). The date is the
    moment's own (no time zone conversion)."""
    locale = get_locale()
    if locale is None or locale.language == "en":
        return format_date(moment, "d MMMM y", locale="en")
    return format_date(moment, "long", locale=locale)


def erase_due(origin: Origin) -> list[str]:
    """Erase every customer whose deletion is past due, each in its own transaction
    (committed here, then notified); return their customer IDs. A customer who cancels
    at the same moment is either erased before the cancel or skipped: the row is claimed
    only while its deletion is still due.

    This batch commits, unlike the rest of the directory, because it is a daily purge of
    any number of customers (`flask customers erase-due`): each erasure must stand, and
    its notice go out, whatever happens to the next, and no transaction may hold every
    due customer's row until the end. So it commits the list it read (the claims start
    fresh), rolls back a customer it may not erase (cancelled meanwhile, or erased or
    merged: nothing of theirs changes), and commits each erasure before its notice."""
    now = utcnow()
    due = list(db.session.scalars(select(Customer.id).where(
        Customer.deletion_due_at.is_not(None), Customer.deletion_due_at <= now,
        Customer.status.in_(ERASABLE)).order_by(Customer.deletion_due_at, Customer.id)))
    db.session.commit()
    erased = []
    for pk in due:
        still_due = db.session.execute(
            update(Customer).where(Customer.id == pk, Customer.deletion_due_at <= now,
                                   Customer.status.in_(ERASABLE))
            .values(version=Customer.version + 1)
            .execution_options(synchronize_session=False)).rowcount
        if still_due != 1:
            db.session.rollback()
            continue
        customer = db.session.get(Customer, pk)
        db.session.refresh(customer)
        try:
            notice = erase(customer, origin, reason="deletion requested by the customer")
        except ErasureError:
            db.session.rollback()
            continue
        db.session.commit()
        send_notice(notice)
        erased.append(customer.customer_id)
    return erased
