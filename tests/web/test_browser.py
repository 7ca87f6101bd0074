"""The hosted pages in a real browser: sign up, confirm, account, log out, log in.

Runs headless Debian chromium through Playwright against the app on a live server, once
on SQLite and once on PostgreSQL. Fields are found by their labels, so these tests also
prove every field a customer fills in is labelled.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.directory.customers import find_customer
from app.identity.customer_ids import format_for_people
from tests.factories import STRONG_PASSWORD, make_customer
from tests.web.browser import (CUSTOMER_ID_RE, log_in, log_out, scrolls_sideways, shown_customer_id,
                               sign_up, url_ending)

pytestmark = pytest.mark.browser

EMAIL = "grace@example.com"


def stored_customer_id(app, email: str) -> str:
    """The customer ID the database holds for `email`, grouped as the pages show it."""
    with app.app_context():
        customer = find_customer(email)
        assert customer is not None, f"no customer was stored for {email}"
        return format_for_people(customer.customer_id)


def test_sign_up_log_out_and_log_in_again(app, live_server, page) -> None:
    sign_up(page, live_server, app, EMAIL, STRONG_PASSWORD)

    customer_id = shown_customer_id(page)
    assert CUSTOMER_ID_RE.match(customer_id), f"not a grouped customer ID: {customer_id!r}"
    assert customer_id == stored_customer_id(app, EMAIL)

    log_out(page)
    page.goto(f"{live_server}/account")
    page.wait_for_url(url_ending("/login"))

    log_in(page, live_server, EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/account"))
    assert shown_customer_id(page) == customer_id


def test_wrong_password_shows_an_error_and_stays_on_login(app, live_server, page) -> None:
    with app.app_context():
        make_customer(email=EMAIL)

    log_in(page, live_server, EMAIL, "not-the-password-at-all-37")

    expect(page.locator("body")).to_contain_text("not right")
    assert url_ending("/login").match(page.url), f"left the login page for {page.url}"


def test_signup_and_account_fit_a_phone(app, live_server, phone_page, tmp_path) -> None:
    """No sideways scrolling at 390x844; screenshots are kept in tmp_path for a person."""
    page = phone_page
    page.goto(f"{live_server}/signup")
    # A page without a viewport meta tag is laid out 980 px wide on a phone and shrunk.
    assert page.evaluate("window.innerWidth") == 390, "the page does not set a viewport"
    assert not scrolls_sideways(page), "/signup scrolls sideways on a phone"
    page.screenshot(path=tmp_path / "signup-phone.png", full_page=True)

    sign_up(page, live_server, app, EMAIL, STRONG_PASSWORD)
    assert not scrolls_sideways(page), "/account scrolls sideways on a phone"
    page.screenshot(path=tmp_path / "account-phone.png", full_page=True)
