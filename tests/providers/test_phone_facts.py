"""The phone lookup interface: the offline provider (phonenumbers only) and the factory that
picks a provider from PHONE_LOOKUP."""
import dataclasses
from datetime import date, timezone

import pytest

from app.providers import phone_lookup
from app.providers.base import UNSUPPORTED, ProviderError
from app.providers.camara import CamaraPhoneLookup
from app.providers.phone_facts import OFFLINE_REASON, UNKNOWN, OfflinePhoneLookup, PhoneFacts
from app.providers.twilio_lookup import TwilioPhoneLookup, parse_fields


def lookup_for(app):
    with app.app_context():
        return phone_lookup()


# ---- offline ----------------------------------------------------------------------------

@pytest.mark.parametrize(("e164", "valid", "number_type", "region"), [
    ("+447400123456", True, "mobile", "GB"),
    ("+442071838750", True, "landline", "GB"),
    ("+445612345678", True, "voip", "GB"),
    ("+14155552671", True, "fixed_or_mobile", "US"),  # US prefixes cannot tell
    ("+4412345", False, None, None),                  # too short to exist
    ("+447700900123", False, None, None),             # Ofcom's drama range: never assigned
    ("not a number", False, None, None),
])
def test_offline_reads_what_the_number_itself_tells(e164, valid, number_type, region):
    facts = OfflinePhoneLookup().lookup(e164)

    assert (facts.e164, facts.provider) == (e164, "offline")
    assert (facts.valid, facts.number_type, facts.region) == (valid, number_type, region)


def test_offline_knows_nothing_about_the_line_and_says_so():
    facts = OfflinePhoneLookup().lookup("+447400123456", last_verified=date(2024, 1, 15),
                                        sim_swap_max_age_hours=24)

    assert (facts.sim_swap, facts.reassigned, facts.line_status, facts.call_forwarding) == (
        UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)
    assert (facts.sim_swapped_at, facts.sim_swapped_within, facts.sms_pumping_risk) == (
        None, None, None)
    assert (facts.carrier_name, facts.mobile_country_code, facts.mobile_network_code) == (
        None, None, None)
    assert facts.unknown_reasons == (OFFLINE_REASON,) == ("offline provider",)
    assert facts.fetched_at.tzinfo is timezone.utc


def test_facts_cannot_be_changed_after_the_lookup():
    facts = OfflinePhoneLookup().lookup("+447400123456")
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.sim_swap = "not_swapped"  # type: ignore[misc]
    assert isinstance(facts, PhoneFacts)


# ---- the factory ------------------------------------------------------------------------

def test_the_embedded_default_is_offline(provider_app):
    provider = lookup_for(provider_app())
    assert isinstance(provider, OfflinePhoneLookup) and provider.name == "offline"


def test_twilio_lookup_is_built_from_the_settings_without_calling_twilio(
        twilio_lookup_app, fake_twilio):
    provider = lookup_for(twilio_lookup_app(
        TWILIO_LOOKUP_FIELDS="sim_swap, line_status", PHONE_LOOKUP_TIMEOUT_SECONDS=3))

    assert isinstance(provider, TwilioPhoneLookup) and provider.name == "twilio-lookup"
    assert provider.fields == ("sim_swap", "line_status")
    # The lookup timeout, not the SMS one, bounds the SDK's requests.
    assert provider.client.http_client.timeout == 3.0
    assert fake_twilio.requests == []


def test_camara_is_built_from_the_settings_without_calling_the_operator(
        camara_app, fake_camara):
    provider = lookup_for(camara_app(PHONE_LOOKUP_TIMEOUT_SECONDS=2))

    assert isinstance(provider, CamaraPhoneLookup) and provider.name == "camara"
    assert provider.base_url == fake_camara.url + "/camara"
    assert provider.timeout == 2.0
    assert fake_camara.requests == []


def test_an_unknown_provider_name_is_refused(provider_app):
    app = provider_app()
    # app.config refuses such a name at start-up; the factory refuses it too.
    app.config["PHONE_LOOKUP"] = "carrier-pigeon"
    with pytest.raises(ProviderError) as caught:
        lookup_for(app)
    assert caught.value.reason == UNSUPPORTED
    assert caught.value.provider == "carrier-pigeon"


def test_twilio_fields_keep_known_packages_once_and_log_the_rest(provider_log):
    fields = parse_fields(" sim_swap,line_status,,sim_swap,caller_name,SIM_SWAP ")

    assert fields == ("sim_swap", "line_status")
    assert "'caller_name'" in provider_log.text and "'SIM_SWAP'" in provider_log.text
    assert {record.levelname for record in provider_log.records} == {"ERROR"}
