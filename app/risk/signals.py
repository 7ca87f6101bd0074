"""Phone-risk signals: what has happened to a phone number since we last proved that this
customer holds it, computed from plain facts.

Pure: no database, no Flask request, no provider calls. The caller gathers three sets of
facts and passes them in:

- `BindingFacts`: what we recorded about the customer's phone binding (when it was last
  proved by a code, the carrier at binding time, a hold already in place);
- the provider's `PhoneFacts` (app/providers/phone_facts.py) from a lookup made now, or
  None when there was none;
- `RequestFacts`: why a code is being trusted (login, second factor, recovery, a change of
  login details), on what kind of device, and how busy the number has been.

`phone_signals()` turns them into `Signal`s. A *hard* signal decides alone in the policy
(app/risk/phone_policy.py): the number may belong to someone else now, or its SIM card was
changed. A *scored* signal adds its weight to a score that the policy compares with
thresholds. Signals never say "safe": a fact we could not learn is a scored signal of its
own ("sim_swap_unknown", "reassigned_unknown"), because an attacker who has taken over a
number is exactly who benefits when a failed lookup reads as a clean one.

Reasons are plain words for the customer and support staff and never contain the number
or any other personal data, so they can be shown, logged and audited as they are.

Datetimes in BindingFacts and RequestFacts must be timezone-aware (the models return aware
UTC; a naive time is ambiguous and refused). Provider datetimes are read leniently (naive
means UTC): a provider's formatting must never make the risk check raise.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.config import RiskSettings

if TYPE_CHECKING:  # the core stays importable, and testable, without the provider layer
    from app.providers.phone_facts import PhoneFacts

#: RequestFacts.purpose values.
LOGIN = "login"                   # an SMS code as the first factor
MFA = "mfa"                       # an SMS code as the second factor
RECOVERY = "recovery"             # an SMS code to get back into an account
CHANGE_FACTOR = "change_factor"   # adding or changing a phone, email, password or TOTP
PURPOSES = frozenset({LOGIN, MFA, RECOVERY, CHANGE_FACTOR})

#: BindingFacts.status values.
PENDING, ACTIVE, SUSPECT, RECYCLED, RELEASED = (
    "pending", "active", "suspect", "recycled", "released")
BINDING_STATUSES = frozenset({PENDING, ACTIVE, SUSPECT, RECYCLED, RELEASED})

# Signal names: stable identifiers, stored in audit events and read by the policy.
NEVER_VERIFIED = "never_verified"
DORMANT_WARN = "dormant_warn"
DORMANT_HIGH = "dormant_high"
VERIFIED_BY_OTHER_CUSTOMER = "verified_by_other_customer"
SIM_SWAP_RECENT = "sim_swap_recent"
SIM_SWAP_AFTER_VERIFICATION = "sim_swap_after_verification"
SIM_SWAP_UNKNOWN = "sim_swap_unknown"
NUMBER_REASSIGNED = "number_reassigned"
REASSIGNED_UNKNOWN = "reassigned_unknown"
NUMBER_INVALID = "number_invalid"
LINE_INACTIVE = "line_inactive"
LINE_TYPE_LANDLINE = "line_type_landline"
LINE_TYPE_VOIP = "line_type_voip"
LINE_TYPE_CHANGED = "line_type_changed"
CARRIER_CHANGED = "carrier_changed"
CALL_FORWARDING_ON = "call_forwarding_on"
SMS_PUMPING_RISK = "sms_pumping_risk"
SMS_PUMPING_RISK_HIGH = "sms_pumping_risk_high"
SEND_VELOCITY = "send_velocity"
FAILURE_VELOCITY = "failure_velocity"
RECENT_SENSITIVE_CHANGE = "recent_sensitive_change"
NEW_DEVICE = "new_device"

#: The SIM-swap signals: the policy holds SMS on the binding for either.
SIM_SWAP_SIGNALS = frozenset({SIM_SWAP_RECENT, SIM_SWAP_AFTER_VERIFICATION})
#: The "we could not check" signals.
UNKNOWN_SIGNALS = frozenset({SIM_SWAP_UNKNOWN, REASSIGNED_UNKNOWN})

# Weights of the scored signals, against the default thresholds (step up at 30, re-verify
# at 60; recovery and changes of login details at 15 and 40). Chosen so that:
# - one mild signal alone does not disturb a login (a new phone, a number unused for two
#   months, a port years ago, a lookup provider that cannot see SIM swaps) ...
# - ... but two of them together ask for a second factor, and a recovery asks sooner;
# - a number unconfirmed for 90 days, or newly moved to a VoIP service (a classic takeover:
#   port the number to an internet phone service), asks for a second factor on its own.
WEIGHTS: dict[str, int] = {
    NEVER_VERIFIED: 30,
    DORMANT_WARN: 15,
    DORMANT_HIGH: 30,
    LINE_TYPE_VOIP: 30,
    LINE_TYPE_CHANGED: 15,
    CARRIER_CHANGED: 25,
    CALL_FORWARDING_ON: 20,
    SMS_PUMPING_RISK: 20,
    SEND_VELOCITY: 10,
    FAILURE_VELOCITY: 20,
    RECENT_SENSITIVE_CHANGE: 15,
    NEW_DEVICE: 5,
    SIM_SWAP_UNKNOWN: 10,
    REASSIGNED_UNKNOWN: 10,
}
#: Recovery is where a stolen number pays off most (it opens the account without anything
#: else), so these weigh more there: a recent change of login details followed by an SMS
#: recovery is the shape of a takeover in progress, and an unchecked SIM reaches the
#: recovery step-up threshold by itself.
RECOVERY_WEIGHTS: dict[str, int] = {
    RECENT_SENSITIVE_CHANGE: 30,
    SIM_SWAP_UNKNOWN: 15,
    REASSIGNED_UNKNOWN: 15,
}

#: Codes sent to one number in the last hour from which the sending looks like a campaign.
SEND_VELOCITY_THRESHOLD = 3
#: Wrong codes on one number in a day from which someone looks to be guessing.
FAILURE_VELOCITY_THRESHOLD = 5
#: A pumping score from which no text goes to the number at all.
PUMPING_HARD_THRESHOLD = 90

#: Line types that carry text messages the way the binding expects; a change between them
#: (phonenumbers' "fixed_or_mobile" for a US number, a lookup's "mobile") is no change.
_MOBILE_TYPES = frozenset({"mobile", "fixed_or_mobile"})


@dataclass(frozen=True)
class BindingFacts:
    """What we know about this customer's binding to the number."""

    e164: str
    status: str                     # pending | active | suspect | recycled | released
    first_verified_at: datetime | None
    last_verified_at: datetime | None
    last_used_at: datetime | None
    number_type: str | None         # at binding time
    carrier_name: str | None        # at binding time (snapshot); None: unknown
    mobile_network_code: str | None
    blocked_until: datetime | None  # an SMS hold already in place
    verified_by_other_customer_at: datetime | None  # the newest proof of this number by
                                                     # ANOTHER customer, if any

    def __post_init__(self) -> None:
        if self.status not in BINDING_STATUSES:
            raise ValueError(f"unknown binding status {self.status!r}")
        _require_aware(self, "first_verified_at", "last_verified_at", "last_used_at",
                       "blocked_until", "verified_by_other_customer_at")


@dataclass(frozen=True)
class RequestFacts:
    """Why an SMS code is about to be trusted, and what surrounds the request."""

    purpose: str                    # login | mfa | recovery | change_factor
    now: datetime
    new_device: bool                # no recognised device cookie
    sms_sent_last_hour: int         # to this number
    sms_failures_last_day: int      # wrong codes on this number
    last_sensitive_change_at: datetime | None  # email, password, phone ... changed
    #: A live lookup provider was asked (PHONE_LOOKUP is not "offline"), so an unknown
    #: fact means it could not answer (down, timeout, garbage), not that the deployment
    #: chose to run no checks.
    lookup_live: bool = False

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {self.purpose!r}")
        if self.now is None:
            raise ValueError("now is required")
        _require_aware(self, "now", "last_sensitive_change_at")
        if self.sms_sent_last_hour < 0 or self.sms_failures_last_day < 0:
            raise ValueError("counts cannot be negative")


@dataclass(frozen=True)
class Signal:
    """One thing that bears on trusting an SMS code to this number."""

    name: str                       # stable identifier, e.g. "sim_swap_recent"
    hard: bool                      # a hard rule (decides alone) or a scored one
    weight: int                     # score contribution (0 for hard ones)
    reason: str                     # plain words for the customer/support, no PII
    #: When the fact happened, where known (the SIM change's date): the policy starts a
    #: hold from it when it is later than now (a provider clock ahead of ours).
    observed_at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self, "observed_at")


def phone_signals(binding: BindingFacts, facts: PhoneFacts | None, request: RequestFacts,
                  settings: RiskSettings) -> list[Signal]:
    """Every signal these facts raise, hard ones first, in a fixed order.

    `facts` is the provider's answer from a lookup made for this request, or None when no
    lookup could be made: then SIM swap and reassignment are "unknown" signals, never
    silently clean. Never raises for any facts the provider may return.
    """
    now = request.now
    signals = [*_dormancy(binding, now, settings),
               *_other_customer(binding)]
    if facts is None:
        signals += _unknown(SIM_SWAP_UNKNOWN, request)
        signals += _unknown(REASSIGNED_UNKNOWN, request)
    else:
        signals += [*_sim_swap(binding, facts, request, settings),
                    *_reassigned(facts, request),
                    *_line(binding, facts),
                    *_carrier(binding, facts),
                    *_pumping(facts, settings)]
    signals += _request_signals(request, settings)
    # Hard first (the policy reads them as rules), then the scored ones by weight.
    return sorted(signals, key=lambda signal: (not signal.hard, -signal.weight))


# ---- one function per kind of fact --------------------------------------------------------

def _dormancy(binding: BindingFacts, now: datetime, settings: RiskSettings) -> list[Signal]:
    """How long since a code last proved the customer holds the number. Numbers are
    recycled to new subscribers after months of disuse, so the longer the silence, the
    less a code today proves. Never proved at all counts as the longest silence."""
    if binding.last_verified_at is None:
        return [_scored(NEVER_VERIFIED, "This number has never been confirmed with a code.")]
    days = (now - binding.last_verified_at).days
    if days >= settings.dormant_days_high:
        return [_scored(DORMANT_HIGH, f"This number has not been confirmed with a code for "
                                      f"{days} days.")]
    if days >= settings.dormant_days_warn:
        return [_scored(DORMANT_WARN, f"This number has not been confirmed with a code for "
                                      f"{days} days.")]
    return []


def _other_customer(binding: BindingFacts) -> list[Signal]:
    """Another customer proved this number after we last did: the strongest evidence of a
    recycled number there is, and one no provider is needed for."""
    other = binding.verified_by_other_customer_at
    if other is None:
        return []
    if binding.last_verified_at is None or other > binding.last_verified_at:
        return [_hard(VERIFIED_BY_OTHER_CUSTOMER,
                      "Someone else has confirmed this number since it was last confirmed "
                      "on this account, so it may now belong to them.")]
    return []


def _sim_swap(binding: BindingFacts, facts: PhoneFacts, request: RequestFacts,
              settings: RiskSettings) -> list[Signal]:
    """A SIM change within RISK_SIM_SWAP_DAYS, or after our last proof of the number.

    Three kinds of answer, each enough alone: the provider's verdict for the window it was
    asked ("swapped"), an exact date of the last change, and "changed within N hours". An
    exact date or an hour window counts when it is inside our window (the boundary is
    inside: exactly 7 days ago is recent) or certainly after our last proof; an hour window
    that straddles the last proof and reaches past our window proves neither, and is left
    to the verdict. With no usable answer at all, the swap is unknown.

    The verdict answers for the window the provider was asked about, so the caller asks
    for RISK_SIM_SWAP_DAYS * 24 hours (`sim_swap_max_age_hours`): a wider window would
    hold customers for older changes, a narrower one would miss recent ones.
    """
    now = request.now
    window = timedelta(days=settings.sim_swap_days)
    last_verified = binding.last_verified_at
    swapped_at = _lenient_utc(getattr(facts, "sim_swapped_at", None))
    within_hours = _hours(getattr(facts, "sim_swapped_within", None))
    verdict = getattr(facts, "sim_swap", None)

    recent = verdict == "swapped"
    after_verification = False
    if swapped_at is not None:
        recent = recent or now - swapped_at <= window
        after_verification = last_verified is not None and swapped_at > last_verified
    if within_hours is not None:
        # Compared as hours, not datetimes: a provider's "within 10**9 hours" must not
        # overflow the datetime range.
        recent = recent or within_hours <= settings.sim_swap_days * 24
        after_verification = after_verification or (
            last_verified is not None
            and (now - last_verified).total_seconds() / 3600 > within_hours)
    if recent:
        return [_hard(SIM_SWAP_RECENT, f"This number's SIM card was changed in the last "
                                       f"{settings.sim_swap_days} days.", swapped_at)]
    if after_verification:
        return [_hard(SIM_SWAP_AFTER_VERIFICATION,
                      "This number's SIM card was changed since the number was last "
                      "confirmed on this account.", swapped_at)]
    if verdict == "not_swapped" or swapped_at is not None or within_hours is not None:
        return []  # a real answer: no change we need to act on
    return _unknown(SIM_SWAP_UNKNOWN, request)


def _reassigned(facts: PhoneFacts, request: RequestFacts) -> list[Signal]:
    """The carrier says the number went to a new subscriber since our last proof."""
    verdict = getattr(facts, "reassigned", None)
    if verdict == "reassigned":
        return [_hard(NUMBER_REASSIGNED, "The phone company reports that this number has "
                                         "been given to a new subscriber.")]
    if verdict == "not_reassigned":
        return []
    return _unknown(REASSIGNED_UNKNOWN, request)


def _line(binding: BindingFacts, facts: PhoneFacts) -> list[Signal]:
    """The line itself: gone out of service, no longer a valid number, or a different
    kind of line than the one the customer bound."""
    signals = []
    if getattr(facts, "valid", None) is False:
        signals.append(_hard(NUMBER_INVALID, "This is no longer a valid phone number."))
    if getattr(facts, "line_status", None) == "inactive":
        signals.append(_hard(LINE_INACTIVE, "The phone company reports that this number is "
                                            "not in service."))
    now_type = getattr(facts, "number_type", None)
    then_type = binding.number_type
    if now_type == "landline":
        # Whatever it was: a landline cannot take a text, so whoever reads codes sent to
        # it does so by some other route (text-to-speech, a forwarding service).
        signals.append(_hard(LINE_TYPE_LANDLINE, "This number is now a landline, which "
                                                 "cannot receive text messages."))
    elif now_type == "voip" and then_type != "voip":
        signals.append(_scored(LINE_TYPE_VOIP, "This number has moved to an internet "
                                               "(VoIP) phone service."))
    elif (now_type not in (None, "voip") and then_type is not None
          and now_type != then_type
          and not {now_type, then_type} <= _MOBILE_TYPES):
        signals.append(_scored(LINE_TYPE_CHANGED, "This number's kind of line has changed "
                                                  "since it was added."))
    if getattr(facts, "call_forwarding", None) == "on":
        signals.append(_scored(CALL_FORWARDING_ON, "Calls to this number are being "
                                                   "forwarded elsewhere."))
    return signals


def _carrier(binding: BindingFacts, facts: PhoneFacts) -> list[Signal]:
    """A port: the network or carrier differs from the snapshot at binding time. Either
    is enough: virtual operators share their host's network code, so a port between
    them changes only the name. Names are compared case- and space-insensitively, since
    lookups spell one carrier several ways; an unknown on either side compares nothing."""
    then_code, now_code = binding.mobile_network_code, getattr(facts, "mobile_network_code", None)
    then_name = _carrier_key(binding.carrier_name)
    now_name = _carrier_key(getattr(facts, "carrier_name", None))
    code_changed = bool(then_code and now_code and str(then_code).strip() != str(now_code).strip())
    name_changed = bool(then_name and now_name and then_name != now_name)
    if code_changed or name_changed:
        return [_scored(CARRIER_CHANGED, "This number has moved to another phone company "
                                         "since it was added.")]
    return []


def _pumping(facts: PhoneFacts, settings: RiskSettings) -> list[Signal]:
    """The provider's SMS-pumping score: texts to this number may be fraud against us
    (traffic pumped to numbers that share the revenue). From PUMPING_HARD_THRESHOLD no
    text goes at all."""
    risk = getattr(facts, "sms_pumping_risk", None)
    if isinstance(risk, bool) or not isinstance(risk, int | float):
        return []
    if risk >= PUMPING_HARD_THRESHOLD:
        return [_hard(SMS_PUMPING_RISK_HIGH, "Text messages to this number show strong "
                                             "signs of fraud.")]
    if risk >= settings.pumping_risk_threshold:
        return [_scored(SMS_PUMPING_RISK, "Text messages to this number show signs of "
                                          "fraud.")]
    return []


def _request_signals(request: RequestFacts, settings: RiskSettings) -> list[Signal]:
    """Signals of the request rather than the number: sending and guessing velocity, a
    recent change of login details, a device we do not recognise."""
    signals = []
    if request.sms_sent_last_hour >= SEND_VELOCITY_THRESHOLD:
        signals.append(_scored(SEND_VELOCITY, "Several codes have been sent to this number "
                                              "in the last hour."))
    if request.sms_failures_last_day >= FAILURE_VELOCITY_THRESHOLD:
        signals.append(_scored(FAILURE_VELOCITY, "Several wrong codes have been entered "
                                                 "for this number today."))
    changed = request.last_sensitive_change_at
    if changed is not None and (request.now - changed
                                <= timedelta(days=settings.sensitive_change_days)):
        signals.append(_scored(RECENT_SENSITIVE_CHANGE,
                               f"This account's login details were changed in the last "
                               f"{settings.sensitive_change_days} days.", request.purpose))
    if request.new_device:
        signals.append(_scored(NEW_DEVICE, "This request comes from a device we do not "
                                           "recognise."))
    return signals


def _unknown(name: str, request: RequestFacts) -> list[Signal]:
    """A fact we could not learn: provider down, no coverage, or not asked."""
    reasons = {
        SIM_SWAP_UNKNOWN: "We could not check whether this number's SIM card was changed "
                          "recently.",
        REASSIGNED_UNKNOWN: "We could not check whether this number has been given to a "
                            "new subscriber.",
    }
    return [_scored(name, reasons[name], request.purpose)]


# ---- helpers ------------------------------------------------------------------------------

def _hard(name: str, reason: str, observed_at: datetime | None = None) -> Signal:
    return Signal(name, True, 0, reason, observed_at)


def _scored(name: str, reason: str, purpose: str | None = None) -> Signal:
    """A scored signal, weighted for `purpose` where the weight depends on it."""
    weight = WEIGHTS[name]
    if purpose == RECOVERY:
        weight = RECOVERY_WEIGHTS.get(name, weight)
    return Signal(name, False, weight, reason)


def _require_aware(instance: object, *names: str) -> None:
    for name in names:
        value = getattr(instance, name)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")


def _lenient_utc(value: object) -> datetime | None:
    """A provider's datetime as aware UTC (naive means UTC); anything else is None."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hours(value: object) -> float | None:
    """A provider's "within N hours" as a non-negative number, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return max(0.0, float(value))


def _carrier_key(name: object) -> str:
    return " ".join(str(name).split()).casefold() if name else ""
