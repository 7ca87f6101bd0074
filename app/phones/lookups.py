"""Phone intelligence answers, cached in the database (PhoneLookup) for
PHONE_LOOKUP_CACHE_SECONDS.

A cached answer is good enough for a periodic sweep or a contact number, but not for the
question that matters most: "was this SIM changed just now?". So a login or recovery
decision asks the provider afresh (`fresh=True`), and stores the fresh answer for others.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import PhoneLookup, utcnow
from app.providers import phone_lookup
from app.providers.phone_facts import PhoneFacts

_DATETIME_FIELDS = ("sim_swapped_at", "fetched_at")
#: Stored beside the facts: the last-verified date the provider was asked about.
ASKED_KEY = "asked_last_verified"


def facts_to_json(facts: PhoneFacts) -> dict:
    data = dataclasses.asdict(facts)
    for name in _DATETIME_FIELDS:
        if data[name] is not None:
            data[name] = data[name].isoformat()
    data["unknown_reasons"] = list(facts.unknown_reasons)
    return data


def facts_from_json(data: dict) -> PhoneFacts:
    known = {f.name for f in dataclasses.fields(PhoneFacts)}
    values = {k: v for k, v in data.items() if k in known}
    for name in _DATETIME_FIELDS:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    values["unknown_reasons"] = tuple(values.get("unknown_reasons") or ())
    return PhoneFacts(**values)


def facts_for(e164: str, *, last_verified: date | None, fresh: bool,
              sim_swap_max_age_hours: int = 240) -> PhoneFacts:
    """What the configured provider knows about `e164`: from the cache unless `fresh` (or
    nothing usable is cached), else asked now and cached. A cached answer is reused only
    for the same question (the same last-verified date: reassignment is judged since
    then). Never raises for provider trouble: the provider reports it as unknown facts."""
    provider = current_app.config["PHONE_LOOKUP"]
    now = utcnow()
    asked = last_verified.isoformat() if last_verified else None
    if not fresh:
        for cached in db.session.scalars(
                select(PhoneLookup).where(PhoneLookup.e164 == e164,
                                          PhoneLookup.provider == provider,
                                          PhoneLookup.expires_at > now)
                .order_by(PhoneLookup.id.desc()).limit(20)):
            if cached.facts.get(ASKED_KEY) == asked:
                return facts_from_json(cached.facts)
    facts = phone_lookup().lookup(e164, last_verified=last_verified,
                                  sim_swap_max_age_hours=sim_swap_max_age_hours)
    seconds = int(current_app.config["PHONE_LOOKUP_CACHE_SECONDS"])
    db.session.add(PhoneLookup(e164=e164, provider=provider,
                               facts=facts_to_json(facts) | {ASKED_KEY: asked},
                               fetched_at=now, expires_at=now + timedelta(seconds=seconds)))
    return facts
