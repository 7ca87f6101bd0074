"""Writing audit events. Every security-relevant change calls `record_event` in the same
transaction as the change, so an event exists exactly when the change does."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import AuditEvent


@dataclass(frozen=True)
class Origin:
    """Who asked for a change and from where: views and the CLI build one per request."""

    actor: str = "system"
    ip: str | None = None
    user_agent: str | None = None


def record_event(event: str, origin: Origin, customer_id: str | None = None,
                 **details: object) -> AuditEvent:
    """Add an audit event to the current transaction (the caller commits)."""
    audit_event = AuditEvent(
        event=event,
        customer_id=customer_id,
        actor=origin.actor[:128],
        ip=origin.ip,
        user_agent=(origin.user_agent or None) and origin.user_agent[:512],
        details=details,
    )
    db.session.add(audit_event)
    return audit_event


def recent_events(customer_id: str, limit: int = 20) -> list[AuditEvent]:
    """A customer's most recent events that have words for customers (EVENT_DESCRIPTIONS),
    newest first. Internal events (codes sent, factors proved, limits hit) stay out: some
    would tell a customer what another person's attempt did."""
    return list(db.session.scalars(
        db.select(AuditEvent)
        .where(AuditEvent.customer_id == customer_id,
               AuditEvent.event.in_(list(EVENT_DESCRIPTIONS)))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ))


def events_page(customer_id: str, before_id: int | None = None,
                limit: int = 20) -> tuple[list[AuditEvent], int | None]:
    """One page of `recent_events` for the activity page, newest first, and the id to
    pass as `before_id` for the next (older) page, or None on the last page. Keyset
    paging on the event id (ids grow with time), so new events never shift a page."""
    query = (db.select(AuditEvent)
             .where(AuditEvent.customer_id == customer_id,
                    AuditEvent.event.in_(list(EVENT_DESCRIPTIONS)))
             .order_by(AuditEvent.id.desc()).limit(limit + 1))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = list(db.session.scalars(query))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


#: Plain words for the events customers see on their account page.
EVENT_DESCRIPTIONS = {
    "customer.created": _l("Account created"),
    "signup.completed": _l("Signed up"),
    "signup.attempted_existing": _l("Someone tried to sign up with your details"),
    "login.succeeded": _l("Logged in"),
    "login.failed": _l("Failed login attempt"),
    "logout": _l("Logged out"),
    "identifier.added": _l("Email or phone added"),
    "identifier.verified": _l("Email or phone confirmed"),
    "identifier.removed": _l("Email or phone removed"),
    "linked_account.added": _l("Account in another system linked"),
    "linked_account.removed": _l("Account in another system unlinked"),
    "password.changed": _l("Password changed"),
    "password.change_failed": _l("Wrong current password given when changing the password"),
    "session.signed_out": _l("Signed out on another device"),
    "sessions.signed_out_others": _l("Signed out on every other device"),
    "recovery.completed": _l("Account recovered and a new password chosen"),
    "consent.granted": _l("App allowed to use your account"),
    "consent.revoked": _l("App disconnected from your account"),
    "logout.tokens_revoked": _l("Signed out of apps"),
    "logout.backchannel_failed": _l("An app could not be told you signed out"),
    "token.revoked": _l("App access revoked"),
    "token.exchanged": _l("Access passed on from one service to another"),
    "token.code_replayed": _l("A login code was used twice; that app's access was revoked"),
    "token.refresh_reused": _l("An old app token was reused; that app's access was revoked"),
    "identifier.attempted_existing": _l("Someone tried to add your phone or email to an account"),
    "login.throttled": _l("Logins paused after too many failed attempts"),
    "totp.enrolled": _l("Authenticator app turned on"),
    "totp.removed": _l("Authenticator app removed"),
    "passkey.added": _l("Passkey added"),
    "passkey.renamed": _l("Passkey renamed"),
    "passkey.removed": _l("Passkey removed"),
    "passkey.sign_count_regressed": _l("A passkey behaved like a copy of itself and was "
                                       "refused"),
    "recovery_codes.generated": _l("New recovery codes made"),
    "recovery_code.used": _l("Logged in with a recovery code"),
    "phone.recycled": _l("A phone number stopped opening your account (it may belong to "
                      "someone else now)"),
    "profile.updated": _l("Profile details changed (name, language or time zone)"),
    "communication_consent.given": _l("Agreed to receive messages"),
    "communication_consent.withdrawn": _l("Stopped messages"),
    "account.locked": _l("Support locked your account"),
    "account.unlocked": _l("Support unlocked your account"),
    "password.reset_required": _l("Support asked you to choose a new password"),
    "mfa.reset": _l("Support removed your authenticator app, recovery codes and passkeys"),
    "sessions.revoked": _l("Support logged you out everywhere"),
    "phone.released": _l("Support released a phone number from your account"),
    "recovery_link.issued": _l("Support issued a password reset link"),
    "recovery_link.used": _l("Password reset with a link from support"),
    "customer.merged": _l("Another of your accounts was merged into this one"),
    "deletion.requested": _l("You asked for your account to be deleted"),
    "deletion.cancelled": _l("Account deletion cancelled"),
    "data.exported": _l("You downloaded your data"),
    "admin.data_exported": _l("Support exported your data at your request"),
}


#: The amr values of a passkey login (RFC 8176 "hwk" and "swk": app/auth/levels.py,
#: PASSKEY_AMR, which this floor may not import).
PASSKEY_LOGIN_AMR = frozenset({"hwk", "swk"})
PASSKEY_LOGIN = _l("Logged in with a passkey")
#: A synced passkey keeps a counter per device (or none), so one that goes back is only
#: audited, not refused (app/auth/passkeys.py).
SYNCED_PASSKEY_COUNTER = _l("A synced passkey behaved like a copy of itself; synced "
                            "passkeys are copies on your devices, so it was let in")


def describe_event(event: str, details: dict | None = None) -> str:
    """What an event means, in words for the customer in the current language (the code
    name if we have none). With the event's `details`, some say more: a login with a
    passkey, a synced passkey that was let in."""
    details = details or {}
    if event == "login.succeeded" and PASSKEY_LOGIN_AMR & set(details.get("amr") or ()):
        return str(PASSKEY_LOGIN)
    if event == "passkey.sign_count_regressed" and details.get("synced"):
        return str(SYNCED_PASSKEY_COUNTER)
    return str(EVENT_DESCRIPTIONS.get(event, event))
