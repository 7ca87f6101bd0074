"""Support's recovery actions on a customer's account: lock and unlock, a forced password
reset, an MFA reset, and signing the customer out everywhere. The admin API
(app/admin/recovery_views.py) calls these; recovery links live in
app/auth/recovery_links.py.

Every service takes plain arguments and an Origin, changes the database in the caller's
transaction (the caller commits once, so a refusal leaves nothing behind), writes its own
audit event and bumps the customer's version. Refusals raise StateConflict (the
customer's state forbids it: the API answers 409; app/directory/customers.py).

"Signing out everywhere" (`sign_out_everywhere`) is one rule shared by every action that
does it (lock, forced password reset, MFA reset, revoke everything, and using a recovery
link): every login session ends, `tokens_not_before` moves to now (self-contained access
tokens stop at userinfo and introspection, refresh tokens at the token endpoint), every
live grant row is revoked (so after an unlock nothing issued before the lock comes back),
and codes not yet redeemed expire.

Required actions ("update_password", "configure_totp") are what a customer must do at
their next login before the session opens anything else (app/web/required_actions.py).
Support adds them; setting a password (app/auth/login.set_password) and confirming an
authenticator app (app/auth/totp.confirm_enrolment) clear them.

A forced reset is for a suspected compromise, so whoever stole the old secret must not be
the one to finish it. Only someone who proves a verified channel may:
- "update_password": from the reset on, the old password never logs in again (the login
  flow refuses it like a wrong one: `password_reset_pending`), and never becomes the new
  one (`refuse_reset_password`). A new one is set through a recovery link (email, SMS or
  support's handover), the /recover code texted to a verified phone, or the required-action
  page in a session that proved such a code (`proved_a_channel`).
- "configure_totp": a new authenticator app is enrolled only in a session that proved a
  code to a verified phone, or one whose password was set after the MFA reset (which only
  a channel proof can do while the action is pending: `may_replace_second_factor`). A
  login with the old password alone reaches the page and is told how to prove it.

Releasing a phone binding or marking it recycled: app/phones/support_actions.py.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, or_, select, update

from app.auth import passkeys, passwords
from app.auth.levels import AMR_SMS
from app.auth.sessions import end_all_sessions
from app.directory.customers import CustomerError, StateConflict, bump_version
from app.extensions import db
from app.models import (AuditEvent, AuthorizationCode, Customer, IssuedToken, PasswordCredential,
                        RecoveryCode, RecoveryLink, TotpCredential, utcnow)
from app.models.customer import REQUIRED_ACTIONS
from app.platform.audit import Origin, record_event

UPDATE_PASSWORD, CONFIGURE_TOTP = REQUIRED_ACTIONS
LOCK_REASON_MAX = 200
#: amr values that prove the customer holds one of their verified channels (a code texted
#: to a verified phone). A password does not: it is what a forced reset distrusts.
CHANNEL_PROOFS = frozenset({AMR_SMS})
REUSED_PASSWORD = _l("Choose a password you have not used on this account.")


@dataclass(frozen=True)
class SignedOut:
    """What signing a customer out everywhere ended."""

    sessions: int
    grants: int


# ---- required actions ---------------------------------------------------------------------

def pending_actions(customer: Customer) -> list[str]:
    """The customer's required actions, in REQUIRED_ACTIONS order (the first one is asked
    first)."""
    pending = set(customer.required_actions or [])
    return [action for action in REQUIRED_ACTIONS if action in pending]


def add_required_action(customer: Customer, action: str) -> bool:
    """Ask the customer to do `action` at their next login; False if already asked.
    (A new list is assigned: the JSON column does not track changes made in place.)"""
    if action not in REQUIRED_ACTIONS:
        raise ValueError(f"unknown required action {action!r}")
    pending = pending_actions(customer)
    if action in pending:
        return False
    customer.required_actions = [a for a in REQUIRED_ACTIONS if a in {*pending, action}]
    bump_version(customer)
    return True


def clear_required_action(customer: Customer, action: str) -> bool:
    """The customer did `action`; False if it was not asked of them. The caller commits."""
    pending = pending_actions(customer)
    if action not in pending:
        return False
    customer.required_actions = [a for a in pending if a != action]
    bump_version(customer)
    return True


def password_reset_pending(customer: Customer) -> bool:
    """Support forced a password reset that is not done yet: the stored password is the
    one suspected stolen and must not log in."""
    return UPDATE_PASSWORD in (customer.required_actions or [])


def refuse_reset_password(customer: Customer, password: str) -> None:
    """PasswordRejected when a reset is pending and `password` is the old one: it must
    never work again. Costs one argon2 verification, only while a reset is pending."""
    if not password_reset_pending(customer):
        return
    credential = db.session.get(PasswordCredential, customer.id)
    same, _rehash = passwords.verify_password(
        credential.password_hash if credential else None, password)
    if same:
        raise passwords.PasswordRejected(str(REUSED_PASSWORD))


def proved_a_channel(amr) -> bool:
    """Whether a login session's `amr` includes a code sent to a verified channel."""
    return bool(CHANNEL_PROOFS & set(amr or []))


def may_replace_second_factor(customer: Customer, amr) -> bool:
    """Whether a session (its `amr`) may enrol an authenticator app now. Always, unless
    support reset the second factor ("configure_totp" pending): then only a session that
    proved a verified channel, or logged in with a password set after the reset (while
    the action is pending, only a recovery link or a texted code can set one)."""
    if CONFIGURE_TOTP not in pending_actions(customer) or proved_a_channel(amr):
        return True
    # The audit log orders the two (ids grow with every event; clocks can tie).
    reset, changed = (db.session.scalar(
        select(func.max(AuditEvent.id)).where(AuditEvent.customer_id == customer.customer_id,
                                              AuditEvent.event == event))
        for event in ("mfa.reset", "password.changed"))
    return (db.session.get(PasswordCredential, customer.id) is not None
            and reset is not None and changed is not None and changed > reset)


# ---- signing out everywhere ---------------------------------------------------------------

def sign_out_everywhere(customer: Customer) -> SignedOut:
    """End every login session, stop every token issued until now, and expire codes not
    yet redeemed (see the module docstring). The caller audits and commits."""
    now = utcnow()
    sessions = end_all_sessions(customer)
    customer.tokens_not_before = now
    live = or_(IssuedToken.access_expires_at > now,
               and_(IssuedToken.refresh_token_hash.is_not(None),
                    IssuedToken.rotated_at.is_(None), IssuedToken.refresh_expires_at > now))
    grants = db.session.execute(
        update(IssuedToken)
        .where(IssuedToken.customer_pk == customer.id, IssuedToken.revoked_at.is_(None), live)
        .values(revoked_at=now).execution_options(synchronize_session=False)).rowcount
    # Expired, not marked used: redeeming one then fails quietly instead of looking like
    # a replayed code (which would revoke and audit as an attack).
    db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.customer_pk == customer.id,
               AuthorizationCode.used_at.is_(None), AuthorizationCode.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False))
    return SignedOut(sessions, grants)


def expire_recovery_links(customer: Customer) -> int:
    """Kill the customer's unused recovery links (they expire now); return how many."""
    now = utcnow()
    return db.session.execute(
        update(RecoveryLink)
        .where(RecoveryLink.customer_pk == customer.id, RecoveryLink.used_at.is_(None),
               RecoveryLink.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False)).rowcount


# ---- lock ---------------------------------------------------------------------------------

def normalize_lock_reason(text: str | None) -> str:
    """Why support locks the account: 1 to LOCK_REASON_MAX characters once trimmed, no
    control characters. CustomerError otherwise."""
    reason = unicodedata.normalize("NFKC", text or "").strip()
    if not reason:
        raise CustomerError("Say why the account is locked.")
    if len(reason) > LOCK_REASON_MAX:
        raise CustomerError(f"A lock reason has at most {LOCK_REASON_MAX} characters.")
    if any(unicodedata.category(ch).startswith("C") for ch in reason):
        raise CustomerError("A lock reason cannot contain control characters.")
    return reason


def lock(customer: Customer, reason: str, origin: Origin) -> SignedOut:
    """Lock an active account: no login, session or token works until `unlock`. Signs the
    customer out everywhere and kills unused recovery links. StateConflict unless active."""
    if customer.status != "active":
        raise StateConflict(f"Only an active account can be locked; this one is "
                            f"{customer.status}.", "not-active")
    reason = normalize_lock_reason(reason)
    customer.status = "locked"
    customer.locked_at = utcnow()
    customer.lock_reason = reason
    signed_out = sign_out_everywhere(customer)
    links = expire_recovery_links(customer)
    bump_version(customer)
    record_event("account.locked", origin, customer.customer_id, lock_reason=reason,
                 sessions_ended=signed_out.sessions, grants_revoked=signed_out.grants,
                 recovery_links_expired=links)
    return signed_out


def unlock(customer: Customer, origin: Origin) -> None:
    """Lift support's lock. Nothing issued before the lock comes back (it was revoked).
    StateConflict unless locked."""
    if customer.status != "locked":
        raise StateConflict(f"Only a locked account can be unlocked; this one is "
                            f"{customer.status}.", "not-locked")
    previous_reason = customer.lock_reason
    customer.status = "active"
    customer.locked_at = None
    customer.lock_reason = None
    bump_version(customer)
    record_event("account.unlocked", origin, customer.customer_id,
                 lock_reason=previous_reason)


# ---- forced resets ------------------------------------------------------------------------

def require_password_reset(customer: Customer, origin: Origin) -> SignedOut:
    """A suspected compromise: the old password stops working now (the login flow refuses
    it while "update_password" is pending, and it can never be chosen again), the customer
    sets a new one by proving a verified channel (see the module docstring), and is signed
    out everywhere now.

    StateConflict when a reset is already pending, or when the customer has no password
    (they log in without one; a recovery link is how support gives them one)."""
    if db.session.get(PasswordCredential, customer.id) is None:
        raise StateConflict("This customer has no password to reset. Issue a recovery link "
                            "to let them set one.", "no-password")
    if not add_required_action(customer, UPDATE_PASSWORD):
        raise StateConflict("A password reset is already pending for this customer.",
                            "already-pending")
    return _sign_out_and_record(customer, origin, "password.reset_required")


def reset_mfa(customer: Customer, origin: Origin) -> SignedOut:
    """The customer lost their second factors: remove the authenticator app (confirmed or
    pending), the recovery codes and every passkey (a lost phone takes its passkeys with
    it), ask them to set up a new app at their next login ("configure_totp"), and sign
    them out everywhere. StateConflict when there is nothing to reset."""
    totp_rows = db.session.scalar(select(func.count()).select_from(TotpCredential)
                                  .where(TotpCredential.customer_pk == customer.id))
    code_rows = db.session.scalar(select(func.count()).select_from(RecoveryCode)
                                  .where(RecoveryCode.customer_pk == customer.id))
    if not totp_rows and not code_rows and not passkeys.has_passkey(customer):
        raise StateConflict("This customer has no authenticator app, recovery codes or "
                            "passkeys to reset.", "no-second-factor")
    db.session.execute(delete(TotpCredential).where(TotpCredential.customer_pk == customer.id)
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.customer_pk == customer.id)
                       .execution_options(synchronize_session=False))
    passkeys_removed = passkeys.remove_all(customer)
    add_required_action(customer, CONFIGURE_TOTP)
    return _sign_out_and_record(customer, origin, "mfa.reset", totp_removed=bool(totp_rows),
                                recovery_codes_deleted=code_rows,
                                passkeys_removed=passkeys_removed)


def revoke_everything(customer: Customer, origin: Origin) -> SignedOut:
    """Sign the customer out of every browser and every app, at once."""
    return _sign_out_and_record(customer, origin, "sessions.revoked")


def _sign_out_and_record(customer: Customer, origin: Origin, event: str,
                         **details) -> SignedOut:
    """The end of the forced resets and of revoking everything: sign out everywhere, bump
    the version, and record `event` with `details` and what ended (sessions, grants).
    (`lock` also expires recovery links in between, so it spells this out itself.)"""
    signed_out = sign_out_everywhere(customer)
    bump_version(customer)
    record_event(event, origin, customer.customer_id, **details,
                 sessions_ended=signed_out.sessions, grants_revoked=signed_out.grants)
    return signed_out
