"""The phone-risk policy: one test per rule, the thresholds at their boundaries, how rules
combine, the sentence for the account page, and a property test over any facts."""
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from app.config import RiskSettings
from app.providers.phone_facts import PhoneFacts
from app.risk.phone_policy import (ALLOW, CHANGE_FACTOR_REASON, HOLD, RECYCLING_SIGNALS, REJECT,
                                   REVERIFY, SEVERITY, STEP_UP, Decision, decide, describe)
from app.risk.signals import (BINDING_STATUSES, PURPOSES, BindingFacts, RequestFacts, Signal,
                              phone_signals)
from tests.risk.helpers import DAY, NOW, binding, facts, request

DEFAULTS = RiskSettings()
HOUR = timedelta(hours=1)


def decision_for(binding_facts=None, phone_facts="clean", request_facts=None,
                 settings=DEFAULTS) -> Decision:
    """Signals and decision, as the callers will run them."""
    binding_facts = binding_facts or binding()
    request_facts = request_facts or request()
    found = phone_signals(binding_facts, facts() if phone_facts == "clean" else phone_facts,
                          request_facts, settings)
    return decide(found, request_facts, binding_facts, settings)


def test_a_clean_number_is_allowed_with_nothing_to_explain():
    decision = decision_for()
    assert decision == Decision(ALLOW, (), (), 0, None)
    assert describe(decision) == "Text-message codes to this number work as usual."


# ---- the binding's own record -------------------------------------------------------------

def test_an_existing_hold_holds_until_it_ends():
    until = NOW + 3 * DAY
    decision = decision_for(binding(blocked_until=until))
    assert decision.action == HOLD
    assert decision.hold_until == until
    assert decision.signals == ("sms_hold",)
    assert describe(decision) == ("Text-message codes are paused until 26 November while "
                                  "we make sure this number is still yours.")


def test_a_hold_that_has_ended_holds_nothing():
    assert decision_for(binding(blocked_until=NOW)).action == ALLOW


def test_asking_again_during_a_hold_does_not_extend_it():
    """Otherwise anyone could keep a customer's codes paused by retrying."""
    until = NOW + DAY
    decision = decision_for(binding(blocked_until=until), facts(sim_swap="swapped"))
    assert decision.action == HOLD
    assert decision.hold_until == until
    assert decision.signals == ("sms_hold", "sim_swap_recent")


@pytest.mark.parametrize("status, action, signal", [
    ("recycled", REJECT, "binding_recycled"),
    ("released", REJECT, "binding_released"),
    ("suspect", REVERIFY, "binding_suspect"),
])
def test_the_binding_status_decides(status, action, signal):
    decision = decision_for(binding(status=status))
    assert decision.action == action
    assert decision.signals[0] == signal
    assert decision.reasons[0]


def test_a_recycled_binding_is_rejected_even_during_a_hold():
    """A hold promises codes again at its end; a recycled binding never gets them."""
    decision = decision_for(binding(status="recycled", blocked_until=NOW + DAY))
    assert decision.action == REJECT
    assert decision.hold_until is None
    assert decision.signals == ("binding_recycled", "sms_hold")


# ---- the number belongs to someone else ---------------------------------------------------

@pytest.mark.parametrize("binding_changes, fact_changes, signal", [
    ({"verified_by_other_customer_at": NOW - DAY}, {}, "verified_by_other_customer"),
    ({}, {"reassigned": "reassigned"}, "number_reassigned"),
])
def test_a_number_now_someone_elses_is_rejected(binding_changes, fact_changes, signal):
    decision = decision_for(binding(**binding_changes), facts(**fact_changes))
    assert decision.action == REJECT
    assert decision.signals[0] == signal
    assert signal in RECYCLING_SIGNALS
    assert describe(decision) == ("Text-message codes to this number can no longer be used "
                                  "because this number may now belong to someone else.")


@pytest.mark.parametrize("fact_changes, signal, because", [
    ({"line_status": "inactive"}, "line_inactive", "this number is no longer in service"),
    ({"number_type": "landline"}, "line_type_landline", "this number is now a landline"),
    ({"valid": False}, "number_invalid", "this is no longer a valid phone number"),
    ({"sms_pumping_risk": 90}, "sms_pumping_risk_high",
     "text messages to this number show signs of fraud"),
])
def test_a_line_that_cannot_take_our_texts_is_rejected(fact_changes, signal, because):
    decision = decision_for(phone_facts=facts(**fact_changes))
    assert decision.action == REJECT
    assert decision.signals == (signal,)
    assert signal not in RECYCLING_SIGNALS   # the binding may come back (line in service)
    assert describe(decision).endswith(f"because {because}.")


# ---- SIM swap -----------------------------------------------------------------------------

@pytest.mark.parametrize("purpose, days", [("login", 7), ("mfa", 7), ("change_factor", 7),
                                           ("recovery", 14)])
def test_a_sim_swap_holds_codes_from_now(purpose, days):
    decision = decision_for(phone_facts=facts(sim_swap="swapped"),
                            request_facts=request(purpose=purpose))
    assert decision.action == HOLD
    assert decision.hold_until == NOW + days * DAY
    assert decision.signals[0] == "sim_swap_recent"


def test_the_hold_lengths_come_from_the_settings():
    settings = RiskSettings(sms_hold_days_after_sim_swap=2, sms_hold_days_recovery=3)
    swapped = facts(sim_swap="swapped")
    assert decision_for(phone_facts=swapped, settings=settings).hold_until == NOW + 2 * DAY
    assert decision_for(phone_facts=swapped, request_facts=request(purpose="recovery"),
                        settings=settings).hold_until == NOW + 3 * DAY


def test_a_hold_starts_from_now_for_a_swap_in_the_past():
    decision = decision_for(phone_facts=facts(sim_swapped_at=NOW - 3 * DAY))
    assert decision.hold_until == NOW + 7 * DAY


def test_a_hold_starts_from_the_swap_when_the_provider_dates_it_later_than_now():
    decision = decision_for(phone_facts=facts(sim_swapped_at=NOW + 2 * HOUR))
    assert decision.hold_until == NOW + 2 * HOUR + 7 * DAY


def test_a_swap_after_our_last_proof_holds_codes_however_old():
    decision = decision_for(binding(last_verified_at=NOW - 40 * DAY),
                            facts(sim_swapped_at=NOW - 30 * DAY))
    assert decision.action == HOLD
    assert decision.signals[0] == "sim_swap_after_verification"
    assert decision.hold_until == NOW + 7 * DAY


def test_once_the_hold_for_a_swap_is_served_the_number_must_be_proved_again():
    """Without this, the same old swap would pause the codes again after every hold."""
    swapped_at = NOW - 20 * DAY
    served = binding(last_verified_at=NOW - 40 * DAY, blocked_until=swapped_at + 7 * DAY)
    decision = decision_for(served, facts(sim_swapped_at=swapped_at))
    assert decision.action == REVERIFY
    assert decision.hold_until is None
    assert describe(decision) == (
        "To use text-message codes again, log in another way and confirm this number with "
        "a new code, because this number's SIM card was changed since you last confirmed "
        "it.")


def test_a_new_swap_after_a_served_hold_holds_again():
    served = binding(blocked_until=NOW - 30 * DAY)
    assert decision_for(served, facts(sim_swapped_at=NOW - DAY)).action == HOLD
    # An undated swap may be new: never assume it was the one already held for.
    assert decision_for(served, facts(sim_swap="swapped")).action == HOLD


def test_describe_a_sim_swap_hold():
    decision = decision_for(phone_facts=facts(sim_swap="swapped"))
    assert describe(decision) == ("Text-message codes are paused until 30 November because "
                                  "this number's SIM card was changed recently.")


# ---- the score ----------------------------------------------------------------------------

def test_below_the_step_up_score_is_allowed_with_its_reasons():
    # A number unused for 45 days (15) on a new device (5): 20 < 30.
    decision = decision_for(binding(last_verified_at=NOW - 45 * DAY),
                            request_facts=request(new_device=True))
    assert decision.action == ALLOW
    assert decision.score == 20
    assert decision.signals == ("dormant_warn", "new_device")


def test_the_step_up_score_is_inclusive():
    decision = decision_for(binding(last_verified_at=NOW - 90 * DAY))   # exactly 30
    assert decision.score == 30
    assert decision.action == STEP_UP
    assert describe(decision) == ("Text-message codes need a second way of logging in right "
                                  "now because of unusual activity on this number.")


def test_the_block_score_asks_for_a_fresh_proof_of_the_number():
    # 30 (dormant) + 25 (port) + 5 (new device) = 60, exactly the block score.
    decision = decision_for(binding(last_verified_at=NOW - 90 * DAY),
                            facts(carrier_name="EE", mobile_network_code="30"),
                            request(new_device=True))
    assert decision.score == 60
    assert decision.action == REVERIFY
    assert decision.signals == ("dormant_high", "carrier_changed", "new_device")


@pytest.mark.parametrize("purpose", ["recovery", "change_factor"])
def test_recovery_and_changes_use_the_stricter_thresholds(purpose):
    warn = binding(last_verified_at=NOW - 45 * DAY)                      # 15
    assert decision_for(warn).action == ALLOW
    assert decision_for(warn, request_facts=request(purpose=purpose)).action == STEP_UP
    # 15 (dormant) + 25 (port) = 40: a login steps up, a recovery must prove the number.
    ported = facts(carrier_name="EE", mobile_network_code="30")
    assert decision_for(warn, ported).action == STEP_UP
    assert decision_for(warn, ported, request(purpose=purpose)).action == REVERIFY


def test_the_score_thresholds_come_from_the_settings():
    settings = RiskSettings(step_up_score=5, block_score=10, recovery_step_up_score=5,
                            recovery_block_score=10)
    assert decision_for(request_facts=request(new_device=True),
                        settings=settings).action == STEP_UP
    assert decision_for(request_facts=request(new_device=True)).action == ALLOW


def test_unknown_is_never_counted_as_safe():
    """The same number with no lookup asks for more than with a clean one."""
    warn = binding(last_verified_at=NOW - 45 * DAY)
    assert decision_for(warn).action == ALLOW                            # 15
    unknown = decision_for(warn, None)                                   # 15 + 10 + 10
    assert unknown.action == STEP_UP
    assert {"sim_swap_unknown", "reassigned_unknown"} <= set(unknown.signals)


# ---- purposes -----------------------------------------------------------------------------

def test_a_text_alone_never_changes_how_you_log_in():
    decision = decision_for(request_facts=request(purpose="change_factor"))
    assert decision.action == STEP_UP
    assert decision.score == 0
    assert decision.reasons == (CHANGE_FACTOR_REASON,)
    assert CHANGE_FACTOR_REASON == "A text message code alone cannot change how you log in."
    assert describe(decision).startswith("A text-message code alone cannot change how you "
                                         "log in")


def test_the_change_factor_floor_never_softens_a_stricter_answer():
    decision = decision_for(phone_facts=facts(reassigned="reassigned"),
                            request_facts=request(purpose="change_factor"))
    assert decision.action == REJECT
    assert "change_factor_needs_second_factor" in decision.signals


@pytest.mark.parametrize("fact_changes, unknown", [
    ({"sim_swap": "unknown"}, "sim_swap_unknown"),
    ({"reassigned": "unknown"}, "reassigned_unknown"),
])
def test_no_sms_only_recovery_when_we_cannot_check(fact_changes, unknown):
    # Thresholds so lax that the score alone would allow it: the rule still steps up.
    lax = RiskSettings(recovery_step_up_score=30, recovery_block_score=60)
    decision = decision_for(phone_facts=facts(**fact_changes),
                            request_facts=request(purpose="recovery"), settings=lax)
    assert decision.score == 15
    assert decision.action == STEP_UP
    assert decision.signals == (unknown,)
    assert describe(decision) == ("Text-message codes need a second way of logging in right "
                                  "now because we could not check this number with the phone "
                                  "company.")
    # The same unknown at login is weighed, not a rule.
    assert decision_for(phone_facts=facts(**fact_changes), settings=lax).action == ALLOW


def test_a_recovery_with_no_lookup_at_all_steps_up():
    decision = decision_for(phone_facts=None, request_facts=request(purpose="recovery"))
    assert decision.action == STEP_UP
    assert decision.score == 30


# ---- rules together -----------------------------------------------------------------------

def test_a_hard_rule_beats_a_low_score_and_leads_the_reasons():
    decision = decision_for(phone_facts=facts(sim_swap="swapped"),
                            request_facts=request(new_device=True))
    assert decision.action == HOLD
    assert decision.score == 5
    assert decision.signals == ("sim_swap_recent", "new_device")
    assert decision.reasons == ("This number's SIM card was changed in the last 7 days.",
                                "This request comes from a device we do not recognise.")


def test_a_hard_rule_beats_a_high_score():
    decision = decision_for(binding(last_verified_at=NOW - 100 * DAY),
                            facts(sim_swap="swapped", carrier_name="EE",
                                  mobile_network_code="30", call_forwarding="on"),
                            request(new_device=True))
    assert decision.score == 80
    assert decision.action == HOLD


def test_rejection_beats_a_hold_and_every_reason_is_kept_in_order():
    decision = decision_for(binding(last_verified_at=NOW - 60 * DAY),
                            facts(sim_swap="swapped", reassigned="reassigned",
                                  call_forwarding="on"),
                            request(new_device=True))
    assert decision.action == REJECT
    assert decision.hold_until is None
    assert decision.signals == ("number_reassigned", "sim_swap_recent", "call_forwarding_on",
                                "dormant_warn", "new_device")
    assert len(decision.reasons) == len(decision.signals)


def test_a_hard_signal_the_policy_does_not_know_fails_closed():
    odd = Signal("future_hard_signal", True, 0, "Something new is wrong.")
    decision = decide([odd], request(), binding(), DEFAULTS)
    assert decision.action == REVERIFY
    assert decision.reasons == ("Something new is wrong.",)


def test_a_negative_weight_cannot_make_a_number_look_safer():
    signals = [Signal("dormant_high", False, 30, "Old."), Signal("odd", False, -30, "Odd.")]
    decision = decide(signals, request(), binding(), DEFAULTS)
    assert decision.score == 30
    assert decision.action == STEP_UP


# ---- any facts at all ---------------------------------------------------------------------

MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC))
MAYBE_MOMENT = st.none() | MOMENTS
MAYBE_TEXT = st.none() | st.sampled_from(["Vodafone UK", "EE", "vodafone uk", "", "15", "30"])
LINE_TYPES = st.none() | st.sampled_from(["mobile", "landline", "voip", "fixed_or_mobile",
                                          "toll_free", "premium", "other", "bogus"])


def tri_state(*values):
    return st.none() | st.sampled_from([*values, "unknown", "bogus"])


BINDINGS = st.builds(
    BindingFacts, e164=st.just("+447400123456"), status=st.sampled_from(sorted(BINDING_STATUSES)),
    first_verified_at=MAYBE_MOMENT, last_verified_at=MAYBE_MOMENT, last_used_at=MAYBE_MOMENT,
    number_type=LINE_TYPES, carrier_name=MAYBE_TEXT, mobile_network_code=MAYBE_TEXT,
    blocked_until=MAYBE_MOMENT, verified_by_other_customer_at=MAYBE_MOMENT)
PHONE_FACTS = st.none() | st.builds(
    PhoneFacts, e164=st.just("+447400123456"), provider=st.just("hypothesis"),
    valid=st.none() | st.booleans(), number_type=LINE_TYPES,
    region=st.none() | st.just("GB"), carrier_name=MAYBE_TEXT,
    mobile_country_code=MAYBE_TEXT, mobile_network_code=MAYBE_TEXT,
    sim_swapped_at=MAYBE_MOMENT | st.datetimes(),  # naive too: providers are read leniently
    sim_swapped_within=st.none() | st.integers(-10, 10**12)
    | st.floats(allow_nan=True, allow_infinity=True),
    sim_swap=tri_state("swapped", "not_swapped"),
    reassigned=tri_state("reassigned", "not_reassigned"),
    line_status=tri_state("active", "inactive"), call_forwarding=tri_state("on", "off"),
    sms_pumping_risk=st.none() | st.integers(-5, 150) | st.floats(allow_nan=True),
    unknown_reasons=st.just(()), fetched_at=MOMENTS)
REQUESTS = st.builds(
    RequestFacts, purpose=st.sampled_from(sorted(PURPOSES)), now=MOMENTS,
    new_device=st.booleans(), sms_sent_last_hour=st.integers(0, 50),
    sms_failures_last_day=st.integers(0, 50), last_sensitive_change_at=MAYBE_MOMENT)
SETTINGS = st.sampled_from([
    DEFAULTS,
    RiskSettings(dormant_days_warn=0, dormant_days_high=0, sim_swap_days=0,
                 sms_hold_days_after_sim_swap=0, sms_hold_days_recovery=0, step_up_score=1,
                 block_score=1, recovery_step_up_score=1, recovery_block_score=1,
                 pumping_risk_threshold=0, sensitive_change_days=0),
    RiskSettings(dormant_days_warn=3650, dormant_days_high=3650, sim_swap_days=3650,
                 sms_hold_days_after_sim_swap=3650, sms_hold_days_recovery=3650,
                 step_up_score=10**6, block_score=10**6, recovery_step_up_score=10**6,
                 recovery_block_score=10**6, pumping_risk_threshold=100,
                 sensitive_change_days=3650),
])


@hypothesis_settings(max_examples=300, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
@given(binding_facts=BINDINGS, phone_facts=PHONE_FACTS, request_facts=REQUESTS,
       risk_settings=SETTINGS)
def test_decide_always_answers_and_explains(binding_facts, phone_facts, request_facts,
                                            risk_settings):
    found = phone_signals(binding_facts, phone_facts, request_facts, risk_settings)
    decision = decide(found, request_facts, binding_facts, risk_settings)

    assert decision.action in SEVERITY
    assert len(decision.reasons) == len(decision.signals)
    assert all(reason for reason in decision.reasons)
    if decision.action != ALLOW:
        assert decision.reasons, "a refusal must say why"
    assert (decision.hold_until is not None) == (decision.action == HOLD)
    if decision.action == HOLD:
        assert decision.hold_until >= request_facts.now
    assert decision.score == sum(signal.weight for signal in found)
    assert {signal.name for signal in found} <= set(decision.signals)
    # No combination softens a rule.
    if any(signal.hard for signal in found) or binding_facts.status != "active" and \
            binding_facts.status != "pending":
        assert SEVERITY[decision.action] >= SEVERITY[REVERIFY]
    if request_facts.purpose == "change_factor":
        assert decision.action != ALLOW
    if request_facts.purpose == "recovery" and (
            phone_facts is None or {"sim_swap_unknown", "reassigned_unknown"} & set(
                decision.signals)):
        assert decision.action != ALLOW
    sentence = describe(decision)
    assert sentence.endswith(".") and "+44" not in sentence



# ---- a lookup that could not answer (issue 12, item 16) ----------------------------------

UNANSWERED = dict(sim_swap="unknown", reassigned="unknown",
                  unknown_reasons=("sim_swap: HTTP 503", "reassigned: HTTP 503"))


@pytest.mark.parametrize("purpose, live, action, unchecked", [
    ("login", True, STEP_UP, True),      # unknown never reads as safe
    ("login", False, ALLOW, False),      # offline by the deployment's choice: no check
    ("recovery", False, STEP_UP, True),  # recovery never rests on an unchecked number
    ("mfa", True, ALLOW, False),         # a second factor after a proved first one
])
def test_an_unanswered_lookup_is_an_unchecked_step_up(purpose, live, action, unchecked):
    decision = decision_for(phone_facts=facts(**UNANSWERED),
                            request_facts=request(purpose=purpose, lookup_live=live))
    assert (decision.action, decision.unchecked) == (action, unchecked)
    if action == STEP_UP:
        assert decision.signals[0] in ("sim_swap_unknown", "reassigned_unknown")


def test_a_step_up_with_other_reasons_is_not_only_unchecked():
    """Dormant for 90 days asks for a second factor by itself: an unanswered lookup on top
    must not turn it into the weaker single-factor session."""
    decision = decision_for(binding(last_verified_at=NOW - 100 * DAY),
                            phone_facts=facts(**UNANSWERED),
                            request_facts=request(lookup_live=True))
    assert decision.action == STEP_UP and not decision.unchecked
