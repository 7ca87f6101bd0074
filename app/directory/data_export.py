"""A customer's data, for the customer (the right of access, GDPR article 15) and for
support acting on their request: everything we hold about them as one JSON document.

`export(customer)` reads only; the views audit the export. The document is versioned
(`format`: "tessera-export/1"; a new major version for any change that renames or removes a
member) and holds no secret: no password hash, sealed TOTP secret, recovery code, session,
device or token hash, and no token. Factors are described (set or not, when), recovery
codes counted, passkeys listed by name, kind and use (never a key, credential ID or user
handle).

Audit events are those of the customer and of every customer merged into it (a merge keeps
events under the ID they happened to), oldest first.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select

from app.auth import passkeys
from app.directory import communication_consents
from app.directory.customers import aliases_of
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import (AuditEvent, Consent, Customer, KnownDevice, LoginSession,
                        PasswordCredential, PhoneBinding, PhoneEvent, RecoveryCode, RecoveryLink,
                        TotpCredential, utcnow)
from app.oidc.clients import get_client
from app.oidc.connected_apps import connected_apps
from app.platform.audit import describe_event

FORMAT = "tessera-export/1"
#: Audit detail keys that could hold part of a secret; never exported.
_SECRET_DETAIL_KEYS = ("throttle_key",)
_SECRET_DETAIL_SUFFIXES = ("_hash", "_secret", "_token", "_sealed")


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def to_json(document: dict) -> str:
    """The document as the text of the download."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def content_disposition(customer: Customer) -> str:
    """The Content-Disposition of the download: a file named after the customer ID."""
    return f'attachment; filename="tessera-data-{customer.customer_id}.json"'


def export(customer: Customer) -> dict:
    """Everything we hold about `customer`, JSON-serialisable (see the module docstring)."""
    aliases = aliases_of(customer)
    return {
        "format": FORMAT,
        "generated_at": utcnow().isoformat(),
        "customer": _customer(customer, aliases),
        "identifiers": [{"kind": i.kind, "value": i.value, "verified_at": _time(i.verified_at),
                         "created_at": _time(i.created_at)} for i in customer.identifiers],
        "factors": _factors(customer),
        "phone_bindings": _phone_bindings(customer),
        "sessions": _sessions(customer),
        "connected_apps": [{"client_id": a.client_id, "name": a.name, "scopes": list(a.scopes),
                            "granted_at": _time(a.granted_at)} for a in connected_apps(customer)],
        "app_consents": _app_consents(customer),
        "linked_accounts": [{"system": a.system, "account_number": a.account_number,
                             "created_at": _time(a.created_at)}
                            for a in customer.linked_accounts],
        "communication_consents": [
            {"channel": row.channel, "purpose": row.purpose, "granted": row.granted,
             "wording_version": row.wording_version, "wording": _wording(row),
             "source": row.source, "recorded_by": row.actor,
             "recorded_at": _time(row.recorded_at)}
            for row in communication_consents.history(customer)],
        "known_devices": [{"first_seen_at": _time(d.first_seen_at),
                           "last_seen_at": _time(d.last_seen_at), "user_agent": d.user_agent}
                          for d in _rows(KnownDevice, customer, KnownDevice.first_seen_at)],
        "recovery_links": [{"channel": link.channel, "sent_to": link.destination_hint,
                            "issued_by": link.issued_by, "created_at": _time(link.created_at),
                            "expires_at": _time(link.expires_at),
                            "used_at": _time(link.used_at)}
                           for link in _rows(RecoveryLink, customer, RecoveryLink.created_at)],
        "audit_events": _audit_events(customer, aliases),
    }


def _rows(model, customer: Customer, order) -> list:
    return list(db.session.scalars(select(model).where(model.customer_pk == customer.id)
                                   .order_by(order, model.id)))


def _customer(customer: Customer, aliases: list[str]) -> dict:
    return {"customer_id": customer.customer_id,
            "customer_id_display": format_for_people(customer.customer_id),
            "status": customer.status, "created_at": _time(customer.created_at),
            "given_name": customer.given_name, "family_name": customer.family_name,
            "middle_name": customer.middle_name, "nickname": customer.nickname,
            "locale": customer.locale, "zoneinfo": customer.zoneinfo, "aliases": aliases,
            "deletion_requested_at": _time(customer.deletion_requested_at),
            "deletion_due_at": _time(customer.deletion_due_at)}


def _factors(customer: Customer) -> dict:
    password = db.session.get(PasswordCredential, customer.id)
    app = db.session.get(TotpCredential, customer.id)
    confirmed = app is not None and app.confirmed_at is not None
    total, unused = db.session.execute(
        select(func.count(RecoveryCode.id), func.count(RecoveryCode.id).filter(
            RecoveryCode.used_at.is_(None))).where(RecoveryCode.customer_pk == customer.id)).one()
    return {"password": {"set": password is not None,
                         "changed_at": _time(password.changed_at) if password else None},
            "totp": {"enrolled": confirmed,
                     "confirmed_at": _time(app.confirmed_at) if confirmed else None},
            "recovery_codes": {"total": total, "unused": unused, "used": total - unused},
            "passkeys": [{"name": p.name, "created_at": _time(p.created_at),
                          "last_used_at": _time(p.last_used_at), "synced": p.backup_eligible,
                          "aaguid": p.aaguid} for p in passkeys.passkeys_of(customer)]}


def _phone_bindings(customer: Customer) -> list[dict]:
    bindings = _rows(PhoneBinding, customer, PhoneBinding.bound_at)
    events: dict[int, list[dict]] = {}
    for event in db.session.scalars(select(PhoneEvent).where(
            PhoneEvent.binding_id.in_([b.id for b in bindings]))
            .order_by(PhoneEvent.occurred_at, PhoneEvent.id)):
        events.setdefault(event.binding_id, []).append(
            {"event": event.event, "occurred_at": _time(event.occurred_at),
             "details": dict(event.details or {})})
    return [{"e164": b.e164, "status": b.status, "usage": b.usage,
             "bound_at": _time(b.bound_at), "first_verified_at": _time(b.first_verified_at),
             "last_verified_at": _time(b.last_verified_at),
             "last_used_at": _time(b.last_used_at), "verified_by": b.verified_by,
             "released_at": _time(b.released_at), "release_reason": b.release_reason,
             "number_type": b.number_type, "region": b.region,
             "carrier": dict(b.carrier_snapshot) if b.carrier_snapshot else None,
             "sms_hold_until": _time(b.sms_hold_until), "hold_reason": b.hold_reason,
             "events": events.get(b.id, [])}
            for b in bindings]


def _sessions(customer: Customer) -> list[dict]:
    return [{"created_at": _time(s.created_at), "last_seen_at": _time(s.last_seen_at),
             "expires_at": _time(s.expires_at), "ended_at": _time(s.ended_at),
             "ip": s.ip, "user_agent": s.user_agent, "amr": list(s.amr or []), "acr": s.acr}
            for s in _rows(LoginSession, customer, LoginSession.created_at)]


def _app_consents(customer: Customer) -> list[dict]:
    consents = []
    for row in _rows(Consent, customer, Consent.granted_at):
        client = get_client(row.client_id)
        consents.append({"client_id": row.client_id, "name": client.name if client else None,
                         "scopes": list(row.scopes or []), "granted_at": _time(row.granted_at),
                         "revoked_at": _time(row.revoked_at)})
    return consents


def _wording(row) -> str | None:
    """The words the customer was shown, while that version is the current one."""
    wording = communication_consents.WORDINGS.get((row.channel, row.purpose))
    # str(): the words are lazy (translated), and the document is JSON.
    return str(wording.text) if wording and wording.version == row.wording_version else None


def _audit_events(customer: Customer, aliases: list[str]) -> list[dict]:
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id.in_([customer.customer_id, *aliases]))
        .order_by(AuditEvent.occurred_at, AuditEvent.id))
    return [{"event": e.event, "description": describe_event(e.event, e.details),
             "occurred_at": _time(e.occurred_at), "customer_id": e.customer_id,
             "actor": e.actor, "ip": e.ip, "user_agent": e.user_agent,
             "details": _public_details(e.details or {})} for e in events]


def _public_details(details: dict) -> dict:
    return {key: value for key, value in details.items()
            if key not in _SECRET_DETAIL_KEYS and not str(key).endswith(_SECRET_DETAIL_SUFFIXES)}
