"""Merging two customers: one person with two accounts becomes one customer.

`merge(survivor, absorbed, origin)` does everything in the caller's transaction (the caller
commits once, so a refusal or a failure half-way leaves both customers as they were). The
absorbed customer's row stays as an alias: its customer ID finds the survivor forever
(customers.resolve_alias), because a customer ID is never changed or reused.

The rules (the OpenAPI description of POST /customers/{id}/merge says the same):

- Ways to find the person move to the survivor: identifiers, linked accounts, phone
  bindings with their phone events, known devices. The unique indexes mean two customers
  never hold the same identifier, account number or active login phone, so nothing
  clashes; a browser known to both keeps the survivor's row (first and last seen widened).
- Factors: **the survivor's factor wins; a factor the survivor lacks is taken from the
  absorbed customer.**
  * Password: the survivor's is kept (the absorbed's deleted), else the absorbed's moves.
  * Authenticator app (TOTP) with its recovery codes, which belong to it: the survivor's
    confirmed app is kept and the absorbed's app and codes are deleted; else the absorbed's
    confirmed app moves with its codes (and any pending enrolment or stray codes of the
    survivor are dropped). A TOTP secret is sealed with its customer as context
    (app/platform/crypto.py), so a moved secret is unsealed and sealed again for the survivor. A
    pending (unconfirmed) enrolment of the absorbed is not a factor and is dropped.
  * Passkeys: a person may hold many, so none has to lose: **every passkey of both is
    kept**, the absorbed's moving to the survivor. Each keeps its WebAuthn user handle,
    which its authenticator holds (so the survivor may then have two handles).
- App grants (OAuth consents): the survivor's stand; the absorbed's move only for clients
  the survivor has no consent row for (a withdrawn consent is a decision too); the rest
  are deleted.
- Communication consents: for each (channel, purpose) the survivor never decided, the
  absorbed's rows (the whole history of that pair) move; otherwise the survivor's
  decisions stand and the absorbed's rows are deleted (the audit log keeps them under the
  absorbed's ID, which the survivor's view and export include).
- Names and profile fields (given, family, middle name, nickname, locale): the survivor's
  are kept; blanks are filled from the absorbed.
- Required actions: the union of both.
- Lock: **locked wins**. If either customer is locked, the survivor is locked afterwards
  (with the absorbed's lock time and reason if only the absorbed was locked): a merge must
  never open an account support closed; unlocking stays a separate, deliberate act.
- Audit events are append-only and keep the customer ID they happened to; they are not
  rewritten. The survivor's view and export show its own events and its aliases'.
- The absorbed becomes status "merged", `merged_into_pk` = the survivor, `merged_at` now;
  its names, profile, lock and required actions are cleared. Customers merged into it
  earlier are re-pointed to the survivor, so an alias never points at an alias.
- Both customers are logged out everywhere: live sessions ended (the absorbed's ended
  sessions move to the survivor as history), every issued token revoked, unredeemed
  authorization codes spent (a late redemption is refused as a replay),
  `tokens_not_before` = now, and the version bumped. The absorbed's logins in progress,
  pending one-time codes and recovery links are deleted: they were for an account that no
  longer exists on its own.
- "customer.merged" is audited on both customer IDs.
- Refused (MergeConflict): the same customer twice, an erased or merged customer, and a
  customer whose deletion is pending: the customer asked for their data to go, and a merge
  would either keep the absorbed's data alive or erase the survivor's with it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from app.auth import passkeys, totp
from app.auth.sessions import end_all_sessions
from app.directory.customers import CustomerError, bump_version
from app.extensions import db
from app.models import (AuthorizationCode, CommunicationConsent, Consent, Customer, Identifier,
                        IssuedToken, KnownDevice, LinkedAccount, LoginFlow, LoginSession,
                        PasswordCredential, PhoneBinding, PhoneEvent, RecoveryCode, RecoveryLink,
                        TotpCredential, VerificationCode, utcnow)
from app.platform.audit import Origin, record_event

#: Statuses a customer can be merged from or into.
MERGEABLE = ("active", "locked")
#: Profile fields the survivor keeps, filled from the absorbed when blank.
PROFILE_FIELDS = ("given_name", "family_name", "middle_name", "nickname", "locale",
                  "zoneinfo")


class MergeConflict(CustomerError):
    """The two customers cannot be merged (the same customer, one is erased or already
    merged, or one's deletion is pending); the message says why."""


@dataclass(frozen=True)
class MergeResult:
    """What a merge moved and kept, for the audit log. `password` and `totp` say whose
    factor the survivor has now: "survivor", "absorbed" or None (neither had one);
    `passkeys` how many of the absorbed's moved."""

    identifiers: int
    linked_accounts: int
    phone_bindings: int
    known_devices: int
    password: str | None
    totp: str | None
    passkeys: int
    app_consents: int
    communication_consents: int
    sessions_ended: int
    tokens_revoked: int

    def as_details(self) -> dict:
        return {"identifiers_moved": self.identifiers,
                "linked_accounts_moved": self.linked_accounts,
                "phone_bindings_moved": self.phone_bindings,
                "known_devices_moved": self.known_devices,
                "password_from": self.password, "totp_from": self.totp,
                "passkeys_moved": self.passkeys,
                "app_consents_moved": self.app_consents,
                "communication_consents_moved": self.communication_consents,
                "sessions_ended": self.sessions_ended, "tokens_revoked": self.tokens_revoked}


def merge(survivor: Customer, absorbed: Customer, origin: Origin) -> MergeResult:
    """Merge `absorbed` into `survivor` by the module's rules, in the caller's transaction
    (the caller commits, then tells the survivor). MergeConflict, with nothing changed,
    for the same customer twice or a customer that is erased, merged or due for deletion,
    also when that happened concurrently: both rows are claimed with a conditional UPDATE
    first, which also makes a concurrent change to either wait for this transaction."""
    if survivor.id == absorbed.id:
        raise MergeConflict("A customer cannot be merged into itself.")
    for role, customer in (("survivor", survivor), ("absorbed customer", absorbed)):
        _refuse_unmergeable(role, customer)
    _claim_both(survivor, absorbed)

    now = utcnow()
    identifiers = _move(Identifier, absorbed, survivor)
    linked_accounts = _move(LinkedAccount, absorbed, survivor)
    phone_bindings = _move(PhoneBinding, absorbed, survivor)
    _move(PhoneEvent, absorbed, survivor)
    known_devices = _move_known_devices(absorbed, survivor)
    password = _merge_password(absorbed, survivor)
    totp_from = _merge_totp(absorbed, survivor)
    passkeys_moved = passkeys.move_all(absorbed, survivor)
    app_consents = _merge_app_consents(absorbed, survivor)
    communication = _merge_communication_consents(absorbed, survivor)
    sessions_ended = _log_out_everywhere(survivor, now) + _log_out_everywhere(absorbed, now)
    tokens_revoked = _revoke_tokens(survivor, now) + _revoke_tokens(absorbed, now)
    _move(LoginSession, absorbed, survivor)  # ended by now: history, kept in one place
    _drop_pending(absorbed)

    _merge_profile(absorbed, survivor)
    _retire(absorbed, survivor, now)
    for customer in (survivor, absorbed):
        customer.tokens_not_before = now
        bump_version(customer)
    # The relationships loaded before the bulk updates no longer say who holds what.
    for customer in (survivor, absorbed):
        db.session.expire(customer, ["identifiers", "linked_accounts"])

    result = MergeResult(identifiers, linked_accounts, phone_bindings, known_devices, password,
                         totp_from, passkeys_moved, app_consents, communication,
                         sessions_ended, tokens_revoked)
    record_event("customer.merged", origin, survivor.customer_id, role="survivor",
                 absorbed_customer_id=absorbed.customer_id, **result.as_details())
    record_event("customer.merged", origin, absorbed.customer_id, role="absorbed",
                 survivor_customer_id=survivor.customer_id)
    db.session.flush()
    return result


def lock_pair(survivor: Customer, absorbed: Customer) -> None:
    """Lock both customer rows, in id order, before anything else locks either (the admin
    API's If-Match claim locks the survivor): two merges of the same pair in opposite
    directions then queue up instead of deadlocking. Reads both again under the lock.
    (SQLite takes the database write lock at BEGIN, so there is nothing to do there.)"""
    db.session.execute(select(Customer.id).where(Customer.id.in_([survivor.id, absorbed.id]))
                       .order_by(Customer.id).with_for_update())
    for customer in (survivor, absorbed):
        db.session.refresh(customer)


# ---- checks -------------------------------------------------------------------------------

def _refuse_unmergeable(role: str, customer: Customer) -> None:
    if customer.status == "erased":
        raise MergeConflict(f"The {role} was erased; only the tombstone of its ID is left.")
    if customer.status == "merged":
        raise MergeConflict(f"The {role} was already merged into another customer; its ID "
                            "is an alias of that customer now.")
    if customer.status not in MERGEABLE:
        raise MergeConflict(f"The {role} cannot be merged in its state ({customer.status}).")
    if customer.deletion_due_at is not None:
        raise MergeConflict(f"The {role} asked for their account to be deleted. The deletion "
                            "must be cancelled before a merge.")


def _claim_both(survivor: Customer, absorbed: Customer) -> None:
    """Claim both rows (in id order, so two merges of the same pair cannot deadlock) on
    the condition that each is still active or locked with no deletion pending, then read
    them again under the lock."""
    for customer in sorted((survivor, absorbed), key=lambda c: c.id):
        claimed = db.session.execute(
            update(Customer).where(Customer.id == customer.id, Customer.status.in_(MERGEABLE),
                                   Customer.deletion_due_at.is_(None))
            .values(version=Customer.version + 1)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            role = "survivor" if customer is survivor else "absorbed customer"
            raise MergeConflict(f"The {role} was erased, merged or scheduled for deletion "
                                "meanwhile.")
    for customer in (survivor, absorbed):
        db.session.refresh(customer)


# ---- moving rows --------------------------------------------------------------------------

def _move(model, absorbed: Customer, survivor: Customer) -> int:
    """Re-point every row of `model` from the absorbed to the survivor; how many."""
    return db.session.execute(
        update(model).where(model.customer_pk == absorbed.id)
        .values(customer_pk=survivor.id).execution_options(synchronize_session=False)
    ).rowcount


def _move_known_devices(absorbed: Customer, survivor: Customer) -> int:
    """Move the absorbed's known browsers. One browser may be known to both (the unique
    index is per customer): the survivor's row stays, widened to both first/last seen."""
    ours = {row.token_hash: row for row in db.session.scalars(
        select(KnownDevice).where(KnownDevice.customer_pk == survivor.id))}
    moved = 0
    for row in db.session.scalars(select(KnownDevice).where(
            KnownDevice.customer_pk == absorbed.id)).all():
        kept = ours.get(row.token_hash)
        if kept is None:
            row.customer_pk = survivor.id
            moved += 1
            continue
        kept.first_seen_at = min(kept.first_seen_at, row.first_seen_at)
        kept.last_seen_at = max(kept.last_seen_at, row.last_seen_at)
        db.session.delete(row)
    db.session.flush()
    return moved


def _merge_password(absorbed: Customer, survivor: Customer) -> str | None:
    """The survivor's password wins; the absorbed's moves only if the survivor has none."""
    if db.session.get(PasswordCredential, survivor.id) is not None:
        _delete(PasswordCredential, absorbed)
        return "survivor"
    if _move(PasswordCredential, absorbed, survivor):
        return "absorbed"
    return None


def _merge_totp(absorbed: Customer, survivor: Customer) -> str | None:
    """The survivor's confirmed app (and its recovery codes) wins; else the absorbed's
    confirmed app moves with its codes, its secret sealed again for the survivor."""
    if totp.has_totp(survivor):
        _delete(TotpCredential, absorbed)
        _delete(RecoveryCode, absorbed)
        return "survivor"
    # The survivor has no app that is a factor: a pending enrolment or codes left without
    # an app would stand in the way of (or beside) the absorbed's.
    _delete(TotpCredential, survivor)
    _delete(RecoveryCode, survivor)
    if not totp.move_confirmed_app(absorbed, survivor):
        _delete(TotpCredential, absorbed)
        _delete(RecoveryCode, absorbed)
        return None
    _move(RecoveryCode, absorbed, survivor)
    return "absorbed"


def _merge_app_consents(absorbed: Customer, survivor: Customer) -> int:
    """Move the absorbed's app consents for clients the survivor has no row for."""
    decided = select(Consent.client_id).where(Consent.customer_pk == survivor.id)
    db.session.execute(delete(Consent).where(Consent.customer_pk == absorbed.id,
                                             Consent.client_id.in_(decided))
                       .execution_options(synchronize_session=False))
    return _move(Consent, absorbed, survivor)


def _merge_communication_consents(absorbed: Customer, survivor: Customer) -> int:
    """Move the absorbed's decisions for each (channel, purpose) the survivor never
    decided; the rest are superseded by the survivor's own and deleted."""
    decided = set(db.session.execute(
        select(CommunicationConsent.channel, CommunicationConsent.purpose)
        .where(CommunicationConsent.customer_pk == survivor.id).distinct()).all())
    moved = 0
    for row in db.session.scalars(select(CommunicationConsent).where(
            CommunicationConsent.customer_pk == absorbed.id)).all():
        if (row.channel, row.purpose) in decided:
            db.session.delete(row)
        else:
            row.customer_pk = survivor.id
            moved += 1
    db.session.flush()
    return moved


def _delete(model, customer: Customer) -> int:
    return db.session.execute(delete(model).where(model.customer_pk == customer.id)
                              .execution_options(synchronize_session=False)).rowcount


# ---- logging out and dropping what was in progress ---------------------------------------

def _log_out_everywhere(customer: Customer, now) -> int:
    """End the customer's live sessions (the apps that had them are told after the
    commit: app/auth/sessions.py); how many."""
    return end_all_sessions(customer, now=now)


def _revoke_tokens(customer: Customer, now) -> int:
    """Revoke every token the customer holds and spend codes not yet redeemed (their
    tokens would postdate tokens_not_before and so outlive the merge)."""
    db.session.execute(
        update(AuthorizationCode).where(AuthorizationCode.customer_pk == customer.id,
                                        AuthorizationCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    return db.session.execute(
        update(IssuedToken).where(IssuedToken.customer_pk == customer.id,
                                  IssuedToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount


def _drop_pending(absorbed: Customer) -> None:
    """Logins in progress, one-time codes and recovery links of the absorbed account."""
    for model in (LoginFlow, VerificationCode, RecoveryLink):
        _delete(model, absorbed)


# ---- the customer rows --------------------------------------------------------------------

def _merge_profile(absorbed: Customer, survivor: Customer) -> None:
    """Fill the survivor's blanks, unite required actions, and carry a lock over."""
    for name in PROFILE_FIELDS:
        if not getattr(survivor, name) and getattr(absorbed, name):
            setattr(survivor, name, getattr(absorbed, name))
    actions = list(survivor.required_actions or [])
    actions += [a for a in absorbed.required_actions or [] if a not in actions]
    survivor.required_actions = actions
    if absorbed.status == "locked" and survivor.status != "locked":
        survivor.status = "locked"
        survivor.locked_at = absorbed.locked_at or utcnow()
        survivor.lock_reason = absorbed.lock_reason


def _retire(absorbed: Customer, survivor: Customer, now) -> None:
    """Make the absorbed an alias of the survivor, and re-point its own aliases."""
    db.session.execute(
        update(Customer).where(Customer.merged_into_pk == absorbed.id)
        .values(merged_into_pk=survivor.id).execution_options(synchronize_session=False))
    absorbed.status = "merged"
    absorbed.merged_into_pk = survivor.id
    absorbed.merged_at = now
    for name in PROFILE_FIELDS:
        setattr(absorbed, name, None)
    absorbed.locked_at = None
    absorbed.lock_reason = None
    absorbed.required_actions = []

