"""Which phone numbers we text: mobile numbers in the regions a deployment serves.

Decided offline from phonenumbers' metadata (no lookup service, no network), before any
code is sent, so nobody can make us pay for texts to numbers that cannot receive them
(landlines, premium-rate and shared-cost numbers, the classic SMS-pumping targets) and a
typo is caught with a message that says what is wrong.

US and Canadian numbers are FIXED_LINE_OR_MOBILE (the numbering plan does not say which),
so they are allowed; a live line-type lookup (app/providers) can refine that later.
Numbers of the international networks (+800, +870, +881, +882, +883 ..., region "001")
belong to no country: "*" in SMS_ALLOWED_REGIONS does not cover them, because satellite and
global carrier ranges are where premium SMS fraud terminates. A deployment that really
needs them lists "001" explicitly.
"""
from __future__ import annotations

import icu
import phonenumbers
from flask import current_app
from flask_babel import gettext as _, get_locale, lazy_gettext as _l
from phonenumbers import PhoneNumberType

#: The pseudo-region phonenumbers gives numbers of the international (non-geographic) networks.
INTERNATIONAL_NETWORKS = "001"

INVALID_NUMBER = _l("This is not a valid phone number: check the country code and the digits.")
INTERNATIONAL_NETWORK = _l("We cannot send text messages to satellite or international "
                           "network numbers.")

#: Number types that can take a text message. VOIP is added when SMS_ALLOW_VOIP is on.
TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

#: Why each other type is refused, in words a customer understands. A type missing here
#: (a future addition to phonenumbers) gets the UNKNOWN message: refused, never allowed.
REFUSALS = {
    PhoneNumberType.FIXED_LINE:
        _l("This looks like a landline number: we can only text mobile phones."),
    PhoneNumberType.PREMIUM_RATE: _l("We cannot send text messages to premium-rate numbers."),
    PhoneNumberType.SHARED_COST: _l("We cannot send text messages to shared-cost numbers."),
    PhoneNumberType.TOLL_FREE: _l("We cannot send text messages to toll-free numbers."),
    PhoneNumberType.UAN:
        _l("This looks like a company's switchboard number: we can only text mobile phones."),
    PhoneNumberType.VOICEMAIL:
        _l("This is a voicemail access number: we can only text mobile phones."),
    PhoneNumberType.PAGER: _l("We cannot send text messages to pagers."),
    PhoneNumberType.PERSONAL_NUMBER:
        _l("This is a personal forwarding number: give the mobile number it forwards to."),
    PhoneNumberType.VOIP:
        _l("This looks like an internet (VoIP) number: we can only text mobile phones."),
    PhoneNumberType.UNKNOWN:
        _l("We cannot tell whether this number can receive text messages: give a mobile "
           "number."),
}


class SmsNotAllowed(ValueError):
    """We will not text this number. `message` is safe to show the customer (translated:
    a module-level lazy text is read in the current language here)."""

    def __init__(self, message: str) -> None:
        message = str(message)
        super().__init__(message)
        self.message = message


def check_sms_destination(e164: str) -> None:
    """Raise SmsNotAllowed unless `e164` is a valid number we may text.

    Refused: invalid numbers; every type but mobile (and fixed-line-or-mobile, and VoIP
    when SMS_ALLOW_VOIP); regions outside SMS_ALLOWED_REGIONS. The type is checked before
    the region, so a landline hears that it is a landline wherever it is.
    """
    number = _parse(e164)
    config = current_app.config
    number_type = phonenumbers.number_type(number)
    textable = TEXTABLE | ({PhoneNumberType.VOIP} if config["SMS_ALLOW_VOIP"] else set())
    if number_type not in textable:
        raise SmsNotAllowed(REFUSALS.get(number_type, REFUSALS[PhoneNumberType.UNKNOWN]))
    region = phonenumbers.region_code_for_number(number)
    if not region_allowed(region, str(config["SMS_ALLOWED_REGIONS"])):
        if region == INTERNATIONAL_NETWORKS:
            raise SmsNotAllowed(INTERNATIONAL_NETWORK)
        raise SmsNotAllowed(_("We do not send text messages to numbers in %(country)s yet.",
                              country=country_name(region)))


def region_allowed(region: str | None, allowed: str) -> bool:
    """Is `region` in the comma-separated ISO list `allowed` ("*": every country)?

    An empty list allows nothing (fail closed: a blank setting is a mistake, not a wish
    to text the world). The international networks need an explicit "001".
    """
    if not region:
        return False
    codes = {part.strip().upper() for part in allowed.split(",") if part.strip()}
    if region.upper() in codes:
        return True
    return "*" in codes and region != INTERNATIONAL_NETWORKS


def country_name(region: str) -> str:
    """The name of an ISO region in the request's language ("AU" -> "Australia" in
    English, "Australien" in German; English outside a request), or the code itself.

    Named from the region we decided on, not with geocoder.country_name_for_number, which
    says nothing when a number is valid in several regions of one calling code (an
    Australian mobile number is also valid on Christmas Island). The names come from ICU
    (already loaded for usernames), not phonenumbers.geodata: importing that package loads
    every geocoding table, about 100 MB in each worker, for a country's name.
    """
    name = icu.Locale("und", region).getDisplayCountry(_display_locale())
    return name if name and name != region and region.isalpha() else region


_ENGLISH = icu.Locale("en")


def _display_locale() -> icu.Locale:
    """The ICU locale of the current language (Flask-Babel's), English without one."""
    locale = get_locale()
    return icu.Locale(str(locale)) if locale is not None else _ENGLISH


def country_prefix(e164: str) -> str:
    """The country calling code of a number, without "+" ("44" for +447400123456).

    Raises SmsNotAllowed for a number that does not parse or is not valid.
    """
    return str(_parse(e164).country_code)


def _parse(e164: str) -> phonenumbers.PhoneNumber:
    """Parse an international number; invalid or unparseable numbers are refused."""
    try:
        number = phonenumbers.parse((e164 or "").strip()[:64], None)
    except phonenumbers.NumberParseException:
        raise SmsNotAllowed(INVALID_NUMBER) from None
    if not phonenumbers.is_valid_number(number):
        raise SmsNotAllowed(INVALID_NUMBER)
    return number


def canonical_number(e164: str) -> str:
    """The number in canonical E.164 ("+44 7400 123456" -> "+447400123456"), so that one
    number spelt two ways is one number to the send limits. Raises SmsNotAllowed."""
    return phonenumbers.format_number(_parse(e164), phonenumbers.PhoneNumberFormat.E164)
