"""Password login: identifier + password -> a login session, or one generic refusal.

Nothing here reveals whether an identifier exists: an unknown identifier, a wrong password
and a customer without a password all get the same answer after the same work (one argon2
verification), and the per-identifier backoff applies to unknown identifiers too.

Password failures are counted twice (app/auth/throttle.py): per identifier, and per
customer, so a customer with an email, a phone and a username gives an attacker one
budget of guesses per backoff window, not three.
"""
from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l

from app.auth import passwords, support, throttle
from app.auth.levels import AMR_PASSWORD
from app.directory.customers import (CustomerError, NormalizedIdentifier, bump_version,
                                     find_by_identifier, normalize_identifier)
from app.extensions import db
from app.identity.identifiers import InvalidIdentifier, classify
from app.models import Customer, PasswordCredential, utcnow
from app.platform.audit import Origin, record_event

GENERIC_FAILURE = _l("The identifier or password is not right.")
#: The password throttle per customer (app/auth/throttle.py), beside the one per identifier.
CUSTOMER_THROTTLE_KIND = "password-customer"


class LoginRefused(Exception):
    """Login did not succeed. `message` is safe to show (translated: a module-level lazy
    text is read in the current language here); `retry_at` is set while backing off."""

    def __init__(self, message: str, retry_at: datetime | None = None) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message
        self.retry_at = retry_at


def parse_login_identifier(text: str) -> NormalizedIdentifier:
    """Read an email, phone or username typed into one login box; raise CustomerError."""
    try:
        kind, _value = classify((text or "").strip()[:320],
                                current_app.config["DEFAULT_REGION"])
    except InvalidIdentifier as error:
        raise CustomerError(str(error)) from None
    return normalize_identifier(kind, text)


def check_password(identifier_text: str, password: str, origin: Origin) -> Customer:
    """The customer whose identifier and password these are, or LoginRefused.

    This proves the password factor only: the login flow (app/auth/flow.py) decides
    whether a second factor is needed and starts the session. Failures are audited and
    committed here, because the caller answers LoginRefused without committing and the
    audit event must survive that; a success re-hashes the password if the cost changed (the caller
    commits that with the rest of the login).
    """
    try:
        identifier = parse_login_identifier(identifier_text)
    except CustomerError as error:
        raise LoginRefused(str(error)) from None
    if len(password) > passwords.MAX_LENGTH * 4:
        raise LoginRefused(GENERIC_FAILURE)

    # Both counts (per identifier, per customer) and the hash are read in one transaction,
    # which commits before the hash is checked: the counts stand whatever happens next.
    reservation = throttle.count_attempt(identifier.kind, identifier.match_key)
    if not reservation.allowed:
        record_event("login.throttled", origin, None, kind=identifier.kind,
                     throttle_key=reservation.key_hash[:16])
        db.session.commit()
        raise LoginRefused(_("Too many failed attempts. Wait a little and try again."),
                           reservation.retry_at)

    customer = find_by_identifier(identifier.kind, identifier.match_key)
    customer_reservation = throttle.count_attempt(*_customer_throttle(customer, identifier))
    if not customer_reservation.allowed:
        db.session.commit()
        _refuse_paused_customer(customer, identifier, password, origin)

    credential = db.session.get(PasswordCredential, customer.id) if customer else None
    ok, needs_rehash = _verify_with_no_transaction_open(
        credential.password_hash if credential else None, password)
    if not ok or customer.status != "active":
        record_event("login.failed", origin, customer.customer_id if customer else None,
                     kind=identifier.kind, factor=AMR_PASSWORD,
                     reason="bad_password" if customer else "unknown_identifier")
        db.session.commit()
        # A locked account answers like a wrong password: the lock is not for the public.
        raise LoginRefused(GENERIC_FAILURE)

    throttle.clear(reservation.key_hash, customer_reservation.key_hash)
    if needs_rehash:
        credential.password_hash = passwords.hash_password(password)
        record_event("password.rehashed", origin, customer.customer_id)
    return customer


def _verify_with_no_transaction_open(password_hash: str | None,
                                     password: str) -> tuple[bool, bool]:
    """passwords.verify_password, after ending the transaction the hash was read in.

    The hash is the login's whole cost (tens of milliseconds of argon2) and no lock may
    be held across it: on SQLite every transaction holds the database's write lock from
    BEGIN (app/__init__.py), so one login hashing would stall every other request. The
    commit makes the throttle's counts stand before the check (they must hold whatever
    its outcome); what is written after the check starts a transaction of its own.
    """
    db.session.commit()
    return passwords.verify_password(password_hash, password)


def _customer_throttle(customer: Customer | None,
                       identifier: NormalizedIdentifier) -> tuple[str, str]:
    """The per-customer password throttle's (kind, key): the customer ID, so every
    identifier of one customer shares one count. An unknown identifier gets a key of its
    own (no customer ID has a colon), so it costs the same work and keeps in step with its
    per-identifier count: it can never be paused here first."""
    if customer is not None:
        return CUSTOMER_THROTTLE_KIND, customer.customer_id
    return CUSTOMER_THROTTLE_KIND, f"unknown:{identifier.kind}:{identifier.match_key}"


def _refuse_paused_customer(customer: Customer | None, identifier: NormalizedIdentifier,
                            password: str, origin: Origin) -> NoReturn:
    """Refuse a password for a customer whose password logins are paused (too many
    failures through their other identifiers), without checking it.

    The answer is the plain wrong-password one, after the same argon2 work: answering
    "too many attempts" here would tell whoever failed with one identifier that another
    identifier belongs to the same account. The pause is the bounded login backoff (at
    most LOGIN_BACKOFF_MAX_SECONDS after a failure), never a permanent lock; the
    customer sees it on their account page ("login.throttled"), which is why the event
    is committed here: the caller does not commit a refusal.
    """
    passwords.verify_password(None, password)
    record_event("login.throttled", origin, customer.customer_id if customer else None,
                 kind=identifier.kind, scope="customer")
    db.session.commit()
    raise LoginRefused(GENERIC_FAILURE)


#: The answer to a wrong current password on the change-password form.
WRONG_CURRENT_PASSWORD = _l("That is not your current password. Check it and try again.")
#: The answer while the customer's password logins are paused.
PASSWORD_PAUSED = _l("Too many wrong passwords. Wait a few minutes, then try again.")


class CurrentPasswordRefused(Exception):
    """The current password given to change it is wrong, or password attempts are paused
    (the login backoff); `message` is fit to show at the field (translated here)."""

    def __init__(self, message: str) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message


def check_current_password(customer: Customer, password: str, origin: Origin) -> None:
    """Prove the customer's current password before it is changed, or raise
    CurrentPasswordRefused.

    It counts toward the per-customer password throttle exactly as a login would (a
    stolen session must not become a way to guess the password without backoff). A
    wrong password's audit event is committed here, because the caller answers the
    refusal without committing and the event must stand; the throttle count commits in
    `throttle.reserve_attempt` itself."""
    reservation = throttle.reserve_attempt(CUSTOMER_THROTTLE_KIND, customer.customer_id)
    if not reservation.allowed:
        passwords.verify_password(None, password)
        record_event("login.throttled", origin, customer.customer_id, scope="customer",
                     during="password_change")
        db.session.commit()
        raise CurrentPasswordRefused(PASSWORD_PAUSED)
    credential = db.session.get(PasswordCredential, customer.id)
    ok, _rehash = _verify_with_no_transaction_open(
        credential.password_hash if credential else None, password[:passwords.MAX_LENGTH * 4])
    if not ok:
        record_event("password.change_failed", origin, customer.customer_id)
        db.session.commit()
        raise CurrentPasswordRefused(WRONG_CURRENT_PASSWORD)
    throttle.clear(reservation.key_hash)


def has_password(customer: Customer) -> bool:
    """Whether the customer has a password (customers who signed up by code may not)."""
    return db.session.get(PasswordCredential, customer.id) is not None


def change_password(customer: Customer, new_password: str, origin: Origin, *,
                    current_password: str | None) -> None:
    """The customer changes their own password (the caller commits, then notifies).

    `current_password` is None only when the caller has seen a login in the last few
    minutes (app/web/reauth.py); otherwise it must be right (see check_current_password).
    The new password's policy is checked first, so a rejected new password neither
    costs a throttle attempt nor needs the current one again. Raises PasswordRejected or
    CurrentPasswordRefused; nothing changes then."""
    check_password_policy(customer, new_password)
    if current_password is not None:
        check_current_password(customer, current_password, origin)
    set_password(customer, new_password, origin)


def check_password_policy(customer: Customer, password: str) -> None:
    """Raise PasswordRejected unless `password` meets the policy for this customer (not
    their own identifiers or names)."""
    user_inputs = [i.value for i in customer.identifiers]
    user_inputs += [customer.given_name or "", customer.family_name or ""]
    passwords.check_policy(password, user_inputs)


def set_password(customer: Customer, password: str, origin: Origin) -> None:
    """Set or change a customer's password after the policy check (the caller commits).
    A new password is what support's forced reset asks for: it clears "update_password"."""
    check_password_policy(customer, password)
    new_hash = passwords.hash_password(password)
    credential = db.session.get(PasswordCredential, customer.id)
    if credential is None:
        db.session.add(PasswordCredential(customer_pk=customer.id, password_hash=new_hash))
    else:
        credential.password_hash = new_hash
        credential.changed_at = utcnow()
    bump_version(customer)
    support.clear_required_action(customer, support.UPDATE_PASSWORD)
    record_event("password.changed", origin, customer.customer_id)
