"""Phone bindings: which customer a phone number can open, since when, and what happened.

A verified phone identifier is backed by an active login binding (PhoneBinding). The
binding carries what the phone-risk policy needs: when we last proved the customer holds
the number, how, what the number was then (type, region, carrier), whether SMS on it is
held. Bindings are never deleted: removing a phone releases its binding, and a number
proved by a new holder turns the old binding into a recycled one. Every change writes a
PhoneEvent (the phone's own append-only log) in the caller's transaction.

Services here change the database in the caller's transaction (the caller commits), as in
app/directory/customers.py.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Customer, PhoneBinding, PhoneEvent, utcnow
from app.models.phone import ACTIVE, LOGIN, RECYCLED, RELEASED, SUSPECT
from app.platform.audit import Origin, record_event
from app.platform.notifications import notify_after_commit
from app.providers.phone_facts import offline_facts


def number_type_and_region(e164: str) -> tuple[str | None, str | None]:
    """What phonenumbers says offline, in the words the lookup providers use:
    ("mobile", "GB"), or (None, None) if unknown."""
    facts = offline_facts(e164, "offline")
    return facts.number_type, facts.region


def log_event(binding: PhoneBinding | None, event: str, *, e164: str | None = None,
              customer_pk: int | None = None, **details: object) -> PhoneEvent:
    """Append a phone event (the caller commits)."""
    row = PhoneEvent(binding_id=binding.id if binding else None,
                     customer_pk=binding.customer_pk if binding else customer_pk,
                     e164=binding.e164 if binding else e164, event=event, details=details,
                     occurred_at=utcnow())
    db.session.add(row)
    return row


def active_binding(e164: str) -> PhoneBinding | None:
    """The active login binding of a number (at most one, by the partial unique index)."""
    return db.session.scalar(select(PhoneBinding).where(
        PhoneBinding.e164 == e164, PhoneBinding.status == ACTIVE, PhoneBinding.usage == LOGIN))


def binding_of(customer: Customer, e164: str) -> PhoneBinding | None:
    """The customer's current (not released or recycled) binding of a number."""
    return db.session.scalar(select(PhoneBinding).where(
        PhoneBinding.customer_pk == customer.id, PhoneBinding.e164 == e164,
        PhoneBinding.status.notin_([RELEASED, RECYCLED])).order_by(PhoneBinding.id.desc()))


def bindings_of(customer: Customer) -> list[PhoneBinding]:
    """All the customer's bindings, newest first (history included)."""
    return list(db.session.scalars(select(PhoneBinding).where(
        PhoneBinding.customer_pk == customer.id).order_by(PhoneBinding.id.desc())))


def bind_verified(customer: Customer, e164: str, origin: Origin, *, verified_by: str,
                  snapshot: dict | None = None) -> PhoneBinding:
    """Record that `customer` just proved they hold `e164`: refresh their binding, or make
    a new active one. The caller has made sure no other customer holds the number's
    identifier (see `take_over`)."""
    now = utcnow()
    binding = binding_of(customer, e164)
    if binding is None:
        number_type, region = number_type_and_region(e164)
        binding = PhoneBinding(customer_pk=customer.id, e164=e164, status=ACTIVE, usage=LOGIN,
                               bound_at=now, first_verified_at=now, number_type=number_type,
                               region=region)
        db.session.add(binding)
        db.session.flush()
        log_event(binding, "bound", verified_by=verified_by)
    binding.status = ACTIVE
    binding.last_verified_at = now
    binding.verified_by = verified_by
    binding.carrier_snapshot = snapshot if snapshot is not None else _snapshot(e164)
    log_event(binding, "verified", verified_by=verified_by, actor=origin.actor)
    return binding


def _snapshot(e164: str) -> dict | None:
    """What the lookup provider says about the number now (line type, carrier, network
    codes), kept so a later port or line-type change shows up; None offline or when the
    provider cannot say. Never fails the verification it accompanies."""
    if current_app.config["PHONE_LOOKUP"] == "offline":
        return None
    from app.phones import lookups  # app.risk builds on this module
    try:
        facts = lookups.facts_for(e164, last_verified=None, fresh=False)
    except Exception:  # noqa: BLE001  (a snapshot is a nicety; the proof stands)
        current_app.logger.exception("carrier snapshot failed")
        return None
    snapshot = {"line_type": facts.number_type, "carrier_name": facts.carrier_name,
                "mobile_country_code": facts.mobile_country_code,
                "mobile_network_code": facts.mobile_network_code}
    return snapshot if any(snapshot.values()) else None


def release(binding: PhoneBinding, reason: str, origin: Origin) -> None:
    """End a binding (the customer removed the phone, an admin, erasure ...)."""
    if binding.status in (RELEASED, RECYCLED):
        return
    binding.status = RELEASED
    binding.released_at = utcnow()
    binding.release_reason = reason
    log_event(binding, "released", reason=reason, actor=origin.actor)


def mark_recycled(binding: PhoneBinding, reason: str, origin: Origin) -> None:
    """The number now belongs to someone else: SMS must never open this account through
    it again. The binding stays as history.

    This is the one place a binding is released as recycled (the login's phone-risk
    decision, the sweep, a new holder proving the number, support), so it is also where
    the customer is told, on their other trusted channels (every verified email, other
    trusted phones, never this number), once the caller commits."""
    if binding.status == RECYCLED:
        return
    binding.status = RECYCLED
    binding.released_at = utcnow()
    binding.release_reason = "recycled"
    log_event(binding, "recycled", reason=reason, actor=origin.actor)
    record_event("phone.recycled", origin, binding.customer.customer_id,
                 phone_hint=binding.e164[-2:], reason=reason)
    notify_after_commit(binding.customer, "phone_recycled", binding.e164, skip=binding.e164)


def mark_suspect(binding: PhoneBinding, reason: str) -> None:
    """SMS on this binding needs re-verification with a non-SMS factor first."""
    if binding.status == ACTIVE:
        binding.status = SUSPECT
        log_event(binding, "suspect", reason=reason)


def hold_sms(binding: PhoneBinding, until: datetime, reason: str) -> None:
    """Stop SMS codes on this binding until `until` (a later hold wins)."""
    if binding.sms_hold_until is None or binding.sms_hold_until < until:
        binding.sms_hold_until = until
        binding.hold_reason = reason[:200]
        log_event(binding, "hold", until=until.isoformat(), reason=reason)


def record_use(binding: PhoneBinding, purpose: str) -> None:
    """A code to this binding was accepted for `purpose`."""
    binding.last_used_at = utcnow()
    log_event(binding, "used", purpose=purpose)
