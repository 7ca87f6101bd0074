"""Builders the phone-risk tests share: a binding, a request and a lookup's facts, each a
sensible default with the changes a test names.

The risk core is pure, so these tests need no database and no app: plain facts in, plain
answers out, with explicit datetimes (no clock).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.providers.phone_facts import PhoneFacts
from app.risk.signals import BindingFacts, RequestFacts

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

_BINDING = BindingFacts(
    e164="+447400123456", status="active",
    first_verified_at=NOW - 400 * DAY, last_verified_at=NOW - 10 * DAY,
    last_used_at=NOW - 10 * DAY, number_type="mobile", carrier_name="Vodafone UK",
    mobile_network_code="15", blocked_until=None, verified_by_other_customer_at=None)

_REQUEST = RequestFacts(purpose="login", now=NOW, new_device=False, sms_sent_last_hour=0,
                        sms_failures_last_day=0, last_sensitive_change_at=None)

#: A lookup that found nothing wrong with the number.
_CLEAN_FACTS = PhoneFacts(
    e164="+447400123456", provider="twilio-lookup", valid=True, number_type="mobile",
    region="GB", carrier_name="Vodafone UK", mobile_country_code="234",
    mobile_network_code="15", sim_swapped_at=None, sim_swapped_within=None,
    sim_swap="not_swapped", reassigned="not_reassigned", line_status="active",
    call_forwarding="off", sms_pumping_risk=0, unknown_reasons=(), fetched_at=NOW)


def binding(**changes) -> BindingFacts:
    """An active binding last proved 10 days ago, with these changes."""
    return replace(_BINDING, **changes)


def request(**changes) -> RequestFacts:
    """A login from a recognised device on a quiet number, with these changes."""
    return replace(_REQUEST, **changes)


def facts(**changes) -> PhoneFacts:
    """A clean lookup of the bound number, with these changes."""
    return replace(_CLEAN_FACTS, **changes)
