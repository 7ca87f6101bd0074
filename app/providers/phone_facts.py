"""Phone intelligence: "what do we know about this number now?" The facts and the interface.

`app.providers.phone_lookup()` (the registry) returns the provider named by PHONE_LOOKUP;
its `lookup(e164, ...)` answers with a `PhoneFacts`. This module holds what every provider
shares (the facts, the interface, the offline provider and `offline_facts`); the providers
import it, never the registry. The risk signals and the policy (app/risk/) decide what the
facts mean; this layer only asks and reports, and never caches (the risk layer keeps
results in the database).

The one rule every provider keeps: **provider trouble never raises and never looks safe.**
A timeout, a refused connection, an HTTP error, a per-package error code (Twilio 60620: the
carrier gave no SIM swap data), an answer we cannot read or one that contradicts itself
leaves the facts it concerns "unknown" (or None), says why in `unknown_reasons`, and logs a
warning to "tessera.providers" with only the last two digits of the number. The policy then
treats "unknown" as "could not check", which is never "allow because we could not check".
Only programming errors raise (and ProviderError from the registry for a provider name
that does not exist, like `sms_sender()`).

Providers:
- ``offline``: phonenumbers only (validity, number type, region); everything else unknown.
- ``twilio-lookup``: Twilio Lookup v2 (app/providers/twilio_lookup.py).
- ``camara``: an operator's CAMARA SIM Swap and Number Recycling APIs
  (app/providers/camara.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Protocol

import phonenumbers
from phonenumbers import PhoneNumberType

#: Values of the tri-state facts.
UNKNOWN = "unknown"
SWAPPED, NOT_SWAPPED = "swapped", "not_swapped"
REASSIGNED, NOT_REASSIGNED = "reassigned", "not_reassigned"
ACTIVE, INACTIVE = "active", "inactive"
ON, OFF = "on", "off"

#: The reason the offline provider gives for everything it cannot know.
OFFLINE_REASON = "offline provider"

#: phonenumbers' types in our words. Shared cost, personal, pager, UAN and voicemail numbers
#: are "other": none of them is a phone a customer carries.
_PHONENUMBERS_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium",
    PhoneNumberType.SHARED_COST: "other",
    PhoneNumberType.PERSONAL_NUMBER: "other",
    PhoneNumberType.PAGER: "other",
    PhoneNumberType.UAN: "other",
    PhoneNumberType.VOICEMAIL: "other",
}


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class PhoneFacts:
    """What one provider knew about one number at `fetched_at`.

    Every field that could not be learned is None or "unknown", never a safe-looking value;
    `unknown_reasons` says why, one "<fact>: <why>" string each (or "offline provider").
    """

    e164: str
    provider: str                   # "offline" | "twilio-lookup" | "camara"
    valid: bool | None              # None: unknown
    number_type: str | None         # mobile, landline, voip, fixed_or_mobile, toll_free,
                                    # premium, other; None: unknown
    region: str | None              # ISO region from phonenumbers
    carrier_name: str | None = None
    mobile_country_code: str | None = None
    mobile_network_code: str | None = None
    sim_swapped_at: datetime | None = None   # the last SIM change, when a date is given
    sim_swapped_within: int | None = None    # "swapped within N hours" answers, in hours
    sim_swap: str = UNKNOWN          # swapped | not_swapped | unknown, for the window asked
    reassigned: str = UNKNOWN        # reassigned | not_reassigned | unknown, since the date asked
    line_status: str = UNKNOWN       # active | inactive | unknown
    call_forwarding: str = UNKNOWN   # on | off | unknown
    sms_pumping_risk: int | None = None      # 0-100; None: unknown
    unknown_reasons: tuple[str, ...] = ()
    fetched_at: datetime = field(default_factory=utcnow)


class PhoneLookup(Protocol):
    """The interface every provider has."""

    name: str

    def lookup(self, e164: str, *, last_verified: date | None = None,
               sim_swap_max_age_hours: int = 240) -> PhoneFacts:
        """Facts about `e164` now. `last_verified` is the date the customer was last known to
        hold the number (reassignment is judged since then; not asked without it);
        `sim_swap_max_age_hours` is the window `sim_swap` answers for. Never raises for
        provider trouble."""
        ...  # pragma: no cover


class OfflinePhoneLookup:
    """What the number itself tells: phonenumbers' validity, type and region. Nothing is
    asked of anyone, so everything about the line's history is unknown."""

    name = "offline"

    def lookup(self, e164: str, *, last_verified: date | None = None,
               sim_swap_max_age_hours: int = 240) -> PhoneFacts:
        """Facts from phonenumbers; every live fact "unknown" with reason "offline provider"."""
        return replace(offline_facts(e164, self.name), unknown_reasons=(OFFLINE_REASON,))


def offline_facts(e164: str, provider: str) -> PhoneFacts:
    """The facts phonenumbers gives (valid, number_type, region), everything else unknown
    and no reasons yet: the base every provider starts from. A string that is not a phone
    number at all is simply not valid."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return PhoneFacts(e164=e164, provider=provider, valid=False, number_type=None,
                          region=None)
    valid = phonenumbers.is_valid_number(number)
    number_type = (_PHONENUMBERS_TYPES.get(phonenumbers.number_type(number))
                   if valid else None)
    region = phonenumbers.region_code_for_number(number)
    return PhoneFacts(e164=e164, provider=provider, valid=valid, number_type=number_type,
                      region=region if region and region != "ZZ" else None)

