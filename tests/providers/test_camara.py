"""CAMARA SIM Swap and Number Recycling through real `requests` calls to a fake operator on
127.0.0.1: the exact requests, the OAuth token (fetched once, refreshed once on a 401), how
the answers map to PhoneFacts, and how every kind of trouble leaves the facts unknown."""
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from app.providers import phone_lookup
from tests.fakes.camara_server import CLIENT_ID, CLIENT_SECRET, FakeCamara
from tests.postgres import free_port

NUMBER = "+34612345678"
LAST_VERIFIED = date(2024, 1, 15)
NOT_OFFERED = ("line_status: not offered by the camara provider",
               "call_forwarding: not offered by the camara provider",
               "sms_pumping_risk: not offered by the camara provider")
CHECK, RETRIEVE_DATE, RECYCLING, TOKEN = (FakeCamara.CHECK, FakeCamara.RETRIEVE_DATE,
                                          FakeCamara.RECYCLING, FakeCamara.TOKEN)


def lookup_for(app):
    with app.app_context():
        return phone_lookup()


@pytest.fixture
def camara(camara_app):
    return lookup_for(camara_app())


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hours_ago(hours: float) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=hours)


def reasons_about(facts, fact: str) -> list[str]:
    return [reason for reason in facts.unknown_reasons if reason.startswith(f"{fact}: ")]


# ---- the requests -----------------------------------------------------------------------

def test_one_lookup_asks_for_a_token_then_each_api(camara, fake_camara):
    facts = camara.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert [request.path for request in fake_camara.requests] == [
        TOKEN, CHECK, RETRIEVE_DATE, RECYCLING]
    token, check, retrieve, recycling = fake_camara.requests
    assert token.method == "POST"
    assert token.basic_auth == (CLIENT_ID, CLIENT_SECRET)
    assert token.form == {"grant_type": "client_credentials",
                          "scope": "sim-swap number-recycling:check"}
    assert check.json == {"phoneNumber": NUMBER, "maxAge": 240}
    assert retrieve.json == {"phoneNumber": NUMBER}
    assert recycling.json == {"phoneNumber": NUMBER, "specifiedDate": "2024-01-15"}
    for call in (check, retrieve, recycling):
        assert call.method == "POST" and call.bearer == "token-1"
        assert call.headers["Content-Type"] == "application/json"
        assert len(call.headers["x-correlator"]) == 36  # a fresh UUID per call
    assert len({call.headers["x-correlator"] for call in (check, retrieve, recycling)}) == 3

    assert (facts.provider, facts.valid, facts.number_type, facts.region) == (
        "camara", True, "mobile", "ES")
    assert facts.sim_swap == "not_swapped"
    assert facts.sim_swapped_at == datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert facts.sim_swapped_within is None
    assert facts.reassigned == "not_reassigned"
    assert facts.unknown_reasons == NOT_OFFERED


def test_without_a_last_verified_date_recycling_is_not_asked(camara, fake_camara):
    facts = camara.lookup(NUMBER, sim_swap_max_age_hours=72)

    assert fake_camara.calls(RECYCLING) == []
    assert fake_camara.calls(CHECK)[0].json == {"phoneNumber": NUMBER, "maxAge": 72}
    assert facts.reassigned == "unknown"
    assert reasons_about(facts, "reassigned") == [
        "reassigned: no last verified date to ask about"]


def test_an_invalid_number_is_not_sent(camara, fake_camara):
    facts = camara.lookup("+4412345", last_verified=LAST_VERIFIED)

    assert fake_camara.requests == []
    assert facts.valid is False and facts.sim_swap == "unknown"
    assert facts.unknown_reasons[0] == "invalid number: not sent to the CAMARA APIs"


def test_missing_settings_leave_everything_unknown_without_a_request(camara_app, fake_camara,
                                                                    provider_log):
    # Start-up refuses this (app/config.py); the provider still defends itself if the
    # setting goes missing at run time.
    app = camara_app()
    app.config["CAMARA_BASE_URL"] = ""
    facts = lookup_for(app).lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert fake_camara.requests == []
    assert (facts.sim_swap, facts.reassigned) == ("unknown", "unknown")
    assert facts.unknown_reasons[:2] == ("sim_swap: CAMARA_BASE_URL not set",
                                         "reassigned: CAMARA_BASE_URL not set")
    assert [record.levelname for record in provider_log.records] == ["ERROR"]


# ---- the token --------------------------------------------------------------------------

def test_the_token_is_fetched_once_and_reused(camara_app, fake_camara):
    app = camara_app()
    lookup_for(app).lookup(NUMBER, last_verified=LAST_VERIFIED)
    lookup_for(app).lookup(NUMBER, last_verified=LAST_VERIFIED)  # a new provider object

    assert len(fake_camara.calls(TOKEN)) == 1
    api_calls = [request for request in fake_camara.requests if request.path != TOKEN]
    assert len(api_calls) == 6 and {call.bearer for call in api_calls} == {"token-1"}


def test_a_token_near_its_expiry_is_replaced_before_use(camara_app, fake_camara):
    fake_camara.reply(TOKEN, 200, {"access_token": "short-lived", "token_type": "Bearer",
                                   "expires_in": 10})  # inside the 30 s safety margin
    provider = lookup_for(camara_app())

    provider.lookup(NUMBER)
    provider.lookup(NUMBER)

    assert len(fake_camara.calls(TOKEN)) == 2


def test_a_401_refreshes_the_token_once_and_retries(camara, fake_camara):
    camara.lookup(NUMBER)
    fake_camara.expire_tokens()  # the operator drops token-1 before its expires_in

    facts = camara.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.sim_swap == "not_swapped" and facts.reassigned == "not_reassigned"
    assert len(fake_camara.calls(TOKEN)) == 2
    second_round = fake_camara.requests[3:]
    assert [(call.path, call.bearer) for call in second_round] == [
        (CHECK, "token-1"), (TOKEN, None), (CHECK, "token-2"),
        (RETRIEVE_DATE, "token-2"), (RECYCLING, "token-2")]


def test_a_second_401_is_not_retried_again(camara, fake_camara, provider_log):
    fake_camara.error(CHECK, 401, "UNAUTHENTICATED")
    fake_camara.error(CHECK, 401, "UNAUTHENTICATED")

    facts = camara.lookup(NUMBER)

    assert len(fake_camara.calls(CHECK)) == 2
    assert len(fake_camara.calls(TOKEN)) == 2
    assert "sim_swap: check: CAMARA answered HTTP 401 UNAUTHENTICATED" in facts.unknown_reasons
    assert facts.sim_swap == "not_swapped"  # retrieve-date still answered: last change 2020
    assert any(record.levelname == "ERROR" and "CAMARA_CLIENT_SECRET" in record.getMessage()
               for record in provider_log.records)


def test_a_refused_client_is_asked_once_per_lookup_and_nothing_is_known(
        camara_app, fake_camara, provider_log):
    provider = lookup_for(camara_app(CAMARA_CLIENT_SECRET="wrong-secret"))

    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert [request.path for request in fake_camara.requests] == [TOKEN]
    assert (facts.sim_swap, facts.reassigned) == ("unknown", "unknown")
    assert ("sim_swap: check: token endpoint answered HTTP 401 (invalid_client)"
            in facts.unknown_reasons)
    assert ("reassigned: token endpoint answered HTTP 401 (invalid_client)"
            in facts.unknown_reasons)
    assert "ERROR" in {record.levelname for record in provider_log.records}
    assert "wrong-secret" not in provider_log.text and NUMBER not in provider_log.text


@pytest.mark.parametrize("answer", [
    {"token_type": "Bearer", "expires_in": 3600},                      # no token
    {"access_token": "abc", "token_type": "mac", "expires_in": 3600},  # not a bearer token
])
def test_an_unusable_token_answer_is_unknown(camara, fake_camara, answer):
    fake_camara.reply(TOKEN, 200, answer)

    facts = camara.lookup(NUMBER)

    assert facts.sim_swap == "unknown"
    assert "sim_swap: check: unreadable answer from the token endpoint" in facts.unknown_reasons


def test_an_unreachable_token_endpoint_is_unknown(camara_app, fake_camara):
    provider = lookup_for(camara_app(CAMARA_TOKEN_URL=f"http://127.0.0.1:{free_port()}/t"))

    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert fake_camara.requests == []
    assert (facts.sim_swap, facts.reassigned) == ("unknown", "unknown")
    assert ("reassigned: token endpoint unreachable (ConnectionError)"
            in facts.unknown_reasons)


# ---- SIM swap ---------------------------------------------------------------------------

def test_a_swap_within_max_age_is_reported_with_its_date(camara, fake_camara):
    changed_at = hours_ago(30)
    fake_camara.reply(CHECK, 200, {"swapped": True})
    fake_camara.reply(RETRIEVE_DATE, 200, {"latestSimChange": iso(changed_at)})

    facts = camara.lookup(NUMBER, sim_swap_max_age_hours=48)

    assert fake_camara.calls(CHECK)[0].json["maxAge"] == 48
    assert facts.sim_swap == "swapped"
    assert (facts.sim_swapped_at, facts.sim_swapped_within) == (changed_at, 48)
    assert reasons_about(facts, "sim_swap") == []


def test_an_operator_offset_in_the_date_is_kept(camara, fake_camara):
    fake_camara.reply(RETRIEVE_DATE, 200, {"latestSimChange": "2023-07-03T14:27:08.312+02:00"})

    facts = camara.lookup(NUMBER)

    assert facts.sim_swapped_at == datetime(2023, 7, 3, 12, 27, 8, 312000, tzinfo=timezone.utc)
    assert facts.sim_swap == "not_swapped"


@pytest.mark.parametrize(("check", "retrieved", "expected", "reason"), [
    # The check alone, when the operator keeps the date to itself.
    ({"swapped": True}, {"latestSimChange": None}, "swapped",
     "sim_swap: retrieve-date: the operator does not give the date (latestSimChange null)"),
    ({"swapped": False}, {"latestSimChange": None}, "not_swapped",
     "sim_swap: retrieve-date: the operator does not give the date (latestSimChange null)"),
    # SIM Swap 2.x: null with a monitored period means "no change in that many days".
    ({"swapped": False}, {"latestSimChange": None, "monitoredPeriod": 120}, "not_swapped",
     None),
    ({"swapped": False}, {"latestSimChange": None, "monitoredPeriod": 5}, "not_swapped",
     "sim_swap: retrieve-date: no change in 5 days does not cover the last 240 h"),
    # The date alone, when the check fails.
    ({"oops": True}, {"latestSimChange": "{2 days ago}"}, "swapped",
     "sim_swap: check: unreadable answer (no boolean 'swapped')"),
    ({"swapped": "false"}, {"latestSimChange": "{400 days ago}"}, "not_swapped",
     "sim_swap: check: unreadable answer (no boolean 'swapped')"),
    # Neither.
    ({"oops": True}, {"latestSimChange": None}, "unknown", None),
    ({"swapped": True}, {"latest": "2020-01-01T00:00:00Z"}, "swapped",
     "sim_swap: retrieve-date: unreadable answer (no latestSimChange)"),
    ({"swapped": True}, {"latestSimChange": "last Tuesday"}, "swapped",
     "sim_swap: retrieve-date: unreadable latestSimChange"),
    ({"swapped": True}, {"latestSimChange": "2023-07-03T14:27:08"}, "swapped",  # no offset
     "sim_swap: retrieve-date: unreadable latestSimChange"),
])
def test_each_swap_answer_counts_where_the_other_fails(camara, fake_camara, check, retrieved,
                                                      expected, reason):
    moments = {"{2 days ago}": iso(hours_ago(48)), "{400 days ago}": iso(hours_ago(9600))}
    if "latestSimChange" in retrieved:
        value = retrieved["latestSimChange"]
        retrieved = dict(retrieved, latestSimChange=moments.get(value, value))
    fake_camara.reply(CHECK, 200, check)
    fake_camara.reply(RETRIEVE_DATE, 200, retrieved)

    facts = camara.lookup(NUMBER)

    assert facts.sim_swap == expected
    if reason:
        assert reason in reasons_about(facts, "sim_swap")
    if expected == "unknown":
        assert len(reasons_about(facts, "sim_swap")) == 2


@pytest.mark.parametrize(("check", "retrieved"), [
    ({"swapped": False}, {"latestSimChange": "{1 day ago}"}),
    ({"swapped": True}, {"latestSimChange": "{400 days ago}"}),
    ({"swapped": True}, {"latestSimChange": None, "monitoredPeriod": 30}),
])
def test_contradictory_swap_answers_are_unknown(camara, fake_camara, provider_log,
                                                check, retrieved):
    moments = {"{1 day ago}": iso(hours_ago(24)), "{400 days ago}": iso(hours_ago(9600))}
    value = retrieved["latestSimChange"]
    fake_camara.reply(CHECK, 200, check)
    fake_camara.reply(RETRIEVE_DATE, 200,
                      dict(retrieved, latestSimChange=moments.get(value, value)))

    facts = camara.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.sim_swap == "unknown"
    assert (facts.sim_swapped_at, facts.sim_swapped_within) == (None, None)
    [reason] = reasons_about(facts, "sim_swap")
    assert reason.startswith("sim_swap: contradictory answers (check swapped=")
    assert facts.reassigned == "not_reassigned"  # the other API still counts


def test_a_change_date_in_the_future_is_not_believed(camara, fake_camara):
    fake_camara.reply(RETRIEVE_DATE, 200, {"latestSimChange": iso(hours_ago(-72))})

    facts = camara.lookup(NUMBER)

    assert facts.sim_swapped_at is None
    assert "sim_swap: retrieve-date: unreadable latestSimChange" in facts.unknown_reasons
    assert facts.sim_swap == "not_swapped"  # from the check alone


def test_a_window_beyond_the_check_range_uses_the_date_alone(camara, fake_camara):
    facts = camara.lookup(NUMBER, sim_swap_max_age_hours=5000)

    assert fake_camara.calls(CHECK) == []
    assert facts.sim_swap == "not_swapped"  # the last change was in 2020
    assert ("sim_swap: check: the SIM Swap check answers for 1 to 2400 h, not 5000"
            in facts.unknown_reasons)


# ---- number recycling -------------------------------------------------------------------

@pytest.mark.parametrize(("recycled", "expected"), [(True, "reassigned"),
                                                    (False, "not_reassigned")])
def test_recycling_is_judged_since_the_last_verified_date(camara, fake_camara, recycled,
                                                          expected):
    fake_camara.reply(RECYCLING, 200, {"phoneNumberRecycled": recycled})

    facts = camara.lookup(NUMBER, last_verified=date(2023, 12, 22))

    [call] = fake_camara.calls(RECYCLING)
    assert call.json == {"phoneNumber": NUMBER, "specifiedDate": "2023-12-22"}
    assert facts.reassigned == expected
    assert reasons_about(facts, "reassigned") == []


@pytest.mark.parametrize("answer", [{"phoneNumChanged": True}, {"phoneNumberRecycled": "yes"}])
def test_an_unreadable_recycling_answer_is_unknown(camara, fake_camara, answer):
    fake_camara.reply(RECYCLING, 200, answer)

    facts = camara.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert facts.reassigned == "unknown"
    assert reasons_about(facts, "reassigned") == [
        "reassigned: unreadable answer (no boolean 'phoneNumberRecycled')"]


# ---- operator errors ----------------------------------------------------------------------

@pytest.mark.parametrize(("status", "code"), [
    (422, "SERVICE_NOT_APPLICABLE"), (422, "UNSUPPORTED_IDENTIFIER"), (404, "NOT_FOUND"),
    (429, "TOO_MANY_REQUESTS"), (503, "UNAVAILABLE"), (500, "INTERNAL"),
])
def test_an_error_answer_is_unknown_with_its_code(camara, fake_camara, provider_log,
                                                  status, code):
    for path in (CHECK, RETRIEVE_DATE, RECYCLING):
        fake_camara.error(path, status, code)

    facts = camara.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert (facts.sim_swap, facts.reassigned) == ("unknown", "unknown")
    assert facts.sim_swapped_at is None
    assert facts.unknown_reasons == (
        f"sim_swap: check: CAMARA answered HTTP {status} {code}",
        f"sim_swap: retrieve-date: CAMARA answered HTTP {status} {code}",
        f"reassigned: CAMARA answered HTTP {status} {code}") + NOT_OFFERED
    assert len(fake_camara.requests) == 4  # token and one call each: no retries
    assert "...78" in provider_log.text and NUMBER not in provider_log.text
    assert NUMBER[1:] not in provider_log.text


def test_an_error_without_a_sane_code_still_gives_the_status(camara, fake_camara):
    fake_camara.reply(CHECK, 502, {"code": "no\nsuch code"})
    fake_camara.reply_raw(RETRIEVE_DATE, 500, "<html>oops</html>")

    facts = camara.lookup(NUMBER)

    assert reasons_about(facts, "sim_swap") == [
        "sim_swap: check: CAMARA answered HTTP 502",
        "sim_swap: retrieve-date: CAMARA answered HTTP 500"]
    assert facts.sim_swap == "unknown"


@pytest.mark.parametrize("body", ['{"swapped": fa', "[]", ""])
def test_an_answer_that_is_not_a_json_object_is_unknown(camara, fake_camara, body):
    fake_camara.reply_raw(CHECK, 200, body)
    fake_camara.reply(RETRIEVE_DATE, 200, {"latestSimChange": None})

    facts = camara.lookup(NUMBER)

    assert facts.sim_swap == "unknown"
    assert "sim_swap: check: unreadable answer from CAMARA" in facts.unknown_reasons


def test_the_timeout_bounds_the_whole_lookup(camara_app, fake_camara, provider_log):
    provider = lookup_for(camara_app(PHONE_LOOKUP_TIMEOUT_SECONDS=1))
    fake_camara.hang(CHECK)

    started = time.monotonic()
    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)
    elapsed = time.monotonic() - started

    assert elapsed < 10  # the fake would hang for 60 s
    # The hung check spent the whole budget: the other calls were not even made.
    assert [request.path for request in fake_camara.requests] == [TOKEN, CHECK]
    assert (facts.sim_swap, facts.reassigned) == ("unknown", "unknown")
    assert facts.unknown_reasons[:3] == (
        "sim_swap: check: CAMARA did not answer in time",
        "sim_swap: retrieve-date: no time left (PHONE_LOOKUP_TIMEOUT_SECONDS)",
        "reassigned: no time left (PHONE_LOOKUP_TIMEOUT_SECONDS)")
    assert "did not answer in time" in provider_log.text


def test_an_unreachable_operator_is_unknown(camara_app, fake_camara):
    provider = lookup_for(camara_app(CAMARA_BASE_URL=f"http://127.0.0.1:{free_port()}/c"))

    facts = provider.lookup(NUMBER, last_verified=LAST_VERIFIED)

    assert (facts.sim_swap, facts.reassigned) == ("unknown", "unknown")
    assert "reassigned: CAMARA unreachable (ConnectionError)" in facts.unknown_reasons
