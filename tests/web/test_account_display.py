"""Device names and local times on the account pages (app/web/account_display.py): pure
functions, no app needed."""
from __future__ import annotations

from datetime import datetime

import pytest

from app.web.account_display import customer_zone, describe_device, local_time

USER_AGENTS = [
    ("chrome-windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on Windows"),
    ("edge-windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", "Edge on Windows"),
    ("safari-mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on Mac"),
    ("safari-iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
     "Safari on iPhone"),
    ("chrome-iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 "
     "Safari/604.1", "Chrome on iPhone"),
    ("chrome-android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
    ("samsung-android", "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 "
     "(KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
     "Samsung Internet on Android"),
    ("firefox-linux", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
     "Firefox on Linux"),
    ("opera-windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", "Opera on Windows"),
    ("chromebook", "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
    ("curl", "curl/8.5.0", "Unknown device"),
    ("test-client", "Werkzeug/3.0.3", "Unknown device"),
    ("empty", "", "Unknown device"),
    ("missing", None, "Unknown device"),
]


@pytest.mark.parametrize(("user_agent", "expected"), [case[1:] for case in USER_AGENTS],
                         ids=[case[0] for case in USER_AGENTS])
def test_describe_device(user_agent, expected) -> None:
    assert describe_device(user_agent) == expected


@pytest.mark.parametrize(("zone_name", "shown", "expected"), [
    (None, "UTC", "2030-07-01 12:00"),
    ("Europe/Paris", "Europe/Paris", "2030-07-01 14:00"),
    ("America/New_York", "America/New_York", "2030-07-01 08:00"),
    ("Gone/Away", "UTC", "2030-07-01 12:00"),
])
def test_times_are_shown_in_the_customer_zone_or_utc(zone_name, shown, expected) -> None:
    zone, name = customer_zone(zone_name)
    assert name == shown
    assert local_time(datetime(2030, 7, 1, 12, 0), zone) == expected
