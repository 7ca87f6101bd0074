"""The account's passkey pages in a real browser (Debian chromium, Playwright), with
Chromium's virtual authenticator answering the prompts (tests/web/conftest.py): adding a
passkey, the duplicate refused by excludeCredentials, renaming it by keyboard, and removing
it after confirming with the passkey as a second factor. The pages are checked with axe-core on the way. A
screenshot of the list goes to TESSERA_SCREENSHOTS (docs/screenshots for the README), else
the test's temporary folder.
"""
from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import LoginSession
from tests.factories import STRONG_PASSWORD, make_customer
from tests.web.browser import VirtualAuthenticator, scrolls_sideways, url_ending

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

EMAIL = "grace@example.com"
PASSKEYS = "/account/security/passkeys"
#: axe-core's tags for WCAG 2.1 A and AA.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a",
                                                     "wcag21aa"]},
               "resultTypes": ["violations"]}
PHONE_SCREEN = {"width": 390, "height": 844}


def log_in_with_password(page: Page, base_url: str) -> None:
    """Send the login form with the password. (tests/web/browser.py log_in finds "Log in"
    inexactly, which also matches "Log in with a passkey".)"""
    page.goto(f"{base_url}/login")
    page.get_by_label("Email, phone number or username").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()


def assert_accessible(page: Page, axe: Axe) -> None:
    results = axe.run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, results.generate_report()


def test_add_a_passkey_see_the_duplicate_refused_and_remove_it(passkey_server, page, tmp_path):
    app, base_url = passkey_server
    with app.app_context():
        customer_id = make_customer(email=EMAIL).customer_id
    device = VirtualAuthenticator(page)
    axe = Axe()
    log_in_with_password(page, base_url)
    page.wait_for_url(url_ending("/account"))

    page.goto(f"{base_url}/account/security")
    page.locator("#passkeys-status").get_by_role("link", name="Add a passkey").click()
    page.wait_for_url(url_ending(PASSKEYS))
    assert_accessible(page, axe)
    page.get_by_label("Name").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()

    expect(page.get_by_role("status")).to_have_text(
        "Passkey added. You can now log in with it.")
    listed = page.locator("#passkey-list li")
    expect(listed).to_have_count(1)
    expect(listed.first).to_contain_text("Laptop")
    [held] = device.credentials()
    assert held["isResidentCredential"] is True
    handle = base64.b64decode(held["userHandle"])
    assert EMAIL.encode() not in handle and customer_id.encode() not in handle
    assert_accessible(page, axe)
    page.set_viewport_size(PHONE_SCREEN)
    assert not scrolls_sideways(page)
    screenshots = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=screenshots / "passkeys-account.png")

    # The same authenticator again: the browser refuses it (excludeCredentials).
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("[data-passkey-status]")).to_have_text(
        "This device already holds a passkey for your account.")
    assert len(device.credentials()) == 1
    expect(listed).to_have_count(1)

    # Rename by keyboard: the disclosure opens with Enter, the field sends with Enter.
    page.get_by_text("Rename", exact=True).focus()
    page.keyboard.press("Enter")
    page.get_by_label("New name for “Laptop”").fill("Work laptop")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("The passkey is now called “Work laptop”.")

    # Removing needs two factors: the login page asks to confirm it's you, its autofill
    # offers the passkey, and the virtual authenticator (no touch needed) answers at once:
    # a passkey with user verification is two factors.
    page.get_by_role("link", name="Remove “Work laptop”").click()
    page.wait_for_url(re.compile(r".*/account/security/passkeys/\d+/remove$"))
    with app.app_context():
        newest = db.session.scalars(select(LoginSession).order_by(LoginSession.id.desc())).first()
        assert (newest.amr, newest.ended_at) == (["hwk", "user", "mfa"], None)
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove the passkey “Work laptop”?")
    assert_accessible(page, axe)
    page.get_by_role("button", name="Remove the passkey").click()

    page.wait_for_url(url_ending(PASSKEYS))
    expect(page.get_by_role("status")).to_have_text("The passkey “Work laptop” was removed.")
    expect(page.locator("#no-passkeys")).to_be_visible()
    expect(page.locator("#passkey-list")).to_have_count(0)
