"""Which numbers we text: decided offline from phonenumbers' own example numbers.

The policy reads only settings, never the database, so these tests build one app on a
SQLite path that is never opened instead of running twice through the `app` fixture.
"""
import phonenumbers
import pytest
from phonenumbers import PhoneNumberType as Type

from app import create_app
from app.phones.sms_policy import (SmsNotAllowed, canonical_number, check_sms_destination,
                                   country_prefix)
from tests.helpers import base_config

REGIONS = ["GB", "DE", "US", "FR", "AU"]

#: The refusal message for each type, as the customer reads it.
REFUSED = {
    Type.FIXED_LINE: "This looks like a landline number: we can only text mobile phones.",
    Type.PREMIUM_RATE: "We cannot send text messages to premium-rate numbers.",
    Type.SHARED_COST: "We cannot send text messages to shared-cost numbers.",
    Type.TOLL_FREE: "We cannot send text messages to toll-free numbers.",
    Type.UAN: "This looks like a company's switchboard number: we can only text mobile phones.",
    Type.VOICEMAIL: "This is a voicemail access number: we can only text mobile phones.",
    Type.PAGER: "We cannot send text messages to pagers.",
    Type.PERSONAL_NUMBER:
        "This is a personal forwarding number: give the mobile number it forwards to.",
    Type.VOIP: "This looks like an internet (VoIP) number: we can only text mobile phones.",
}
TYPE_NAMES = {value: name for name, value in vars(Type).items() if name.isupper()}


def examples(number_types) -> list:
    """(region, type, E.164) for every example number phonenumbers has of these types in
    our regions. example_number_for_type falls back to another type when a region has no
    such number (GB FIXED_LINE_OR_MOBILE gives a landline), so the type is read back."""
    found = []
    for region in REGIONS:
        for number_type in number_types:
            number = phonenumbers.example_number_for_type(region, number_type)
            if number is not None and phonenumbers.number_type(number) == number_type:
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                found.append(pytest.param(region, number_type, e164,
                                          id=f"{region}-{TYPE_NAMES[number_type]}"))
    return found


@pytest.fixture
def policy_app(tmp_path):
    """Build an app with these settings and enter its context."""
    contexts = []

    def build(**overrides):
        config = base_config(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}") | overrides
        context = create_app(config).app_context()
        context.push()
        contexts.append(context)

    yield build
    for context in reversed(contexts):
        context.pop()


def refusal(e164: str) -> str | None:
    """The message check_sms_destination gives, or None when the number is allowed."""
    try:
        check_sms_destination(e164)
    except SmsNotAllowed as error:
        assert isinstance(error, ValueError)
        assert str(error) == error.message
        return error.message
    return None


@pytest.mark.parametrize("region, number_type, e164",
                         examples([Type.MOBILE, Type.FIXED_LINE_OR_MOBILE]))
def test_mobile_numbers_are_allowed(policy_app, region, number_type, e164):
    policy_app()
    assert refusal(e164) is None


@pytest.mark.parametrize("region, number_type, e164", examples(list(REFUSED)))
def test_numbers_that_cannot_take_a_text_are_refused_with_their_reason(
        policy_app, region, number_type, e164):
    policy_app()
    assert refusal(e164) == REFUSED[number_type]


def test_examples_cover_every_refused_type_and_every_region():
    """Guard the two tests above: an update of phonenumbers' metadata must not silently
    leave a type or a region untested."""
    refused = examples(list(REFUSED))
    allowed = examples([Type.MOBILE, Type.FIXED_LINE_OR_MOBILE])
    assert {param.values[1] for param in refused} == set(REFUSED)
    assert {param.values[0] for param in refused} == set(REGIONS)
    assert {param.values[0] for param in allowed} == set(REGIONS)
    # US numbers do not say whether they are mobile; they must still be textable.
    assert ("US", Type.FIXED_LINE_OR_MOBILE) in {param.values[:2] for param in allowed}


@pytest.mark.parametrize("region, number_type, e164", examples([Type.VOIP]))
def test_voip_is_allowed_only_when_the_setting_says_so(policy_app, region, number_type, e164):
    policy_app(SMS_ALLOW_VOIP=True)
    assert refusal(e164) is None
    policy_app(SMS_ALLOW_VOIP=False)
    assert refusal(e164) == REFUSED[Type.VOIP]


def test_voip_setting_does_not_open_landlines_or_premium_rate(policy_app):
    policy_app(SMS_ALLOW_VOIP=True)
    assert refusal("+441212345678") == REFUSED[Type.FIXED_LINE]
    assert refusal("+449012345678") == REFUSED[Type.PREMIUM_RATE]


@pytest.mark.parametrize("text", ["", "not a number", "+44", "+4474001234567890",
                                  "+447400", "07400123456", "+999123456789"])
def test_invalid_numbers_are_refused(policy_app, text):
    policy_app()
    assert refusal(text) == ("This is not a valid phone number: check the country code "
                             "and the digits.")


def test_allow_list_refuses_other_countries_by_name(policy_app):
    policy_app(SMS_ALLOWED_REGIONS="GB, de")
    assert refusal("+447400123456") is None
    assert refusal("+4915123456789") is None
    assert refusal("+33612345678") == "We do not send text messages to numbers in France yet."
    assert refusal("+61412345678") == "We do not send text messages to numbers in Australia yet."
    assert refusal("+12015550123") == (
        "We do not send text messages to numbers in United States yet.")


def test_allow_list_tells_countries_that_share_a_calling_code_apart(policy_app):
    """+1 is the US and Canada (and more): the allow list is by country, not by code."""
    policy_app(SMS_ALLOWED_REGIONS="US")
    assert refusal("+12015550123") is None
    assert refusal("+16135550123") == "We do not send text messages to numbers in Canada yet."


def test_type_is_refused_before_region(policy_app):
    """A landline hears that it is a landline, wherever it is."""
    policy_app(SMS_ALLOWED_REGIONS="US")
    assert refusal("+441212345678") == REFUSED[Type.FIXED_LINE]


def test_star_allows_every_country_and_an_empty_list_none(policy_app):
    policy_app(SMS_ALLOWED_REGIONS="*")
    for e164 in ["+447400123456", "+33612345678", "+61412345678", "+16135550123"]:
        assert refusal(e164) is None
    policy_app(SMS_ALLOWED_REGIONS="")
    assert refusal("+447400123456") == (
        "We do not send text messages to numbers in United Kingdom yet.")


def test_international_networks_need_an_explicit_entry(policy_app):
    """+882 (a global carrier range phonenumbers calls mobile) belongs to no country: "*"
    does not cover it, an explicit "001" does."""
    satellite = phonenumbers.format_number(phonenumbers.example_number_for_non_geo_entity(882),
                                           phonenumbers.PhoneNumberFormat.E164)
    assert phonenumbers.number_type(phonenumbers.parse(satellite)) == Type.MOBILE
    policy_app(SMS_ALLOWED_REGIONS="*")
    assert refusal(satellite) == ("We cannot send text messages to satellite or international "
                                  "network numbers.")
    policy_app(SMS_ALLOWED_REGIONS="*,001")
    assert refusal(satellite) is None


def test_country_prefix_and_canonical_number():
    assert country_prefix("+447400123456") == "44"
    assert country_prefix("+12015550123") == "1"
    assert country_prefix("+4915123456789") == "49"
    assert canonical_number(" +44 7400 123456 ") == "+447400123456"
    with pytest.raises(SmsNotAllowed):
        country_prefix("+44")
    with pytest.raises(SmsNotAllowed):
        canonical_number("nonsense")
