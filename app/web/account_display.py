"""How the account pages show sessions and events to a person: the device a user agent
names, in plain words ("Firefox on Windows"), and times in the customer's own time zone.

The user-agent reading is deliberately tiny: the browsers and systems most customers use,
checked in an order that respects how they copy each other's tokens (Edge and Opera say
"Chrome", Chrome says "Safari", every Android says "Linux"). Anything else reads as
"Unknown browser" or "unknown system": it is a hint for the customer, never a security
decision.
"""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

#: (token in the user agent, browser name), first match wins. Product names are not
#: translated.
BROWSERS = (
    ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
    ("FxiOS/", "Firefox"), ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
#: (token, system name), first match wins.
SYSTEMS = (
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("CrOS", "ChromeOS"),
    ("Windows", "Windows"), ("Macintosh", "Mac"), ("Mac OS X", "Mac"), ("Linux", "Linux"),
)
UNKNOWN_DEVICE = _l("Unknown device")


def describe_device(user_agent: str | None) -> str:
    """The browser and system a user agent names, e.g. "Safari on iPhone"."""
    if not user_agent:
        return str(UNKNOWN_DEVICE)
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if browser is None and system is None:
        return str(UNKNOWN_DEVICE)
    return _("%(browser)s on %(system)s", browser=browser or _("Unknown browser"),
             system=system or _("an unknown system"))


def customer_zone(zone_name: str | None) -> tuple[ZoneInfo, str]:
    """The time zone to show times in (the profile's `zoneinfo`, else UTC) and its name
    for the page, which always says which zone its times are in."""
    if zone_name:
        try:
            return ZoneInfo(zone_name), zone_name
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a zone the server's tz database dropped since it was chosen
    return ZoneInfo("UTC"), "UTC"


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A stored moment (naive UTC, as the models keep them) in `zone`, to the minute."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
