"""Twilio Lookup v2 through the real twilio SDK against a fake Twilio on 127.0.0.1: the exact
request made, how each data package maps to PhoneFacts, and how every kind of trouble
leaves the facts it concerns unknown (never safe) with a reason."""
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from app.providers import phone_lookup
from tests.fakes.twilio_server import LOOKUP_PACKAGES, lookup_json
from tests.providers.helpers import ACCOUNT_SID, AUTH_TOKEN

NUMBER = "+14155552671"
PATH = f"/v2/PhoneNumbers/{NUMBER}"
ALL_FIELDS = ("line_type_intelligence,sim_swap,reassigned_number,line_status,"
              "call_forwarding,sms_pumping_risk")
LAST_VERIFIED = date(2024, 1, 15)
LIVE_FACTS = ("sim_swap", "reassigned", "line_status", "call_forwarding")


def lookup_for(app):
    with app.app_context():
        return phone_lookup()


@pytest.fixture
def every_package(twilio_lookup_app):
    """The provider asking for every package Tessera reads."""
    return lookup_for(twilio_lookup_app(TWILIO_LOOKUP_FIELDS=ALL_FIELDS))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def answer_with(fake, fields: str = ALL_FIELDS, **packages) -> None:
    """Script the next Lookup answer: the default packages, some replaced."""
    fake.reply(200, lookup_json(NUMBER, fields, "20240115", **packages))


def assert_all_unknown(facts):
    assert facts.number_type is None
    assert [getattr(facts, name) for name in LIVE_FACTS] == ["unknown"] * 4
    assert facts.sms_pumping_risk is None and facts.sim_swapped_at is None


# ---- the request and the happy answers ----------------------------------------------------

def test_every_package_is_asked_once_and_mapped(every_package, fake_twilio):
    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    [request] = fake_twilio.requests
    assert (request.method, request.path) == ("GET", PATH)
    assert request.original_host == "lookups.twilio.com"
    assert request.basic_auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.query == {"Fields": ALL_FIELDS, "LastVerifiedDate": "20240115"}

    assert (facts.provider, facts.valid, facts.region) == ("twilio-lookup", True, "US")
    assert facts.number_type == "mobile"  # live line type, not phonenumbers' fixed_or_mobile
    assert (facts.carrier_name, facts.mobile_country_code, facts.mobile_network_code) == (
        "T-Mobile USA, Inc.", "310", "260")
    assert facts.sim_swap == "not_swapped"  # last swap in 2020
    assert facts.sim_swapped_at == datetime(2020, 11, 5, 20, 52, 9, tzinfo=timezone.utc)
    assert facts.sim_swapped_within is None
    assert (facts.reassigned, facts.line_status, facts.call_forwarding) == (
        "not_reassigned", "active", "off")
    assert facts.sms_pumping_risk == 12
    assert facts.unknown_reasons == ()


def test_only_the_configured_packages_are_asked(twilio_lookup_app, fake_twilio):
    provider = lookup_for(twilio_lookup_app())  # the default: line type, SIM swap, reassigned

    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)

    [request] = fake_twilio.requests
    assert request.query == {"Fields": "line_type_intelligence,sim_swap,reassigned_number",
                             "LastVerifiedDate": "20240115"}
    assert (facts.number_type, facts.sim_swap, facts.reassigned) == (
        "mobile", "not_swapped", "not_reassigned")
    assert (facts.line_status, facts.call_forwarding, facts.sms_pumping_risk) == (
        "unknown", "unknown", None)
    assert facts.unknown_reasons == (
        "line_status: not requested (TWILIO_LOOKUP_FIELDS)",
        "call_forwarding: not requested (TWILIO_LOOKUP_FIELDS)",
        "sms_pumping_risk: not requested (TWILIO_LOOKUP_FIELDS)")


def test_without_a_last_verified_date_reassignment_is_not_asked(every_package, fake_twilio):
    facts = every_package.lookup(NUMBER)

    [request] = fake_twilio.requests
    assert "reassigned_number" not in request.query["Fields"].split(",")
    assert "LastVerifiedDate" not in request.query
    assert facts.reassigned == "unknown"
    assert facts.unknown_reasons == ("reassigned: no last verified date to ask about",)


def test_with_no_package_configured_twilio_is_not_called(twilio_lookup_app, fake_twilio):
    facts = lookup_for(twilio_lookup_app(TWILIO_LOOKUP_FIELDS="")).lookup(NUMBER)

    assert fake_twilio.requests == []
    assert facts.number_type == "fixed_or_mobile"  # what phonenumbers knows
    assert facts.sim_swap == "unknown" and len(facts.unknown_reasons) == 6


def test_an_invalid_number_is_not_sent_to_twilio(every_package, fake_twilio):
    facts = every_package.lookup("+4412345", last_verified=LAST_VERIFIED)

    assert fake_twilio.requests == []
    assert facts.valid is False
    assert facts.unknown_reasons == ("invalid number: not sent to Twilio Lookup",)


# ---- line type --------------------------------------------------------------------------

@pytest.mark.parametrize(("twilio_type", "number_type"), [
    ("nonFixedVoip", "voip"), ("fixedVoip", "voip"), ("landline", "landline"),
    ("tollFree", "toll_free"), ("premium", "premium"), ("pager", "other"),
])
def test_the_live_line_type_replaces_the_prefix_guess(every_package, fake_twilio,
                                                     twilio_type, number_type):
    answer_with(fake_twilio, line_type_intelligence={
        "mobile_country_code": None, "mobile_network_code": None,
        "carrier_name": "Google (Grand Central) - SVR", "type": twilio_type,
        "error_code": None})

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.number_type == number_type
    assert facts.carrier_name == "Google (Grand Central) - SVR"
    assert facts.mobile_country_code is None


def test_an_unknown_line_type_is_not_guessed(every_package, fake_twilio):
    answer_with(fake_twilio, line_type_intelligence=dict(
        LOOKUP_PACKAGES["line_type_intelligence"], type="unknown"))

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.number_type is None
    assert facts.unknown_reasons == ("number_type: Twilio line type 'unknown' not known",)


# ---- SIM swap ---------------------------------------------------------------------------

def test_a_swap_within_the_period_is_reported_with_its_date(every_package, fake_twilio):
    swapped_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=20)
    answer_with(fake_twilio, sim_swap=dict(LOOKUP_PACKAGES["sim_swap"], last_sim_swap={
        "last_sim_swap_date": iso(swapped_at), "swapped_period": "PT48H",
        "swapped_in_period": True}))

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.sim_swap == "swapped"
    assert facts.sim_swapped_at == swapped_at
    assert facts.sim_swapped_within == 48
    assert facts.unknown_reasons == ()


@pytest.mark.parametrize(("hours_ago", "period", "in_period", "window", "expected"), [
    # Without a date, the period flag answers only where the period covers the window.
    (None, "PT48H", True, 240, "swapped"),      # within 48 h is within 240 h
    (None, "PT240H", False, 240, "not_swapped"),
    (None, "P10D", False, 72, "not_swapped"),   # not in 10 days, so not in 72 h
    (None, "PT48H", False, 240, "unknown"),     # not in 48 h says nothing about 240 h
    (None, "PT240H", True, 24, "unknown"),      # in 240 h may be 200 h ago
    (None, None, None, 240, "unknown"),         # carrier gave nothing
    # A date settles it for any window.
    (100, "PT48H", False, 240, "swapped"),
    (100, "PT48H", False, 72, "not_swapped"),
])
def test_the_swap_answer_is_for_the_window_asked(every_package, fake_twilio, hours_ago,
                                                 period, in_period, window, expected):
    swapped_at = (None if hours_ago is None
                  else datetime.now(timezone.utc) - timedelta(hours=hours_ago))
    answer_with(fake_twilio, sim_swap=dict(LOOKUP_PACKAGES["sim_swap"], last_sim_swap={
        "last_sim_swap_date": swapped_at and iso(swapped_at), "swapped_period": period,
        "swapped_in_period": in_period}))

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED,
                                 sim_swap_max_age_hours=window)

    assert facts.sim_swap == expected
    if expected == "unknown":
        [reason] = facts.unknown_reasons
        assert reason.startswith("sim_swap: ") and f"last {window} h" in reason
    else:
        assert facts.unknown_reasons == ()


@pytest.mark.parametrize(("last_sim_swap", "reason"), [
    ({"last_sim_swap_date": "{recent}", "swapped_period": "PT48H",
      "swapped_in_period": False}, "sim_swap: contradictory answer"),
    ({"last_sim_swap_date": "{ancient}", "swapped_period": "PT48H",
      "swapped_in_period": True}, "sim_swap: contradictory answer"),
    ({"last_sim_swap_date": "{future}", "swapped_period": "PT48H",
      "swapped_in_period": False}, "sim_swap: unreadable last_sim_swap_date"),
    ({"last_sim_swap_date": "yesterday", "swapped_period": "PT48H",
      "swapped_in_period": False}, "sim_swap: unreadable last_sim_swap_date"),
    ({"last_sim_swap_date": None, "swapped_period": "48 hours",
      "swapped_in_period": False}, "sim_swap: unreadable swapped_period"),
    ({"last_sim_swap_date": None, "swapped_period": "PT48H",
      "swapped_in_period": "FALSE"}, "sim_swap: unreadable swapped_in_period"),
    (None, "sim_swap: Twilio gave no last_sim_swap"),
])
def test_a_contradictory_or_unreadable_swap_answer_is_unknown(every_package, fake_twilio,
                                                              last_sim_swap, reason):
    now = datetime.now(timezone.utc)
    moments = {"{recent}": iso(now - timedelta(hours=2)),
               "{ancient}": iso(now - timedelta(days=400)),
               "{future}": iso(now + timedelta(days=2))}
    if last_sim_swap:
        date_value = last_sim_swap["last_sim_swap_date"]
        last_sim_swap = dict(last_sim_swap, last_sim_swap_date=moments.get(date_value,
                                                                           date_value))
    answer_with(fake_twilio, sim_swap=dict(LOOKUP_PACKAGES["sim_swap"],
                                           last_sim_swap=last_sim_swap))

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.sim_swap == "unknown"
    assert (facts.sim_swapped_at, facts.sim_swapped_within) == (None, None)
    [given] = facts.unknown_reasons
    assert given.startswith(reason)


def test_no_sim_swap_coverage_is_unknown_and_the_rest_still_counts(
        every_package, fake_twilio, provider_log):
    answer_with(fake_twilio, sim_swap={"last_sim_swap": None, "carrier_name": None,
                                       "mobile_country_code": None,
                                       "mobile_network_code": None, "error_code": 60620})

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.sim_swap == "unknown"
    assert facts.sim_swapped_at is None
    assert facts.unknown_reasons == (
        "sim_swap: Twilio error 60620 (no coverage: the carrier gave incomplete SIM swap "
        "data)",)
    assert (facts.number_type, facts.reassigned, facts.line_status) == (
        "mobile", "not_reassigned", "active")
    assert "60620" in provider_log.text and "...71" in provider_log.text
    assert NUMBER not in provider_log.text and NUMBER[1:] not in provider_log.text
    assert {record.levelname for record in provider_log.records} == {"WARNING"}


def test_a_package_the_account_lacks_is_logged_as_an_error(every_package, fake_twilio,
                                                          provider_log):
    answer_with(fake_twilio, line_status={"status": None, "error_code": 60606})

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.line_status == "unknown"
    assert facts.unknown_reasons == (
        "line_status: Twilio error 60606 (package not enabled on this account)",)
    assert any(record.levelname == "ERROR" and "60606" in record.getMessage()
               for record in provider_log.records)


# ---- reassigned number ------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "expected"), [
    ("yes", "reassigned"), ("no", "not_reassigned"), ("no_data_available", "unknown"),
    (None, "unknown"),
])
def test_reassignment_is_judged_since_the_last_verified_date(every_package, fake_twilio,
                                                            answer, expected):
    answer_with(fake_twilio, reassigned_number={
        "last_verified_date": "2024-01-15", "is_number_reassigned": answer,
        "error_code": None})

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    [request] = fake_twilio.requests
    assert request.query["LastVerifiedDate"] == "20240115"
    assert facts.reassigned == expected
    if expected == "unknown":
        assert facts.unknown_reasons == (f"reassigned: Twilio answered {answer!r}",)


def test_a_reassignment_answer_for_another_date_is_unknown(every_package, fake_twilio):
    answer_with(fake_twilio, reassigned_number={
        "last_verified_date": "2019-09-24", "is_number_reassigned": "no",
        "error_code": None})

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.reassigned == "unknown"
    assert facts.unknown_reasons == (
        "reassigned: Twilio answered for '2019-09-24', not 2024-01-15",)


# ---- line status, call forwarding, SMS pumping risk ---------------------------------------

@pytest.mark.parametrize(("status", "expected"), [
    ("active", "active"), ("reachable", "active"), ("unreachable", "active"),
    ("inactive", "inactive"), ("unknown", "unknown"),
])
def test_line_status(every_package, fake_twilio, status, expected):
    answer_with(fake_twilio, line_status={"status": status, "error_code": None})
    assert every_package.lookup(NUMBER, last_verified=LAST_VERIFIED).line_status == expected


@pytest.mark.parametrize(("package", "expected"), [
    ({"call_forwarding_enabled": True, "error_code": None}, "on"),
    ({"call_forwarding_status": "true", "error_code": None}, "on"),   # the older shape
    ({"call_forwarding_status": "false", "error_code": None}, "off"),
    ({"error_code": None}, "unknown"),
])
def test_call_forwarding(every_package, fake_twilio, package, expected):
    answer_with(fake_twilio, call_forwarding=package)
    assert every_package.lookup(NUMBER, last_verified=LAST_VERIFIED).call_forwarding == (
        expected)


@pytest.mark.parametrize(("score", "expected"), [
    (0, 0), (97, 97), ("high", None), (150, None), (True, None), (None, None),
])
def test_sms_pumping_risk_score(every_package, fake_twilio, score, expected):
    answer_with(fake_twilio, sms_pumping_risk=dict(LOOKUP_PACKAGES["sms_pumping_risk"],
                                                   sms_pumping_risk_score=score))
    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.sms_pumping_risk == expected
    assert bool(facts.unknown_reasons) == (expected is None)


@pytest.mark.parametrize("package", ["line_status", "call_forwarding", "sms_pumping_risk",
                                     "sim_swap", "line_type_intelligence"])
def test_a_package_missing_or_malformed_in_the_answer_is_unknown(every_package, fake_twilio,
                                                                 package):
    for value in (None, "oops"):
        answer_with(fake_twilio, **{package: value})
        facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)
        fact = {"line_type_intelligence": "number_type"}.get(package, package)
        assert getattr(facts, fact) in ("unknown", None)
        [reason] = facts.unknown_reasons
        assert reason.startswith(f"{fact}: ")


# ---- failures of the whole request --------------------------------------------------------

@pytest.mark.parametrize(("status", "code", "reason"), [
    (503, 20500, "Twilio answered HTTP 503 (error 20500)"),
    (500, None, "Twilio answered HTTP 500"),
    (404, 20404, "Twilio answered HTTP 404 (error 20404)"),
    (429, 20429, "Twilio answered HTTP 429 (error 20429)"),
])
def test_an_error_answer_leaves_every_asked_fact_unknown(every_package, fake_twilio,
                                                        provider_log, status, code, reason):
    fake_twilio.error(status, code)

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert len(fake_twilio.requests) == 1  # no retry: the customer is waiting
    assert_all_unknown(facts)
    assert facts.unknown_reasons == tuple(
        f"{fact}: {reason}" for fact in ("number_type", "sim_swap", "reassigned",
                                         "line_status", "call_forwarding",
                                         "sms_pumping_risk"))
    assert reason in provider_log.text and "...71" in provider_log.text
    assert NUMBER not in provider_log.text


def test_bad_credentials_are_logged_as_an_error(every_package, fake_twilio, provider_log):
    fake_twilio.error(401, 20003, "Authenticate")

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert_all_unknown(facts)
    assert [record.levelname for record in provider_log.records] == ["ERROR"]


def test_a_hanging_twilio_is_given_up_after_the_lookup_timeout(twilio_lookup_app, fake_twilio,
                                                              provider_log):
    provider = lookup_for(twilio_lookup_app(TWILIO_LOOKUP_FIELDS=ALL_FIELDS,
                                            PHONE_LOOKUP_TIMEOUT_SECONDS=1))
    fake_twilio.hang()

    started = time.monotonic()
    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)
    elapsed = time.monotonic() - started

    assert elapsed < 10  # the fake would hang for 60 s
    assert_all_unknown(facts)
    assert "sim_swap: Twilio did not answer in time" in facts.unknown_reasons
    assert "did not answer in time" in provider_log.text


def test_an_unreachable_twilio_is_unknown(twilio_lookup_app):
    from tests.postgres import free_port
    provider = lookup_for(twilio_lookup_app(TWILIO_LOOKUP_FIELDS=ALL_FIELDS,
                                            TWILIO_BASE_URL=f"http://127.0.0.1:{free_port()}"))

    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert_all_unknown(facts)
    assert "sim_swap: Twilio unreachable (ConnectionError)" in facts.unknown_reasons


@pytest.mark.parametrize("body", ['{"sim_swap": {', "<html>Bad gateway</html>", "[]", "null"])
def test_an_answer_that_is_not_a_json_object_is_unknown(every_package, fake_twilio, body):
    fake_twilio.reply_raw(200, body)

    facts = every_package.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert_all_unknown(facts)
    assert all("unreadable answer from Twilio" in reason for reason in facts.unknown_reasons)
