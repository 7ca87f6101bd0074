"""Writing audit events. Every security-relevant change calls `record_event` in the same
transaction as the change, so an event exists exactly when the change does."""
from __future__ import annotations

from dataclasses import dataclass

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
    "customer.created": "Account created",
    "signup.completed": "Signed up",
    "signup.attempted_existing": "Someone tried to sign up with your details",
    "login.succeeded": "Logged in",
    "login.failed": "Failed login attempt",
    "logout": "Logged out",
    "identifier.added": "Email or phone added",
    "identifier.verified": "Email or phone confirmed",
    "identifier.removed": "Email or phone removed",
    "linked_account.added": "Account in another system linked",
    "linked_account.removed": "Account in another system unlinked",
    "password.changed": "Password changed",
    "password.change_failed": "Wrong current password given when changing the password",
    "session.signed_out": "Signed out on another device",
    "sessions.signed_out_others": "Signed out on every other device",
    "recovery.completed": "Account recovered and a new password chosen",
    "consent.granted": "App allowed to use your account",
    "consent.revoked": "App disconnected from your account",
    "logout.tokens_revoked": "Signed out of apps",
    "logout.backchannel_failed": "An app could not be told you signed out",
    "token.revoked": "App access revoked",
    "token.exchanged": "Access passed on from one service to another",
    "token.code_replayed": "A login code was used twice; that app's access was revoked",
    "token.refresh_reused": "An old app token was reused; that app's access was revoked",
    "identifier.attempted_existing": "Someone tried to add your phone or email to an account",
    "login.throttled": "Logins paused after too many failed attempts",
    "totp.enrolled": "Authenticator app turned on",
    "totp.removed": "Authenticator app removed",
    "recovery_codes.generated": "New recovery codes made",
    "recovery_code.used": "Logged in with a recovery code",
    "phone.recycled": "A phone number stopped opening your account (it may belong to "
                      "someone else now)",
    "profile.updated": "Profile details changed (name, language or time zone)",
    "communication_consent.given": "Agreed to receive messages",
    "communication_consent.withdrawn": "Stopped messages",
    "account.locked": "Support locked your account",
    "account.unlocked": "Support unlocked your account",
    "password.reset_required": "Support asked you to choose a new password",
    "mfa.reset": "Support removed your authenticator app and recovery codes",
    "sessions.revoked": "Support logged you out everywhere",
    "phone.released": "Support released a phone number from your account",
    "recovery_link.issued": "Support issued a password reset link",
    "recovery_link.used": "Password reset with a link from support",
    "customer.merged": "Another of your accounts was merged into this one",
    "deletion.requested": "You asked for your account to be deleted",
    "deletion.cancelled": "Account deletion cancelled",
    "data.exported": "You downloaded your data",
    "admin.data_exported": "Support exported your data at your request",
}


def describe_event(event: str) -> str:
    """What an event means, in words for the customer (the code name if we have none)."""
    return EVENT_DESCRIPTIONS.get(event, event)
