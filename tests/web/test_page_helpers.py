"""The templates' shared helpers (app/web/page_helpers.py): phone numbers shown as people
write them, and autofocus on the first field with an error after a failed submit."""
from __future__ import annotations

import re

import pytest

from app.web.page_helpers import format_phone
from tests.helpers import csrf_token


@pytest.mark.parametrize("stored, region, shown", [
    ("+12025550143", "US", "(202) 555-0143"),          # the default region: national
    ("+447400123456", "US", "+44 7400 123456"),        # any other: international
    ("+447400123456", "GB", "07400 123456"),
    ("+44•••••••••56", "US", "+44•••••••••56"),        # a masked hint stays as it is
    ("ada@example.com", "US", "ada@example.com"),      # not a phone: unchanged
    ("+1", "US", "+1"),
    ("", "US", ""),
])
def test_phone_numbers_are_shown_national_at_home_and_international_abroad(
        app, stored, region, shown):
    with app.app_context():
        assert format_phone(stored, region) == shown


def test_the_phone_filter_reads_the_default_region_setting(make_app):
    app = make_app(DEFAULT_REGION="GB")
    with app.test_request_context():
        rendered = app.jinja_env.from_string("{{ '+447400123456' | phone }} "
                                             "{{ '+12025550143' | phone }}").render()
    assert rendered == "07400 123456 +1 202-555-0143"


def autofocused(html: str) -> list[str]:
    """The ids of the fields that carry autofocus."""
    return [re.search(r'\bid="([^"]+)"', tag).group(1)
            for tag in re.findall(r"<input[^>]*>", html) if re.search(r"\bautofocus\b", tag)]


@pytest.mark.parametrize("data, focused", [
    ({}, ["identifier"]),                                       # the page as it opens
    ({"identifier": "", "password": ""}, ["identifier"]),       # both wrong: the first
    ({"identifier": "ada@example.com", "password": ""}, ["password"]),
])
def test_after_a_failed_submit_only_the_first_field_with_an_error_has_focus(
        app, data, focused):
    client = app.test_client()
    page = client.get("/login")
    response = page if not data else client.post(
        "/login", data={"csrf_token": csrf_token(page.text)} | data)
    assert autofocused(response.text) == focused
