"""What the admin API shows of a customer. Secrets never appear: factors are shown as
present or not, recovery codes as a count, passkeys by what support may tell the customer
about them (never the public key, credential ID or user handle)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.auth import passkeys, recovery_codes, totp
from app.directory import communication_consents
from app.directory.customers import aliases_of, display_name
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import (AuditEvent, Customer, LoginSession, PasskeyCredential,
                        PasswordCredential, utcnow)
from app.oidc.connected_apps import connected_apps
from app.phones import bindings


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def customer_summary(customer: Customer) -> dict:
    return {"customer_id": customer.customer_id,
            "customer_id_display": format_for_people(customer.customer_id),
            "status": customer.status, "name": display_name(customer),
            "created_at": _time(customer.created_at)}


def passkey_view(passkey: PasskeyCredential) -> dict:
    """One passkey as support sees it: its name, when it was added and last used, whether
    it is synced (backup eligible) and backed up, its authenticator model (AAGUID) and
    transports."""
    return {"id": passkey.id, "name": passkey.name, "created_at": _time(passkey.created_at),
            "last_used_at": _time(passkey.last_used_at), "synced": passkey.backup_eligible,
            "backed_up": passkey.backed_up, "aaguid": passkey.aaguid,
            "transports": list(passkey.transports or [])}


def customer_view(customer: Customer) -> dict:
    now = utcnow()
    sessions = db.session.scalars(select(LoginSession).where(
        LoginSession.customer_pk == customer.id, LoginSession.ended_at.is_(None),
        LoginSession.expires_at > now).order_by(LoginSession.id.desc())).all()
    aliases = aliases_of(customer)
    # A merge keeps each customer's events under the ID they happened to; the survivor's
    # history is its own and its aliases'.
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id.in_([customer.customer_id, *aliases]))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(50)).all()
    return customer_summary(customer) | {
        "version": customer.version,
        "given_name": customer.given_name, "family_name": customer.family_name,
        "middle_name": customer.middle_name, "nickname": customer.nickname,
        "locale": customer.locale, "zoneinfo": customer.zoneinfo,
        "lock": ({"locked_at": _time(customer.locked_at), "reason": customer.lock_reason}
                 if customer.status == "locked" else None),
        "required_actions": list(customer.required_actions or []),
        "deletion_due_at": _time(customer.deletion_due_at),
        "aliases": aliases,
        "communication_consents": [state.as_dict()
                                   for state in communication_consents.current(customer)],
        "identifiers": [{"id": i.id, "kind": i.kind, "value": i.value,
                         "verified": i.verified_at is not None,
                         "verified_at": _time(i.verified_at)} for i in customer.identifiers],
        "factors": {
            "password": db.session.get(PasswordCredential, customer.id) is not None,
            "totp": totp.has_totp(customer),
            "recovery_codes_remaining": recovery_codes.remaining(customer),
            "passkeys": [passkey_view(p) for p in passkeys.passkeys_of(customer)],
        },
        "phone_bindings": [{
            "id": b.id, "e164": b.e164, "status": b.status, "usage": b.usage,
            "last_verified_at": _time(b.last_verified_at), "last_used_at": _time(b.last_used_at),
            "sms_hold_until": _time(b.sms_hold_until), "hold_reason": b.hold_reason,
            "number_type": b.number_type, "region": b.region,
        } for b in bindings.bindings_of(customer)],
        "sessions": [{"id": s.id, "created_at": _time(s.created_at),
                      "last_seen_at": _time(s.last_seen_at), "amr": list(s.amr), "acr": s.acr,
                      "ip": s.ip} for s in sessions],
        "connected_apps": [{"client_id": a.client_id, "name": a.name, "scopes": list(a.scopes),
                            "granted_at": _time(a.granted_at)} for a in connected_apps(customer)],
        "linked_accounts": [{"system": la.system, "account_number": la.account_number}
                            for la in customer.linked_accounts],
        "recent_events": [{"event": e.event, "occurred_at": _time(e.occurred_at),
                           "actor": e.actor, "ip": e.ip, "customer_id": e.customer_id}
                          for e in events],
    }


def tombstone_view(customer: Customer) -> dict:
    """What is left of an erased customer: the ID (never reused) and when."""
    return {"customer_id": customer.customer_id,
            "customer_id_display": format_for_people(customer.customer_id),
            "status": customer.status, "erased_at": _time(customer.erased_at)}
