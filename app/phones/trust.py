"""Before an SMS code is trusted: "has anything happened to this number since we last
proved this customer holds it?" — asked of the binding, the provider and the request, and
answered by the policy (app/risk/phone_policy.py), with its reasons.

`assess()` gathers the facts, decides, applies what the decision says to the binding (a
hold, suspect, recycled), and records the decision as a phone event and an audit event, in
the caller's transaction. It never raises for provider trouble: a lookup that fails is
"unknown", which the policy never treats as safe.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.config import RiskSettings
from app.extensions import db
from app.models import AuditEvent, Customer, PhoneBinding, VerificationCode, utcnow
from app.models.phone import RECYCLED, RELEASED
from app.phones import bindings, lookups
from app.platform.audit import Origin, record_event
from app.risk.phone_policy import (ALLOW, HOLD, RECYCLING_SIGNALS, REVERIFY, STEP_UP, Decision,
                                   decide, describe)
from app.risk.signals import BindingFacts, RequestFacts, phone_signals

#: Audit events that count as a recent sensitive change to the account.
SENSITIVE_EVENTS = ("password.changed", "identifier.added", "identifier.removed",
                    "totp.enrolled", "totp.removed", "recovery_codes.generated")
#: Purposes whose decision must rest on a fresh SIM-swap answer, never a cached one.
FRESH_PURPOSES = ("login", "mfa", "recovery", "change_factor")

NO_BINDING = Decision(action="reject", reasons=("This number is not on the account.",),
                      signals=("no_binding",), score=0, hold_until=None)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: The answer when deciding itself failed (a bug, a misconfiguration): never "allow
#: because we could not check", and never a crashed login either.
COULD_NOT_CHECK = Decision(action=STEP_UP, reasons=("We could not check this number right "
                                                     "now.",),
                           signals=("check_failed",), score=0, hold_until=None,
                           unchecked=True)


def assess(customer: Customer, e164: str, purpose: str, origin: Origin, *,
           new_device: bool = True) -> Decision:
    """Decide whether an SMS code to `e164` may count for `customer` and `purpose`
    ("login", "mfa", "recovery", "change_factor"), and act on the decision. Never raises:
    a failure to decide is logged and answered with a step up."""
    try:
        with db.session.begin_nested():
            return _assess(customer, e164, purpose, origin, new_device)
    except Exception:  # noqa: BLE001  (whatever broke, the login must not)
        current_app.logger.exception("phone-risk decision failed; asking for a step up")
        record_event("phone.decision", origin, customer.customer_id, purpose=purpose,
                     action=COULD_NOT_CHECK.action, signals=list(COULD_NOT_CHECK.signals),
                     phone_hint=e164[-2:])
        return COULD_NOT_CHECK


def _assess(customer: Customer, e164: str, purpose: str, origin: Origin,
            new_device: bool) -> Decision:
    binding = bindings.binding_of(customer, e164)
    if binding is None:
        return NO_BINDING
    now = utcnow()
    settings = RiskSettings.from_config(current_app.config)
    last_verified = _aware(binding.last_verified_at)
    facts = lookups.facts_for(
        e164, last_verified=last_verified.date() if last_verified else None,
        fresh=purpose in FRESH_PURPOSES, sim_swap_max_age_hours=24 * settings.sim_swap_days)
    binding_facts = BindingFacts(
        e164=e164, status=binding.status,
        first_verified_at=_aware(binding.first_verified_at), last_verified_at=last_verified,
        last_used_at=_aware(binding.last_used_at), number_type=binding.number_type,
        carrier_name=(binding.carrier_snapshot or {}).get("carrier_name"),
        mobile_network_code=(binding.carrier_snapshot or {}).get("mobile_network_code"),
        blocked_until=_aware(binding.sms_hold_until),
        verified_by_other_customer_at=_verified_elsewhere_at(binding))
    request = RequestFacts(
        purpose=purpose, now=now, new_device=new_device,
        sms_sent_last_hour=_sent_since(e164, now - timedelta(hours=1)),
        sms_failures_last_day=_failures_since(e164, now - timedelta(days=1)),
        last_sensitive_change_at=_last_sensitive_change(customer, e164,
                                                        settings.sensitive_change_days),
        lookup_live=current_app.config["PHONE_LOOKUP"] != "offline")
    decision = decide(phone_signals(binding_facts, facts, request, settings), request,
                      binding_facts, settings)
    _apply(binding, decision, origin)
    binding.last_checked_at = now
    bindings.log_event(binding, "decision", purpose=purpose, action=decision.action,
                       signals=list(decision.signals), score=decision.score)
    record_event("phone.decision", origin, customer.customer_id, purpose=purpose,
                 action=decision.action, signals=list(decision.signals),
                 phone_hint=e164[-2:])
    return decision


def _apply(binding: PhoneBinding, decision: Decision, origin: Origin) -> None:
    if RECYCLING_SIGNALS & set(decision.signals) and decision.action != ALLOW:
        bindings.mark_recycled(binding, decision.reasons[0], origin)
    elif decision.action == HOLD and decision.hold_until is not None:
        bindings.hold_sms(binding, decision.hold_until, decision.reasons[0])
    elif decision.action == REVERIFY:
        bindings.mark_suspect(binding, decision.reasons[0])


def paused_reason(customer: Customer) -> list[str]:
    """Plain sentences for the account page, in its language: why SMS codes do not work
    for this customer's numbers right now (held, suspect or recycled bindings)."""
    now = utcnow()
    sentences = []
    for binding in bindings.bindings_of(customer):
        if binding.status == RELEASED:
            continue
        if binding.status == RECYCLED:
            sentences.append(_("Text-message codes to the number ending %(digits)s no longer "
                               "log you in: it may now belong to someone else.",
                               digits=binding.e164[-2:]))
        elif binding.status == "suspect":
            sentences.append(_("Text-message codes to the number ending %(digits)s are paused "
                               "until you confirm the number again (Add a phone, with the "
                               "same number).", digits=binding.e164[-2:]))
        elif binding.sms_hold_until and _aware(binding.sms_hold_until) > now:
            sentences.append(describe(Decision(
                action=HOLD, reasons=(binding.hold_reason or "",), signals=("sms_hold",),
                score=0, hold_until=_aware(binding.sms_hold_until))))
    return sentences


def _verified_elsewhere_at(binding: PhoneBinding) -> datetime | None:
    return _aware(db.session.scalar(
        select(func.max(PhoneBinding.last_verified_at)).where(
            PhoneBinding.e164 == binding.e164, PhoneBinding.customer_pk != binding.customer_pk)))


def _sent_since(e164: str, since: datetime) -> int:
    return db.session.scalar(select(func.count()).select_from(VerificationCode).where(
        VerificationCode.kind == "phone", VerificationCode.match_key == e164,
        VerificationCode.sent_at > since)) or 0


def _failures_since(e164: str, since: datetime) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(VerificationCode.attempts), 0))
                             .where(VerificationCode.kind == "phone",
                                    VerificationCode.match_key == e164,
                                    VerificationCode.consumed_at.is_(None),
                                    VerificationCode.created_at > since)) or 0


def _last_sensitive_change(customer: Customer, e164: str, days: int) -> datetime | None:
    """The newest change to how the account is opened in the last `days` days, leaving
    out the account's own creation and changes to this very number (binding it is not a
    warning sign about it)."""
    since = utcnow() - timedelta(days=days)
    created = _aware(customer.created_at)
    for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.customer_id == customer.customer_id,
                                     AuditEvent.event.in_(SENSITIVE_EVENTS),
                                     AuditEvent.occurred_at > since)
            .order_by(AuditEvent.occurred_at.desc())):
        occurred = _aware(event.occurred_at)
        if created and occurred - created < timedelta(minutes=5):
            continue
        if (event.details or {}).get("value") == e164:
            continue
        return occurred
    return None
