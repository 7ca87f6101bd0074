"""The phone-risk policy: may an SMS code to this binding be trusted right now, and if not,
what must happen instead?

Pure, like app/risk/signals.py: signals and facts in, a `Decision` out. The answers, from
the mildest to the strictest:

    ALLOW     the code is enough for its purpose;
    STEP_UP   the code counts, but another factor (TOTP, a recovery code) must join it;
    REVERIFY  the code does not count: the customer proves themselves with a non-SMS factor,
              then a fresh code to this number re-activates the binding;
    HOLD      no code to this number counts until `hold_until` (a SIM change: the real
              customer's phone has gone dead, and the pause gives them time to notice and
              call their carrier before a thief holding the new SIM can use it);
    REJECT    this binding never again opens the account by SMS (the number belongs to
              someone else now, or cannot take texts).

Every rule that applies gives its answer and the strictest one wins, so no combination of
signals can soften another: a hard rule beats any score, and a low score never undoes a
hard rule. The rules:

- the binding was recycled or released: REJECT; someone else proved the number after us,
  the carrier says it was reassigned, the line is out of service, no longer valid, now a
  landline, or a heavy SMS-pumping target: REJECT;
- a hold is already in place: HOLD until it ends (asking again never extends it, so nobody
  can keep a customer's codes paused by retrying);
- a SIM change (recent, or after our last proof): HOLD for RISK_SMS_HOLD_DAYS_AFTER_SIM_SWAP
  days (RISK_SMS_HOLD_DAYS_RECOVERY for a recovery) from now, or from the change if the
  provider dates it later than our clock; once a hold that covered the change has been
  served, REVERIFY instead (a fresh proof of the number is what ends the signal);
- the binding is suspect: REVERIFY; any other hard signal this policy does not know:
  REVERIFY (fail closed);
- the score (sum of weights) reaches the block threshold: REVERIFY; the step-up threshold:
  STEP_UP. Recovery and changes of login details use the stricter RISK_RECOVERY_* pair;
- a change of login details is at least STEP_UP whatever the score: a text message alone
  never changes a phone, email, password or authenticator;
- a recovery whose SIM-swap or reassignment check could not be made is at least STEP_UP:
  no SMS-only recovery when we cannot check;
- so is an SMS login when a live lookup provider could not answer (down, timeout,
  garbage): unknown never reads as safe. Such a decision is `unchecked` (it would be ALLOW
  had the provider answered cleanly): the login flow steps up to another factor when the
  customer has one, and otherwise lets them in with a weaker session (app/auth/flow.py).

The decision lists the signals of the rules that decided first, then every other signal
(hard ones, then by weight), with their reasons in the same order: `reasons[i]` explains
`signals[i]`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from babel.dates import format_date, format_skeleton
from flask_babel import gettext as _, get_locale

from app.config import RiskSettings
from app.risk.signals import (CARRIER_CHANGED, CHANGE_FACTOR, LINE_INACTIVE, LOGIN,
                              LINE_TYPE_LANDLINE, NUMBER_INVALID, NUMBER_REASSIGNED, RECOVERY,
                              RECYCLED, RELEASED, SIM_SWAP_AFTER_VERIFICATION, SIM_SWAP_RECENT,
                              SIM_SWAP_SIGNALS, SMS_PUMPING_RISK_HIGH, SUSPECT, UNKNOWN_SIGNALS,
                              VERIFIED_BY_OTHER_CUSTOMER, BindingFacts, RequestFacts, Signal)

ALLOW, STEP_UP, HOLD, REVERIFY, REJECT = "allow", "step_up", "hold", "reverify", "reject"
#: How strict each answer is: the strictest answer of every rule that applies wins.
SEVERITY = {ALLOW: 0, STEP_UP: 1, REVERIFY: 2, HOLD: 3, REJECT: 4}

# Signals the policy adds for its own rules (facts about the binding or the purpose rather
# than the number), so that every reason in a decision has a stable name beside it.
SMS_HOLD = "sms_hold"
BINDING_RECYCLED = "binding_recycled"
BINDING_RELEASED = "binding_released"
BINDING_SUSPECT = "binding_suspect"
CHANGE_FACTOR_NEEDS_SECOND_FACTOR = "change_factor_needs_second_factor"
CHANGE_FACTOR_REASON = "A text message code alone cannot change how you log in."

#: Hard signals that end the binding's use for SMS: the number is someone else's now, or
#: texts to it cannot reach the customer (or would be fraud against us).
REJECT_SIGNALS = frozenset({VERIFIED_BY_OTHER_CUSTOMER, NUMBER_REASSIGNED, LINE_INACTIVE,
                            LINE_TYPE_LANDLINE, NUMBER_INVALID, SMS_PUMPING_RISK_HIGH})
#: Of those, the ones that mean the number now belongs to someone else: the binding is
#: recycled (the caller marks it so; the others may recover, e.g. a line back in service).
RECYCLING_SIGNALS = frozenset({VERIFIED_BY_OTHER_CUSTOMER, NUMBER_REASSIGNED,
                               BINDING_RECYCLED})

_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Decision:
    """The policy's answer, with what led to it."""

    action: str
    reasons: tuple[str, ...]        # the signals' reasons: deciding ones first, then by weight
    signals: tuple[str, ...]        # signal names, in the same order as `reasons`
    score: int
    hold_until: datetime | None     # for HOLD: when SMS on this binding may work again
    #: A STEP_UP only because the number could not be checked: without the "unknown"
    #: signals the answer would be ALLOW.
    unchecked: bool = False


@dataclass(frozen=True)
class _Verdict:
    """One rule's answer and the signals that led it there."""

    action: str
    signals: tuple[Signal, ...]
    hold_until: datetime | None = None


def decide(signals: Iterable[Signal], request: RequestFacts, binding: BindingFacts,
           settings: RiskSettings) -> Decision:
    """The decision for trusting an SMS code to `binding` for `request.purpose`.

    `signals` are phone_signals()'s (or any list of Signal: unknown hard signals are
    treated as REVERIFY, negative weights as 0, so no signal can make a number look
    safer). Never raises for any combination of signals and facts.
    """
    signals = list(signals)
    score = sum(max(0, signal.weight) for signal in signals)
    verdicts = _verdicts(signals, score, request, binding, settings)
    action = _strictest(verdicts)
    checked = [signal for signal in signals if signal.name not in UNKNOWN_SIGNALS]
    unchecked = (action == STEP_UP and len(checked) < len(signals) and _strictest(_verdicts(
        checked, sum(max(0, s.weight) for s in checked), request, binding, settings)) == ALLOW)
    deciding = [verdict for verdict in verdicts if verdict.action == action]
    hold_until = max((v.hold_until for v in deciding if v.hold_until is not None),
                     default=None) if action == HOLD else None

    first = [signal for verdict in deciding for signal in verdict.signals]
    rule_signals = [signal for verdict in verdicts for signal in verdict.signals]
    rest = sorted([*signals, *rule_signals], key=lambda signal: (not signal.hard,
                                                                  -signal.weight))
    ordered = _unique([*first, *rest])
    return Decision(action=action,
                    reasons=tuple(signal.reason for signal in ordered),
                    signals=tuple(signal.name for signal in ordered),
                    score=score, hold_until=hold_until, unchecked=unchecked)


def _verdicts(signals: list[Signal], score: int, request: RequestFacts,
              binding: BindingFacts, settings: RiskSettings) -> list[_Verdict]:
    """Every rule's answer (see the module docstring)."""
    return [*_binding_rules(binding, request.now),
            *_hard_rules(signals, request, binding, settings),
            *_score_rules(signals, score, request, settings),
            *_purpose_rules(signals, request)]


def _strictest(verdicts: list[_Verdict]) -> str:
    return max((verdict.action for verdict in verdicts), key=SEVERITY.__getitem__,
               default=ALLOW)


def thresholds(purpose: str, settings: RiskSettings) -> tuple[int, int]:
    """(step-up score, block score) for a purpose: the stricter pair where a code would
    open an account (recovery) or change how it is opened (change_factor)."""
    if purpose in (RECOVERY, CHANGE_FACTOR):
        return settings.recovery_step_up_score, settings.recovery_block_score
    return settings.step_up_score, settings.block_score


# ---- the rules ----------------------------------------------------------------------------

def _binding_rules(binding: BindingFacts, now: datetime) -> list[_Verdict]:
    """What the binding's own record says, whatever the number's facts."""
    verdicts = []
    if binding.status == RECYCLED:
        verdicts.append(_Verdict(REJECT, (_rule(
            BINDING_RECYCLED, "This number has been given to someone else and no longer "
                              "belongs to this account."),)))
    elif binding.status == RELEASED:
        verdicts.append(_Verdict(REJECT, (_rule(
            BINDING_RELEASED, "This number has been removed from this account."),)))
    elif binding.status == SUSPECT:
        verdicts.append(_Verdict(REVERIFY, (_rule(
            BINDING_SUSPECT, "This number must be confirmed again before its codes can be "
                             "trusted."),)))
    if binding.blocked_until is not None and binding.blocked_until > now:
        verdicts.append(_Verdict(HOLD, (_rule(
            SMS_HOLD, "Text message codes to this number are paused for now."),),
            binding.blocked_until))
    return verdicts


def _hard_rules(signals: list[Signal], request: RequestFacts, binding: BindingFacts,
                settings: RiskSettings) -> list[_Verdict]:
    """Hard signals decide alone."""
    verdicts = []
    rejecting = tuple(s for s in signals if s.hard and s.name in REJECT_SIGNALS)
    if rejecting:
        verdicts.append(_Verdict(REJECT, rejecting))
    swaps = tuple(s for s in signals if s.hard and s.name in SIM_SWAP_SIGNALS)
    hold_active = binding.blocked_until is not None and binding.blocked_until > request.now
    if swaps and not hold_active:
        if _hold_served(binding, swaps, request.now):
            verdicts.append(_Verdict(REVERIFY, swaps))
        else:
            verdicts.append(_Verdict(HOLD, swaps, _sim_swap_hold_until(swaps, request,
                                                                       settings)))
    unknown = tuple(s for s in signals if s.hard and s.name not in REJECT_SIGNALS
                    and s.name not in SIM_SWAP_SIGNALS)
    if unknown:
        verdicts.append(_Verdict(REVERIFY, unknown))
    return verdicts


def _score_rules(signals: list[Signal], score: int, request: RequestFacts,
                 settings: RiskSettings) -> list[_Verdict]:
    """The scored signals together, against the purpose's thresholds."""
    step_up, block = thresholds(request.purpose, settings)
    counted = tuple(sorted((s for s in signals if s.weight > 0), key=lambda s: -s.weight))
    if score >= block:
        return [_Verdict(REVERIFY, counted)]
    if score >= step_up:
        return [_Verdict(STEP_UP, counted)]
    return []


def _purpose_rules(signals: list[Signal], request: RequestFacts) -> list[_Verdict]:
    """Floors that depend on what the code is for, whatever the score."""
    verdicts = []
    if request.purpose == CHANGE_FACTOR:
        verdicts.append(_Verdict(STEP_UP, (_rule(CHANGE_FACTOR_NEEDS_SECOND_FACTOR,
                                                 CHANGE_FACTOR_REASON),)))
    if request.purpose == RECOVERY or (request.purpose == LOGIN and request.lookup_live):
        unknown = tuple(s for s in signals if s.name in UNKNOWN_SIGNALS)
        if unknown:
            verdicts.append(_Verdict(STEP_UP, unknown))
    return verdicts


def _hold_served(binding: BindingFacts, swaps: tuple[Signal, ...], now: datetime) -> bool:
    """Has a hold already run its course for this SIM change? True when a hold ended
    (blocked_until is past) after every dated change: holding again would only pause the
    customer's codes once more for the same change, forever, since nothing but a fresh
    proof of the number clears it. A change we cannot date is treated as new."""
    ended = binding.blocked_until
    if ended is None or ended > now:
        return False
    return all(s.observed_at is not None and s.observed_at < ended for s in swaps)


def _sim_swap_hold_until(swaps: tuple[Signal, ...], request: RequestFacts,
                         settings: RiskSettings) -> datetime:
    """Now (or the change's date when a provider's clock puts it later) plus the hold."""
    days = (settings.sms_hold_days_recovery if request.purpose == RECOVERY
            else settings.sms_hold_days_after_sim_swap)
    start = max([request.now, *(s.observed_at for s in swaps if s.observed_at is not None)])
    try:
        return start + timedelta(days=days)
    except OverflowError:
        return _LATEST


def _rule(name: str, reason: str) -> Signal:
    return Signal(name, True, 0, reason)


def _unique(signals: Iterable[Signal]) -> list[Signal]:
    """Signals in order, each once."""
    seen: list[Signal] = []
    for signal in signals:
        if signal not in seen:
            seen.append(signal)
    return seen


# ---- in words -----------------------------------------------------------------------------
# One whole sentence per case (translated: flask_babel's gettext, English outside an app),
# so that every language can word the reason its own way.

def _rejected(lead: str) -> str:
    """Why codes to this number can no longer be used, by the leading signal of a REJECT."""
    if lead in (VERIFIED_BY_OTHER_CUSTOMER, NUMBER_REASSIGNED, BINDING_RECYCLED):
        return _("Text-message codes to this number can no longer be used because this "
                 "number may now belong to someone else.")
    if lead == BINDING_RELEASED:
        return _("Text-message codes to this number can no longer be used because this "
                 "number is no longer linked to your account.")
    if lead == LINE_INACTIVE:
        return _("Text-message codes to this number can no longer be used because this "
                 "number is no longer in service.")
    if lead == LINE_TYPE_LANDLINE:
        return _("Text-message codes to this number can no longer be used because this "
                 "number is now a landline.")
    if lead == NUMBER_INVALID:
        return _("Text-message codes to this number can no longer be used because this is "
                 "no longer a valid phone number.")
    if lead == SMS_PUMPING_RISK_HIGH:
        return _("Text-message codes to this number can no longer be used because text "
                 "messages to this number show signs of fraud.")
    return _("Text-message codes to this number can no longer be used because it can no "
             "longer be trusted for codes.")


def _to_reverify(lead: str) -> str:
    """What to do to use codes again, and why, by the leading signal of a REVERIFY."""
    if lead == SIM_SWAP_RECENT:
        return _("To use text-message codes again, log in another way and confirm this "
                 "number with a new code, because this number's SIM card was changed "
                 "recently.")
    if lead == SIM_SWAP_AFTER_VERIFICATION:
        return _("To use text-message codes again, log in another way and confirm this "
                 "number with a new code, because this number's SIM card was changed since "
                 "you last confirmed it.")
    if lead == BINDING_SUSPECT:
        return _("To use text-message codes again, log in another way and confirm this "
                 "number with a new code, because we need to be sure this number is still "
                 "yours.")
    if lead == CARRIER_CHANGED:
        return _("To use text-message codes again, log in another way and confirm this "
                 "number with a new code, because this number moved to another phone "
                 "company.")
    return _("To use text-message codes again, log in another way and confirm this number "
             "with a new code, because of unusual activity on this number.")


def describe(decision: Decision) -> str:
    """One plain sentence for the account page (in the request's language), led by the
    deciding signal."""
    lead = decision.signals[0] if decision.signals else ""
    if decision.action == HOLD:
        if decision.hold_until is None:
            if lead in SIM_SWAP_SIGNALS:
                return _("Text-message codes are paused until further notice because this "
                         "number's SIM card was changed recently.")
            return _("Text-message codes are paused until further notice while we make "
                     "sure this number is still yours.")
        until = _day(decision.hold_until)
        if lead in SIM_SWAP_SIGNALS:
            return _("Text-message codes are paused until %(day)s because this number's SIM "
                     "card was changed recently.", day=until)
        return _("Text-message codes are paused until %(day)s while we make sure this "
                 "number is still yours.", day=until)
    if decision.action == REJECT:
        return _rejected(lead)
    if decision.action == REVERIFY:
        return _to_reverify(lead)
    if decision.action == STEP_UP:
        if lead == CHANGE_FACTOR_NEEDS_SECOND_FACTOR:
            return _("A text-message code alone cannot change how you log in, so we also "
                     "ask for your authenticator app or a recovery code.")
        if lead in UNKNOWN_SIGNALS:
            return _("Text-message codes need a second way of logging in right now because "
                     "we could not check this number with the phone company.")
        return _("Text-message codes need a second way of logging in right now because of "
                 "unusual activity on this number.")
    return _("Text-message codes to this number work as usual.")


def _day(moment: datetime) -> str:
    """The day of `moment` (UTC) in the request's language: "30 November" in English
    (no zero-padded day, whatever the server's locale), the language's own day-and-month
    otherwise ("30. November")."""
    moment = moment.astimezone(UTC)
    locale = get_locale()
    if locale is None or locale.language == "en":
        return format_date(moment, "d MMMM", locale="en")
    return format_skeleton("MMMMd", moment, locale=locale)
