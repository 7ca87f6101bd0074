"""The customer directory: customers, their identifiers and linked accounts.

Services take plain arguments, change the database in the caller's transaction (the caller
commits once, so a failure leaves nothing half-written), and raise CustomerError with a
message fit to show a person.
"""
from __future__ import annotations

import re
import unicodedata
import zoneinfo
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.identity import customer_ids
from app.identity.identifiers import (InvalidIdentifier, email_match_key, normalize_email,
                                      normalize_phone, normalize_username, username_skeleton)
from app.models import Customer, Identifier, LinkedAccount, utcnow
from app.phones import bindings
from app.platform.audit import Origin, record_event

# Attempts at a fresh random customer ID before giving up (a collision is ~2^-60 per try).
_ID_ATTEMPTS = 5
_SYSTEM_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
NAME_MAX = 100
ACCOUNT_NUMBER_MAX = 128


class CustomerError(ValueError):
    """A request about customers that cannot be done; the message says why (in the
    request's language where a customer can read it; support's own refusals, which only
    the admin API and the CLI show, stay English)."""


LOOKALIKE_MESSAGE = ("This username looks too much like one already in use (some letters "
                     "and digits look alike); choose another.")


class IdentifierTaken(CustomerError):
    """The identifier is active on another customer. Views must not reveal this to the
    public: sign-up answers the same either way."""


class AlreadyOnAccount(CustomerError):
    """The identifier is already on this very customer (verified or not)."""


class LastIdentifier(CustomerError):
    """Removing it would leave the customer with no identifier: nobody could find the
    account again. The floor of the "last way in" rule (app/directory/identifier_changes.py
    adds the customer's own, stricter, half)."""


class SupportError(CustomerError):
    """A support action that cannot be done; the message says why, for the agent.
    `kind` is a short stable name for the refusal (the API's problem type). Support's
    actions live in app/auth/support.py and app/phones/support_actions.py."""

    kind = "refused"

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class StateConflict(SupportError):
    """The customer's state forbids the action (already locked, nothing to reset ...)."""

    kind = "conflict"


class NotTheirs(SupportError):
    """The binding (or other thing) named does not belong to this customer."""

    kind = "not-found"


@dataclass(frozen=True)
class NormalizedIdentifier:
    """An identifier as stored: `value` to show and send to, `match_key` to compare."""

    kind: str
    value: str
    match_key: str
    #: Usernames only: the TS #39 confusable skeleton (app/identity/identifiers.py).
    skeleton: str | None = None


def normalize_identifier(kind: str, text: str) -> NormalizedIdentifier:
    """Normalise what a person typed as an identifier of `kind`; raise CustomerError."""
    if text is None or len(text) > 320:
        raise CustomerError(_("That is too long to be an email, phone number or username."))
    try:
        if kind == "email":
            value = normalize_email(text)
            return NormalizedIdentifier("email", value, email_match_key(value))
        if kind == "phone":
            value = normalize_phone(text, current_app.config["DEFAULT_REGION"])
            return NormalizedIdentifier("phone", value, value)
        if kind == "username":
            value = normalize_username(text)
            if looks_like_customer_id(value):
                raise CustomerError(_("That username could be read as a customer ID; choose "
                                      "another."))
            return NormalizedIdentifier("username", value, value, username_skeleton(value))
    except InvalidIdentifier as error:
        raise CustomerError(str(error)) from None
    raise CustomerError(f"Unknown identifier kind {kind!r}.")


def normalize_name(text: str | None) -> str | None:
    """Trim and NFKC a name; empty means none; refuse control characters and long names."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    if len(text) > NAME_MAX:
        raise CustomerError(_("Names have at most %(count)d characters.", count=NAME_MAX))
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise CustomerError(_("Names cannot contain control characters."))
    return text


def create_customer(origin: Origin, given_name: str | None = None,
                    family_name: str | None = None) -> Customer:
    """Create a customer with a fresh random customer ID (retried on collision)."""
    given_name, family_name = normalize_name(given_name), normalize_name(family_name)
    for _attempt in range(_ID_ATTEMPTS):
        customer = Customer(customer_id=customer_ids.generate(), given_name=given_name,
                            family_name=family_name, status="active")
        try:
            with db.session.begin_nested():
                db.session.add(customer)
        except IntegrityError:
            continue  # the ID exists (or existed: tombstones stay); draw another
        record_event("customer.created", origin, customer.customer_id)
        return customer
    raise CustomerError(_("Could not allocate a customer ID; try again."))


def add_identifier(customer: Customer, identifier: NormalizedIdentifier, origin: Origin,
                   verified: bool = False) -> Identifier:
    """Bind an identifier to a customer; raise IdentifierTaken if it is active elsewhere.

    The unique index on (kind, match_key) is what enforces "one customer per value",
    also against a concurrent request; the lookup first only gives a clearer error.
    """
    existing = _find_identifier(identifier.kind, identifier.match_key)
    if existing is not None:
        if existing.customer_pk == customer.id:
            raise AlreadyOnAccount(_already_on_account(identifier.kind))
        raise IdentifierTaken(f"This {identifier.kind} belongs to another account.")
    if identifier.skeleton is not None and _skeleton_taken(identifier):
        raise IdentifierTaken(LOOKALIKE_MESSAGE)
    try:
        # Built inside the savepoint: the flush that opens it must not see a half-added row.
        with db.session.begin_nested():
            row = Identifier(customer=customer, kind=identifier.kind, value=identifier.value,
                             match_key=identifier.match_key, skeleton=identifier.skeleton,
                             verified_at=utcnow() if verified else None)
            db.session.add(row)
    except IntegrityError:
        # The unique indexes on (kind, match_key) and (kind, skeleton) decide a race.
        raise IdentifierTaken(f"This {identifier.kind} belongs to another account, or "
                              "looks too much like one that does.") from None
    bump_version(customer)
    record_event("identifier.added", origin, customer.customer_id, kind=identifier.kind,
                 value=identifier.value, verified=verified)
    if verified and identifier.kind == "phone":
        bindings.bind_verified(customer, identifier.value, origin,
                               verified_by=_proof_of(origin))
    return row


def _already_on_account(kind: str) -> str:
    """AlreadyOnAccount's message for an identifier of `kind` (one sentence per kind)."""
    if kind == "email":
        return _("This email is already on the account.")
    if kind == "phone":
        return _("This phone is already on the account.")
    if kind == "username":
        return _("This username is already on the account.")
    return f"This {kind} is already on the account."


def verify_identifier(identifier: Identifier, origin: Origin) -> None:
    """Mark an identifier verified (possession was proved by the caller)."""
    if identifier.verified_at is None:
        identifier.verified_at = utcnow()
        bump_version(identifier.customer)
        record_event("identifier.verified", origin, identifier.customer.customer_id,
                     kind=identifier.kind, value=identifier.value)
    if identifier.kind == "phone":
        bindings.bind_verified(identifier.customer, identifier.value, origin,
                               verified_by=_proof_of(origin))


def remove_identifier(identifier: Identifier, origin: Origin) -> None:
    """Unbind an identifier; refuse to remove the customer's last one (LastIdentifier:
    nobody could find the account again). The customer's own removals also keep a way to
    log in: app/directory/identifier_changes.remove."""
    customer = identifier.customer
    if len(customer.identifiers) <= 1:
        raise LastIdentifier(_("This is the only way to find the account; add another "
                               "first."))
    bump_version(customer)
    record_event("identifier.removed", origin, customer.customer_id, kind=identifier.kind,
                 value=identifier.value)
    if identifier.kind == "phone":
        binding = bindings.binding_of(customer, identifier.value)
        if binding is not None:
            bindings.release(binding, "customer" if origin.actor == "customer"
                             else "admin", origin)
    customer.identifiers.remove(identifier)
    db.session.flush()


def take_over_phone(customer: Customer, identifier: NormalizedIdentifier,
                    origin: Origin) -> tuple[Identifier, Customer | None]:
    """`customer` has just proved they hold this phone number, which is on another
    customer: the number was recycled to a new subscriber (or the old holder lost it).
    Possession wins: the old customer's identifier is removed and its binding marked
    recycled (SMS never opens that account through it again), and the number is added to
    `customer`, verified. Returns (the new identifier, the previous owner or None); the
    caller commits and tells the previous owner through another channel. Nothing here
    tells `customer` who that was."""
    previous = None
    existing = _find_identifier("phone", identifier.match_key)
    if existing is not None and existing.customer_pk != customer.id:
        previous = existing.customer
        binding = bindings.binding_of(previous, identifier.value)
        if binding is not None:
            bindings.mark_recycled(binding, "verified by a new holder", origin)
        bump_version(previous)
        record_event("identifier.removed", origin, previous.customer_id, kind="phone",
                     value=identifier.value, reason="verified_by_new_holder")
        previous.identifiers.remove(existing)
        db.session.flush()
    return add_identifier(customer, identifier, origin, verified=True), previous


def _proof_of(origin: Origin) -> str:
    """How a phone was proved, for its binding: support and the CLI vouch for it ("admin");
    otherwise the customer typed a code we texted ("sms_code")."""
    return "admin" if origin.actor == "cli" or origin.actor.startswith("admin") else "sms_code"


def link_account(customer: Customer, system: str, account_number: str,
                 origin: Origin) -> LinkedAccount:
    """Tie `(system, account_number)` to a customer; each pair belongs to one customer."""
    system, account_number = normalize_linked_account(system, account_number)
    if find_by_linked_account(system, account_number) is not None:
        raise CustomerError(f"{system}:{account_number} is already linked to a customer.")
    try:
        with db.session.begin_nested():
            row = LinkedAccount(customer=customer, system=system, account_number=account_number)
            db.session.add(row)
    except IntegrityError:
        raise CustomerError(f"{system}:{account_number} is already linked to a customer.") from None
    bump_version(customer)
    record_event("linked_account.added", origin, customer.customer_id, system=system,
                 account_number=account_number)
    return row


def unlink_account(linked_account: LinkedAccount, origin: Origin) -> None:
    """Remove a linked account."""
    customer = linked_account.customer
    bump_version(customer)
    record_event("linked_account.removed", origin, customer.customer_id,
                 system=linked_account.system, account_number=linked_account.account_number)
    customer.linked_accounts.remove(linked_account)
    db.session.flush()


def normalize_linked_account(system: str, account_number: str) -> tuple[str, str]:
    """System: a lower-case slug. Account number: NFKC, trimmed, case kept (other systems'
    numbers may be case-sensitive)."""
    system = unicodedata.normalize("NFKC", system or "").strip().lower()
    if not _SYSTEM_RE.match(system):
        raise CustomerError("A system name is 1-64 letters, digits, '.', '_' or '-'.")
    account_number = unicodedata.normalize("NFKC", account_number or "").strip()
    if not account_number or len(account_number) > ACCOUNT_NUMBER_MAX:
        raise CustomerError(f"An account number has 1 to {ACCOUNT_NUMBER_MAX} characters.")
    if any(unicodedata.category(ch).startswith("C") for ch in account_number):
        raise CustomerError("Account numbers cannot contain control characters.")
    return system, account_number


def get_by_customer_id(customer_id: str) -> Customer | None:
    """The customer with this canonical customer ID."""
    return db.session.execute(
        db.select(Customer).where(Customer.customer_id == customer_id)
    ).scalar_one_or_none()


def resolve_alias(customer: Customer) -> Customer:
    """The customer itself, or for a merged (absorbed) customer the survivor its ID now
    stands for: an absorbed ID finds the survivor forever."""
    if customer.status == "merged" and customer.merged_into_pk is not None:
        return db.session.get(Customer, customer.merged_into_pk) or customer
    return customer


def aliases_of(customer: Customer) -> list[str]:
    """The customer IDs merged into this customer (they all resolve to it)."""
    return list(db.session.scalars(
        db.select(Customer.customer_id).where(Customer.merged_into_pk == customer.id)
        .order_by(Customer.id)))


def bump_version(customer: Customer) -> None:
    """Make the admin API's ETag of this customer stale: call it with any change support
    can see (identifiers, factors, linked accounts, consents...). Done in SQL, so two
    concurrent changes both count."""
    customer.version = Customer.version + 1


def find_by_identifier(kind: str, match_key: str) -> Customer | None:
    """The customer an identifier belongs to, if any."""
    identifier = _find_identifier(kind, match_key)
    return identifier.customer if identifier else None


def find_by_linked_account(system: str, account_number: str) -> Customer | None:
    """The customer behind an account number in another system."""
    row = db.session.execute(
        db.select(LinkedAccount).where(LinkedAccount.system == system,
                                       LinkedAccount.account_number == account_number)
    ).scalar_one_or_none()
    return row.customer if row else None


def find_customer(text: str) -> Customer | None:
    """Find a customer from whatever a person can read out: a customer ID (any spelling),
    an email, a phone number in any format, a username, or `system:account_number`.

    Raises CustomerError for input that is malformed for what it looks like, e.g. a
    customer ID whose check symbol does not match, so no lookup is wasted on a typo.
    """
    text = (text or "").strip()
    if not text or len(text) > 320:
        raise CustomerError("Give a customer ID, email, phone number, username or system:account.")
    if looks_like_customer_id(text):
        try:
            customer = get_by_customer_id(customer_ids.parse(text))
        except customer_ids.InvalidCustomerId as error:
            raise CustomerError(str(error)) from None
        return resolve_alias(customer) if customer is not None else None
    if "@" in text:
        return find_by_identifier("email", normalize_identifier("email", text).match_key)
    system, sep, number = text.partition(":")
    if sep and _SYSTEM_RE.match(system.strip().lower()) and system.strip().lower() != "tel":
        return find_by_linked_account(*normalize_linked_account(system, number))
    if _looks_like_phone(text):
        return find_by_identifier("phone", normalize_identifier("phone", text).match_key)
    return find_by_identifier("username", normalize_identifier("username", text).match_key)


def looks_like_customer_id(text: str) -> bool:
    """True if `text` has the shape of a customer ID: 13 letters and digits, at least one a
    digit, once hyphens and spaces are dropped.

    Shape only: the check symbol is judged by customer_ids.parse, so a mistyped ID is
    reported as mistyped instead of being searched as a username. Usernames of this shape
    are refused, so the two can never be confused.
    """
    compact = re.sub(r"[\s-]", "", text)
    return (len(compact) == 13 and compact.isascii() and compact.isalnum()
            and any(ch.isdigit() for ch in compact))


def _looks_like_phone(text: str) -> bool:
    body = text.removeprefix("tel:")
    return bool(body) and all(ch.isdigit() or ch in " +-().\u00a0" for ch in body) \
        and sum(ch.isdigit() for ch in body) >= 5


def _skeleton_taken(identifier: NormalizedIdentifier) -> bool:
    """True if an identifier of this kind with the same confusable skeleton exists."""
    return db.session.execute(
        db.select(Identifier.id).where(Identifier.kind == identifier.kind,
                                       Identifier.skeleton == identifier.skeleton)
    ).first() is not None


def _find_identifier(kind: str, match_key: str) -> Identifier | None:
    return db.session.execute(
        db.select(Identifier).where(Identifier.kind == kind, Identifier.match_key == match_key)
    ).scalar_one_or_none()


def display_name(customer: Customer) -> str | None:
    """Given and family name joined, if any."""
    parts = [p for p in (customer.given_name, customer.family_name) if p]
    return " ".join(parts) or None


# ---- profile, and account numbers in bulk (the admin API) --------------------------------

#: The profile members support may change; None clears one.
PROFILE_FIELDS = ("given_name", "family_name", "middle_name", "nickname", "locale")
#: The profile members customers change themselves on the account page: support's, and
#: the time zone their account pages show times in (the admin API does not take it yet).
SELF_SERVICE_PROFILE_FIELDS = PROFILE_FIELDS + ("zoneinfo",)
LOCALE_MAX = 35
ZONEINFO_MAX = 64
# BCP 47 in shape only: a language of 2-8 letters, then subtags of 1-8 letters or digits
# (region, script, variants). Registry membership is not checked: a tag we do not know
# is still the customer's choice.
_LOCALE_RE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
# Placeholders in one IN (...) query; well under SQLite's and PostgreSQL's limits.
_IN_CHUNK = 500


def normalize_locale(text: str | None) -> str | None:
    """A BCP 47 language tag in its conventional case ("EN-gb" -> "en-GB", "zh-hant" ->
    "zh-Hant"); None stays None. Raise CustomerError for anything else (no trimming:
    "" or " en" is refused, not guessed at)."""
    if text is None:
        return None
    if len(text) > LOCALE_MAX or not _LOCALE_RE.fullmatch(text):
        raise CustomerError(_("A locale is a language tag such as en, en-GB or zh-Hant-TW "
                              "(at most %(count)d characters).", count=LOCALE_MAX))
    language, *subtags = text.split("-")
    cased = [language.lower()]
    for subtag in subtags:
        if len(subtag) == 2 and subtag.isalpha():
            cased.append(subtag.upper())    # region: GB
        elif len(subtag) == 4 and subtag.isalpha():
            cased.append(subtag.title())    # script: Hant
        else:
            cased.append(subtag.lower())    # region number, variant, extension
    return "-".join(cased)


def normalize_zoneinfo(text: str | None) -> str | None:
    """An IANA time zone name as the tz database spells it ("Europe/Paris"); None or ""
    is none. Raise CustomerError for a name the server's tz database does not know (the
    case must match: "europe/paris" is refused, not guessed at)."""
    if not text:
        return None
    if len(text) > ZONEINFO_MAX or text not in zoneinfo.available_timezones():
        raise CustomerError(_("Choose a time zone from the list, such as Europe/Paris or "
                              "America/New_York."))
    return text


class InvalidProfileValue(CustomerError):
    """A profile member's value is refused; `member` names it."""

    def __init__(self, member: str, message: str) -> None:
        super().__init__(message)
        self.member = member


_NORMALIZERS = {"locale": normalize_locale, "zoneinfo": normalize_zoneinfo}


def normalize_profile(changes: dict[str, str | None],
                      fields: tuple[str, ...] = PROFILE_FIELDS) -> dict[str, str | None]:
    """The profile members in `changes` as they would be stored (names trimmed and NFKC,
    empty names as None, locales cased, time zones checked). Raise InvalidProfileValue
    for a bad one or for a member not in `fields`."""
    normalized: dict[str, str | None] = {}
    for name, value in changes.items():
        if name not in fields:
            raise InvalidProfileValue(name, "is not part of the profile.")
        try:
            normalized[name] = _NORMALIZERS.get(name, normalize_name)(value)
        except CustomerError as error:
            raise InvalidProfileValue(name, str(error)) from None
    return normalized


def update_profile(customer: Customer, changes: dict[str, str | None],
                   origin: Origin, fields: tuple[str, ...] = PROFILE_FIELDS) -> list[str]:
    """Set the profile members in `changes` (None clears one); return the names of those
    whose value actually changed, in `fields` order. Raises InvalidProfileValue before
    anything changes. The event names the members, never their values."""
    normalized = normalize_profile(changes, fields)
    changed = [name for name in fields
               if name in normalized and getattr(customer, name) != normalized[name]]
    for name in changed:
        setattr(customer, name, normalized[name])
    if changed:
        bump_version(customer)
        record_event("profile.updated", origin, customer.customer_id, fields=changed)
    return changed


def normalize_system(text: str) -> str:
    """A linked account's system name as stored (a lower-case slug); raise CustomerError."""
    system = unicodedata.normalize("NFKC", text or "").strip().lower()
    if not _SYSTEM_RE.match(system):
        raise CustomerError("A system name is 1-64 letters, digits, '.', '_' or '-'.")
    return system


def customer_ids_by_linked_account(system: str,
                                   account_numbers: list[str]) -> dict[str, str]:
    """{account number: customer ID} for those of `account_numbers` (normalised, of the
    normalised `system`) that are linked; the others are absent. One query per 500
    distinct numbers. Merges move links to the survivor and erasure removes them, so
    every ID here is a live customer's."""
    distinct = sorted(set(account_numbers))
    found: dict[str, str] = {}
    for start in range(0, len(distinct), _IN_CHUNK):
        rows = db.session.execute(
            db.select(LinkedAccount.account_number, Customer.customer_id)
            .join(Customer, LinkedAccount.customer_pk == Customer.id)
            .where(LinkedAccount.system == system,
                   LinkedAccount.account_number.in_(distinct[start:start + _IN_CHUNK])))
        found.update({number: customer_id for number, customer_id in rows})
    return found
