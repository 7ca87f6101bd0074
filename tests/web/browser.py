"""Browser fixtures and page steps for end-to-end tests of the hosted pages.

Playwright's sync API drives Debian's chromium (`apt-get install chromium`), never a browser
that Playwright downloads itself: this machine's network reaches package registries only.
Without chromium the browser tests skip and say why, except under CI=true, where a missing
chromium means the CI script lost its install step, so they fail.

The fixtures reach every test under tests/web through tests/web/conftest.py; do not import
them into a test module (a second copy of the session fixture would start Playwright twice).
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import last_code

# Generous, because the pages hash passwords and both databases sit on a small machine;
# every wait is for an event (a URL, an element), never a fixed sleep.
TIMEOUT_MS = 10_000

# The background-networking flags stop chromium calling Google's hosts, which this machine's
# closed network refuses many times over; --no-sandbox because tests run as root here.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# A mid-sized phone (iPhone 12 to 15), in CSS pixels.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}

CUSTOMER_ID_RE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$")


def url_ending(path: str) -> re.Pattern:
    """A URL pattern for `path` on any host, with or without a query string."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium, shared by the session (each test gets its own context).

    While it lives, Playwright's event loop counts as running in the main thread, so a
    later test calling asyncio.run() would fail; nothing in Tessera uses asyncio today.
    """
    executable = shutil.which("chromium")
    if executable is None:
        reason = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}: the CI script must install it")
        pytest.skip(f"browser tests skipped: {reason}")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_context(browser: Browser, **options) -> BrowserContext:
    """A fresh context (no cookies, no storage) with the suite's time-outs."""
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page at desktop size in a fresh browser context, closed after the test."""
    context = open_context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A page on a phone-sized touch screen in a fresh browser context."""
    context = open_context(browser, **PHONE)
    yield context.new_page()
    context.close()


# ---- steps a customer takes --------------------------------------------------------------

def sign_up(page: Page, base_url: str, app, email: str, password: str,
            given_name: str | None = None, family_name: str | None = None) -> None:
    """Create an account through /signup and confirm the emailed code; ends on /account.

    Inputs are found by their labels, so an unlabelled field fails here.
    """
    page.goto(f"{base_url}/signup")
    fill_signup_form(page, email, password, given_name, family_name)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(url_ending("/signup/verify"))
    page.get_by_label("Code", exact=True).fill(last_code(app, email))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(url_ending("/account"))


def fill_signup_form(page: Page, email: str, password: str,
                     given_name: str | None = None, family_name: str | None = None) -> None:
    """Fill the signup form on the current page, without sending it."""
    page.get_by_label("Email or phone number").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    if given_name is not None:
        page.get_by_label("Given name").fill(given_name)
    if family_name is not None:
        page.get_by_label("Family name").fill(family_name)


def log_in(page: Page, base_url: str, identifier: str, password: str) -> None:
    """Open /login and send the form; the caller checks where it lands."""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email, phone number or username").fill(identifier)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    """Press "Log out" on the current page and wait until the account page is left."""
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: not url_ending("/account").match(url))


def shown_customer_id(page: Page) -> str:
    """The customer ID the page shows in #customer-id, as displayed."""
    return page.locator("#customer-id").inner_text().strip()


def scrolls_sideways(page: Page) -> bool:
    """True if the page is wider than the window, so a phone user must scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
