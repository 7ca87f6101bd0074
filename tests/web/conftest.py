"""Browser fixtures for the end-to-end tests of the hosted pages, defined once for every
module here: a session-scoped Playwright started twice would run inside the first one's
event loop.

Playwright's sync API drives Debian's chromium (`apt-get install chromium`), never a browser
that Playwright downloads itself: this machine's network reaches package registries only.
Without chromium the browser tests skip and say why, except under CI=true, where a missing
chromium means the CI script lost its install step, so they fail.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

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


# ---- passkeys: a server on a host name (the virtual authenticator: tests/web/browser.py) ---

@pytest.fixture
def passkey_server(make_app) -> Iterator[tuple]:
    """(app, base_url): the app served on 127.0.0.1 with the issuer http://localhost:PORT,
    the address a browser opens. WebAuthn refuses IP-address origins, so passkey pages
    need a host name; Chromium resolves localhost to the loopback address itself."""
    from tests.conftest import serving
    from tests.postgres import free_port
    port = free_port()
    app = make_app(ISSUER=f"http://localhost:{port}")
    with serving(app, port):
        yield app, f"http://localhost:{port}"
