"""Phone-risk signals: one test per signal, with its boundaries, and the input contracts."""
from datetime import datetime, timedelta

import pytest

from app.config import ConfigError, RiskSettings
from app.risk.signals import BindingFacts, RequestFacts, Signal, phone_signals
from tests.risk.helpers import DAY, NOW, binding, facts, request

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
DEFAULTS = RiskSettings()


def signals_of(binding_facts=None, phone_facts="clean", request_facts=None,
               settings=DEFAULTS) -> dict[str, Signal]:
    """The signals raised, by name (a clean lookup unless `phone_facts` is given)."""
    found = phone_signals(binding_facts or binding(),
                          facts() if phone_facts == "clean" else phone_facts,
                          request_facts or request(), settings)
    by_name = {signal.name: signal for signal in found}
    assert len(by_name) == len(found), "a signal was raised twice"
    return by_name


def test_a_clean_lookup_of_a_recently_proved_number_raises_nothing():
    assert signals_of() == {}


# ---- dormancy -----------------------------------------------------------------------------

@pytest.mark.parametrize("since, expected", [
    (45 * DAY - SECOND, None),
    (45 * DAY, "dormant_warn"),
    (90 * DAY - SECOND, "dormant_warn"),
    (90 * DAY, "dormant_high"),
    (400 * DAY, "dormant_high"),
    (-DAY, None),                     # a proof dated ahead of our clock is not dormancy
])
def test_dormancy_counts_days_since_the_last_proof(since, expected):
    found = signals_of(binding(last_verified_at=NOW - since))
    dormant = {name for name in found if name.startswith("dormant")}
    assert dormant == ({expected} if expected else set())
    if expected:
        signal = found[expected]
        assert not signal.hard
        assert signal.weight == {"dormant_warn": 15, "dormant_high": 30}[expected]
        assert f"for {since.days} days" in signal.reason


def test_a_number_never_proved_counts_as_the_longest_dormancy():
    found = signals_of(binding(status="pending", first_verified_at=None,
                               last_verified_at=None))
    assert not found["never_verified"].hard
    assert found["never_verified"].weight == signals_of(
        binding(last_verified_at=NOW - 90 * DAY))["dormant_high"].weight


def test_dormancy_thresholds_come_from_the_settings():
    settings = RiskSettings(dormant_days_warn=10, dormant_days_high=20)
    assert "dormant_warn" in signals_of(binding(last_verified_at=NOW - 10 * DAY),
                                        settings=settings)
    assert "dormant_high" in signals_of(binding(last_verified_at=NOW - 20 * DAY),
                                        settings=settings)


# ---- another customer proved the number ---------------------------------------------------

@pytest.mark.parametrize("other_at, raised", [
    (NOW - 9 * DAY, True),            # after our proof 10 days ago
    (NOW - 10 * DAY, False),          # the same moment is not "after"
    (NOW - 30 * DAY, False),          # before us: we are the newer holder
])
def test_proof_by_another_customer_after_ours_is_hard(other_at, raised):
    found = signals_of(binding(verified_by_other_customer_at=other_at))
    assert ("verified_by_other_customer" in found) is raised
    if raised:
        assert found["verified_by_other_customer"].hard
        assert found["verified_by_other_customer"].weight == 0


def test_proof_by_another_customer_of_a_number_we_never_proved_is_hard():
    found = signals_of(binding(last_verified_at=None,
                               verified_by_other_customer_at=NOW - 400 * DAY))
    assert found["verified_by_other_customer"].hard


# ---- SIM swap -----------------------------------------------------------------------------

def test_the_providers_swapped_verdict_is_a_hard_recent_swap():
    signal = signals_of(phone_facts=facts(sim_swap="swapped"))["sim_swap_recent"]
    assert signal.hard and signal.weight == 0
    assert signal.observed_at is None
    assert signal.reason == "This number's SIM card was changed in the last 7 days."


@pytest.mark.parametrize("ago, expected", [
    (7 * DAY, "sim_swap_recent"),                 # exactly 7 days: inside the window
    (7 * DAY + SECOND, None),                     # before our proof 2 days ago: old news
    (HOUR, "sim_swap_recent"),
    (-HOUR, "sim_swap_recent"),                   # a provider clock ahead of ours
])
def test_a_dated_swap_within_the_window_is_recent(ago, expected):
    found = signals_of(binding(last_verified_at=NOW - 2 * DAY),
                       facts(sim_swapped_at=NOW - ago))
    swaps = {name for name in found if name.startswith("sim_swap")}
    assert swaps == ({expected} if expected else set())
    if expected:
        assert found[expected].observed_at == NOW - ago


def test_a_dated_swap_after_our_last_proof_is_hard_however_old():
    found = signals_of(binding(last_verified_at=NOW - 40 * DAY),
                       facts(sim_swapped_at=NOW - 30 * DAY))
    signal = found["sim_swap_after_verification"]
    assert signal.hard and signal.observed_at == NOW - 30 * DAY
    assert "sim_swap_recent" not in found


def test_a_naive_provider_date_is_read_as_utc():
    naive = (NOW - 2 * DAY).replace(tzinfo=None)
    signal = signals_of(phone_facts=facts(sim_swapped_at=naive))["sim_swap_recent"]
    assert signal.observed_at == NOW - 2 * DAY


@pytest.mark.parametrize("within_hours, last_verified_ago, expected", [
    (24, 10 * DAY, "sim_swap_recent"),
    (7 * 24, 10 * DAY, "sim_swap_recent"),        # exactly the window
    (720, 40 * DAY, "sim_swap_after_verification"),   # within 30 days, proof 40 days ago
    (720, 10 * DAY, None),                        # may be before or after the proof
    (720, 30 * DAY, None),                        # "within 30 days" may be exactly at it
])
def test_a_swap_within_n_hours(within_hours, last_verified_ago, expected):
    found = signals_of(binding(last_verified_at=NOW - last_verified_ago),
                       facts(sim_swapped_within=within_hours))
    swaps = {name for name in found if name.startswith("sim_swap")}
    assert swaps == ({expected} if expected else set())


def test_an_absurd_hour_window_does_not_overflow():
    found = signals_of(phone_facts=facts(sim_swap="unknown", sim_swapped_within=10**15))
    assert not {name for name in found if name.startswith("sim_swap")}


def test_the_sim_swap_window_comes_from_the_settings():
    settings = RiskSettings(sim_swap_days=2)
    three_days = facts(sim_swapped_at=NOW - 3 * DAY)
    assert "sim_swap_recent" in signals_of(phone_facts=three_days)
    assert "sim_swap_recent" not in signals_of(phone_facts=three_days, settings=settings)
    assert signals_of(phone_facts=facts(sim_swap="swapped"), settings=settings)[
        "sim_swap_recent"].reason == "This number's SIM card was changed in the last 2 days."


def test_a_dated_swap_beats_a_not_swapped_verdict():
    found = signals_of(phone_facts=facts(sim_swap="not_swapped",
                                         sim_swapped_at=NOW - DAY))
    assert found["sim_swap_recent"].hard


# ---- could not check ----------------------------------------------------------------------

def test_no_lookup_at_all_leaves_both_checks_unknown():
    found = signals_of(phone_facts=None)
    assert set(found) == {"sim_swap_unknown", "reassigned_unknown"}
    assert all(not signal.hard and signal.weight == 10 for signal in found.values())


def test_unknown_weighs_more_for_a_recovery():
    found = signals_of(phone_facts=None, request_facts=request(purpose="recovery"))
    assert found["sim_swap_unknown"].weight == 15
    assert found["reassigned_unknown"].weight == 15


@pytest.mark.parametrize("verdict", ["unknown", None, "maybe"])
def test_a_sim_swap_verdict_that_is_not_an_answer_is_unknown(verdict):
    found = signals_of(phone_facts=facts(sim_swap=verdict))
    assert "sim_swap_unknown" in found
    assert "sim_swap_recent" not in found


def test_an_old_swap_date_is_an_answer_even_without_a_verdict():
    found = signals_of(binding(last_verified_at=NOW - 10 * DAY),
                       facts(sim_swap="unknown", sim_swapped_at=NOW - 100 * DAY))
    assert not {name for name in found if name.startswith("sim_swap")}


# ---- reassigned ---------------------------------------------------------------------------

@pytest.mark.parametrize("verdict, expected", [
    ("reassigned", "number_reassigned"),
    ("not_reassigned", None),
    ("unknown", "reassigned_unknown"),
    (None, "reassigned_unknown"),
])
def test_reassignment(verdict, expected):
    found = signals_of(phone_facts=facts(reassigned=verdict))
    names = {name for name in found if "reassigned" in name}
    assert names == ({expected} if expected else set())
    if expected == "number_reassigned":
        assert found[expected].hard and found[expected].weight == 0
    if expected == "reassigned_unknown":
        assert not found[expected].hard and found[expected].weight == 10


# ---- the line -----------------------------------------------------------------------------

@pytest.mark.parametrize("then, now, expected, hard", [
    ("mobile", "landline", "line_type_landline", True),
    ("landline", "landline", "line_type_landline", True),   # never textable, whatever it was
    ("mobile", "voip", "line_type_voip", False),
    ("fixed_or_mobile", "voip", "line_type_voip", False),
    (None, "voip", "line_type_voip", False),                # no snapshot: still a VoIP line now
    ("voip", "voip", None, None),                           # bound as VoIP (SMS_ALLOW_VOIP)
    ("mobile", "fixed_or_mobile", None, None),              # one kind of line, two spellings
    ("fixed_or_mobile", "mobile", None, None),
    ("mobile", "premium", "line_type_changed", False),
    ("voip", "mobile", "line_type_changed", False),
    ("mobile", None, None, None),                           # type unknown now: nothing to compare
])
def test_line_type_changes(then, now, expected, hard):
    found = signals_of(binding(number_type=then), facts(number_type=now))
    line = {name for name in found if name.startswith("line_type")}
    assert line == ({expected} if expected else set())
    if expected:
        assert found[expected].hard is hard
        assert (found[expected].weight == 0) is hard


def test_an_inactive_line_is_hard():
    signal = signals_of(phone_facts=facts(line_status="inactive"))["line_inactive"]
    assert signal.hard
    assert signals_of(phone_facts=facts(line_status="unknown")) == {}


def test_a_number_no_longer_valid_is_hard_but_unknown_validity_is_not():
    assert signals_of(phone_facts=facts(valid=False))["number_invalid"].hard
    assert "number_invalid" not in signals_of(phone_facts=facts(valid=None))


@pytest.mark.parametrize("forwarding, raised", [("on", True), ("off", False),
                                                ("unknown", False)])
def test_call_forwarding_on_is_scored(forwarding, raised):
    found = signals_of(phone_facts=facts(call_forwarding=forwarding))
    assert ("call_forwarding_on" in found) is raised
    if raised:
        assert not found["call_forwarding_on"].hard and found["call_forwarding_on"].weight == 20


# ---- ports --------------------------------------------------------------------------------

@pytest.mark.parametrize("then_name, then_code, now_name, now_code, raised", [
    ("Vodafone UK", "15", "EE", "30", True),
    ("Vodafone UK", "15", "Vodafone UK", "30", True),   # another network, same name
    ("EE", "30", "Lyca Mobile", "30", True),            # a virtual operator on its host
    ("Vodafone UK", "15", "  vodafone  uk ", "15", False),  # one carrier spelt two ways
    (None, None, "EE", "30", False),                    # no snapshot to compare with
    ("Vodafone UK", "15", None, None, False),           # nothing learned now
])
def test_a_carrier_change_is_a_scored_port(then_name, then_code, now_name, now_code, raised):
    found = signals_of(binding(carrier_name=then_name, mobile_network_code=then_code),
                       facts(carrier_name=now_name, mobile_network_code=now_code))
    assert ("carrier_changed" in found) is raised
    if raised:
        assert not found["carrier_changed"].hard and found["carrier_changed"].weight == 25


# ---- SMS pumping --------------------------------------------------------------------------

@pytest.mark.parametrize("risk, expected", [
    (None, None), (69, None), (70, "sms_pumping_risk"), (89, "sms_pumping_risk"),
    (90, "sms_pumping_risk_high"), (100, "sms_pumping_risk_high"),
])
def test_pumping_risk(risk, expected):
    found = signals_of(phone_facts=facts(sms_pumping_risk=risk))
    pumping = {name for name in found if name.startswith("sms_pumping")}
    assert pumping == ({expected} if expected else set())
    if expected:
        assert found[expected].hard is (expected == "sms_pumping_risk_high")


def test_the_pumping_threshold_comes_from_the_settings():
    settings = RiskSettings(pumping_risk_threshold=40)
    assert "sms_pumping_risk" in signals_of(phone_facts=facts(sms_pumping_risk=40),
                                            settings=settings)
    assert "sms_pumping_risk" not in signals_of(phone_facts=facts(sms_pumping_risk=40))


# ---- the request --------------------------------------------------------------------------

@pytest.mark.parametrize("sent, failures, expected", [
    (2, 4, set()),
    (3, 0, {"send_velocity"}),
    (0, 5, {"failure_velocity"}),
    (9, 9, {"send_velocity", "failure_velocity"}),
])
def test_sending_and_guessing_velocity(sent, failures, expected):
    found = signals_of(request_facts=request(sms_sent_last_hour=sent,
                                             sms_failures_last_day=failures))
    assert set(found) == expected
    assert all(not signal.hard and signal.weight > 0 for signal in found.values())


@pytest.mark.parametrize("ago, raised", [(7 * DAY, True), (7 * DAY + SECOND, False),
                                         (HOUR, True)])
def test_a_recent_sensitive_change(ago, raised):
    found = signals_of(request_facts=request(last_sensitive_change_at=NOW - ago))
    assert ("recent_sensitive_change" in found) is raised


def test_a_recent_sensitive_change_weighs_more_for_a_recovery():
    changed = NOW - DAY
    login = signals_of(request_facts=request(last_sensitive_change_at=changed))
    recovery = signals_of(request_facts=request(purpose="recovery",
                                                last_sensitive_change_at=changed))
    assert login["recent_sensitive_change"].weight == 15
    assert recovery["recent_sensitive_change"].weight == 30


def test_a_new_device_is_a_small_scored_signal():
    signal = signals_of(request_facts=request(new_device=True))["new_device"]
    assert not signal.hard
    assert 0 < signal.weight < DEFAULTS.recovery_step_up_score


# ---- together -----------------------------------------------------------------------------

def test_hard_signals_come_first_then_scored_ones_by_weight():
    found = phone_signals(
        binding(last_verified_at=NOW - 100 * DAY),
        facts(sim_swap="swapped", carrier_name="EE", mobile_network_code="30"),
        request(new_device=True, sms_sent_last_hour=3), DEFAULTS)
    assert [signal.name for signal in found] == [
        "sim_swap_recent", "dormant_high", "carrier_changed", "send_velocity", "new_device"]


def test_reasons_carry_no_personal_data():
    found = phone_signals(
        binding(last_verified_at=NOW - 100 * DAY, verified_by_other_customer_at=NOW),
        facts(sim_swap="swapped", reassigned="reassigned", number_type="landline",
              line_status="inactive", call_forwarding="on", sms_pumping_risk=95,
              carrier_name="EE", mobile_network_code="30"),
        request(new_device=True, sms_sent_last_hour=5, sms_failures_last_day=5,
                last_sensitive_change_at=NOW), DEFAULTS)
    assert len(found) == 13
    for signal in found:
        assert "7400" not in signal.reason and "Vodafone" not in signal.reason
        assert "EE" not in signal.reason.split()


# ---- input contracts ----------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"purpose": "signup"}, "unknown purpose 'signup'"),
    ({"now": datetime(2026, 11, 23, 12)}, "now must be a timezone-aware datetime"),
    ({"last_sensitive_change_at": datetime(2026, 11, 1)},
     "last_sensitive_change_at must be a timezone-aware datetime"),
    ({"sms_sent_last_hour": -1}, "counts cannot be negative"),
])
def test_request_facts_refuse_bad_input(changes, message):
    with pytest.raises(ValueError, match=message):
        request(**changes)


@pytest.mark.parametrize("changes, message", [
    ({"status": "verified"}, "unknown binding status 'verified'"),
    ({"blocked_until": datetime(2026, 12, 1)}, "blocked_until must be a timezone-aware"),
])
def test_binding_facts_refuse_bad_input(changes, message):
    with pytest.raises(ValueError, match=message):
        binding(**changes)


def test_a_signal_refuses_a_naive_date():
    with pytest.raises(ValueError, match="observed_at"):
        Signal("sim_swap_recent", True, 0, "why", datetime(2026, 11, 1))


# ---- settings -----------------------------------------------------------------------------

def test_settings_default_to_the_documented_values():
    assert RiskSettings.from_config({}) == RiskSettings(
        dormant_days_warn=45, dormant_days_high=90, sim_swap_days=7,
        sms_hold_days_after_sim_swap=7, sms_hold_days_recovery=14, step_up_score=30,
        block_score=60, recovery_step_up_score=15, recovery_block_score=40,
        pumping_risk_threshold=70, sensitive_change_days=7)


def test_settings_are_read_from_the_config_keys():
    settings = RiskSettings.from_config({
        "RISK_DORMANT_DAYS_WARN": 30, "RISK_DORMANT_DAYS_HIGH": "60",
        "RISK_SIM_SWAP_DAYS": 3, "RISK_SMS_HOLD_DAYS_AFTER_SIM_SWAP": 5,
        "RISK_SMS_HOLD_DAYS_RECOVERY": 21, "RISK_STEP_UP_SCORE": 25, "RISK_BLOCK_SCORE": 50,
        "RISK_RECOVERY_STEP_UP_SCORE": 10, "RISK_RECOVERY_BLOCK_SCORE": 35,
        "RISK_PUMPING_THRESHOLD": 60, "RISK_SENSITIVE_CHANGE_DAYS": 14, "OTHER": "ignored"})
    assert settings == RiskSettings(30, 60, 3, 5, 21, 25, 50, 10, 35, 60, 14)


@pytest.mark.parametrize("config, message", [
    ({"RISK_SIM_SWAP_DAYS": "seven"}, "TESSERA_RISK_SIM_SWAP_DAYS must be a whole number"),
    ({"RISK_SIM_SWAP_DAYS": True}, "TESSERA_RISK_SIM_SWAP_DAYS must be a whole number"),
    ({"RISK_BLOCK_SCORE": -1}, "TESSERA_RISK_BLOCK_SCORE must be a whole number of 0 or more"),
    ({"RISK_DORMANT_DAYS_WARN": 100},
     "TESSERA_RISK_DORMANT_DAYS_WARN must not be more than TESSERA_RISK_DORMANT_DAYS_HIGH"),
    ({"RISK_STEP_UP_SCORE": 70},
     "TESSERA_RISK_STEP_UP_SCORE must not be more than TESSERA_RISK_BLOCK_SCORE"),
    ({"RISK_RECOVERY_BLOCK_SCORE": 80},
     "TESSERA_RISK_RECOVERY_BLOCK_SCORE must not be more than TESSERA_RISK_BLOCK_SCORE"),
    ({"RISK_PUMPING_THRESHOLD": 101}, "TESSERA_RISK_PUMPING_THRESHOLD must be 0 to 100"),
    ({"RISK_SMS_HOLD_DAYS_RECOVERY": 100000},
     "TESSERA_RISK_SMS_HOLD_DAYS_RECOVERY must be at most 3650 days"),
    ({"RISK_RECOVERY_STEP_UP_SCORE": 0}, "a step-up score of 0"),
])
def test_bad_settings_are_refused_by_name(config, message):
    with pytest.raises(ConfigError, match=message):
        RiskSettings.from_config(config)


def test_binding_facts_take_every_documented_field():
    # The contract other modules build against: these names, in this order.
    assert list(BindingFacts.__dataclass_fields__) == [
        "e164", "status", "first_verified_at", "last_verified_at", "last_used_at",
        "number_type", "carrier_name", "mobile_network_code", "blocked_until",
        "verified_by_other_customer_at"]
    assert list(RequestFacts.__dataclass_fields__) == [
        "purpose", "now", "new_device", "sms_sent_last_hour", "sms_failures_last_day",
        "last_sensitive_change_at", "lookup_live"]
