"""The periodic sweep (`flask phones sweep`): re-check dormant phone bindings before an
attacker can use them, and mark the ones whose number was given to someone else.

A number unconfirmed for RISK_DORMANT_DAYS_WARN days is the kind carriers recycle. The
sweep asks the lookup provider whether it was reassigned since we last verified it (a
cached answer is fine here), and marks the binding recycled when it was, so the old
customer's account can no longer be opened by SMS (bindings.mark_recycled tells the
customer on their other channels). It checks each binding at most once a day.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from app.extensions import db
from app.models import PhoneBinding, utcnow
from app.models.phone import ACTIVE, LOGIN
from app.phones import bindings, lookups
from app.platform.audit import Origin
from app.providers.phone_facts import REASSIGNED

RECHECK_AFTER = timedelta(days=1)


@dataclass
class SweepResult:
    checked: int = 0
    recycled: int = 0
    unknown: int = 0
    recycled_bindings: list[int] = field(default_factory=list)


def sweep(origin: Origin, limit: int = 1000) -> SweepResult:
    """Check up to `limit` dormant active login bindings; commit as it goes.

    Unlike other services this commits, once per binding: a sweep is a long batch of
    provider calls (up to `limit`, each with its timeout), so a failure or an interrupt
    halfway keeps every binding already checked, and marked recycled, instead of rolling
    the whole run back and sending none of the recycled notices (they go out on each
    commit). The caller (`flask phones sweep`) has nothing left to commit."""
    now = utcnow()
    dormant_since = now - timedelta(days=int(current_app.config["RISK_DORMANT_DAYS_WARN"]))
    result = SweepResult()
    candidates = db.session.scalars(
        select(PhoneBinding).where(
            PhoneBinding.status == ACTIVE, PhoneBinding.usage == LOGIN,
            or_(PhoneBinding.last_verified_at.is_(None),
                PhoneBinding.last_verified_at < dormant_since),
            or_(PhoneBinding.last_checked_at.is_(None),
                PhoneBinding.last_checked_at < now - RECHECK_AFTER))
        .order_by(PhoneBinding.last_verified_at).limit(limit)).all()
    for binding in candidates:
        verified = binding.last_verified_at
        facts = lookups.facts_for(binding.e164, last_verified=verified.date() if verified else None,
                                  fresh=False)
        binding.last_checked_at = now
        bindings.log_event(binding, "checked", reassigned=facts.reassigned,
                           provider=facts.provider)
        result.checked += 1
        if facts.reassigned == REASSIGNED:
            # mark_recycled tells the customer on another channel once this commits.
            bindings.mark_recycled(binding, "the carrier reports the number was "
                                   "reassigned", origin)
            db.session.commit()
            result.recycled += 1
            result.recycled_bindings.append(binding.id)
            continue
        if facts.reassigned != "not_reassigned":
            result.unknown += 1
        db.session.commit()
    return result
