"""Accessibility of every hosted page in a real browser (Debian chromium, Playwright):
axe-core's WCAG 2.1 A and AA rules (axe-playwright-python bundles axe-core), one h1 and no
skipped heading level on each page, focus on the first field with an error after a failed
submit, and a login with two factors done with the keyboard alone.

One live server and one browser page walk every page in a single test (the walk, shared
with test_translated_pages.py, is tests/web/browser.py walk_every_hosted_page): the pages' markup
does not depend on the database, so it runs on SQLite only (the flows themselves are
tested on both backends in their own modules).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from app.extensions import db
from tests.factories import STRONG_PASSWORD, make_customer, make_totp
from tests.web.browser import WALK_PAGES, url_ending, walk_every_hosted_page

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

EMAIL = "grace@example.com"
# axe-core's tags for the WCAG 2.0 and 2.1 success criteria at levels A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_21_AA},
               "resultTypes": ["violations"]}
#: Pages photographed on a phone-sized screen as the walk passes them: the README's
#: screenshots (docs/screenshots/) are made by running this module with
#: TESSERA_SCREENSHOTS=docs/screenshots; otherwise they go to the test's temporary folder.
SCREENSHOTS = {"sign-up": "signup", "login": "login", "second factor: app": "second-factor",
               "account": "account", "security": "security",
               "sessions and apps": "sessions", "activity": "activity", "consent": "consent"}
PHONE_SCREEN = {"width": 390, "height": 844}
HEADING_LEVELS = "Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'))" \
                 ".map(h => Number(h.tagName[1]))"


class PageAudit:
    """Checks each page it is shown and keeps every problem, so one run reports all the
    pages that fail, each with axe's readable report."""

    def __init__(self, page: Page, screenshots: Path) -> None:
        self.page = page
        self.screenshots = screenshots
        self.axe = Axe()
        self.problems: list[str] = []
        self.seen: list[str] = []

    def check(self, name: str) -> None:
        """Run axe and the heading rules on the page as it is now."""
        self.page.wait_for_load_state("load")
        self.seen.append(name)
        results = self.axe.run(self.page, options=AXE_OPTIONS)
        if results.violations_count:
            self.problems.append(f"{name} ({self.page.url}):\n{results.generate_report()}")
        levels = self.page.evaluate(HEADING_LEVELS)
        skipped = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
        if levels.count(1) != 1 or (levels and levels[0] != 1) or skipped:
            self.problems.append(f"{name} ({self.page.url}): headings out of order {levels}")
        if name in SCREENSHOTS:
            self.photograph(SCREENSHOTS[name])

    def photograph(self, file_name: str) -> None:
        """A PNG of the page's first screen on a phone, then back to the walk's size."""
        size = self.page.viewport_size
        self.page.set_viewport_size(PHONE_SCREEN)
        self.page.screenshot(path=self.screenshots / f"{file_name}.png")
        self.page.set_viewport_size(size)

    def assert_clean(self) -> None:
        assert not self.problems, "\n\n".join(self.problems)


def test_every_hosted_page_passes_axe_and_keeps_its_headings_in_order(
        app, live_server, page, tmp_path) -> None:
    screenshots = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    audit = PageAudit(page, screenshots)
    walk_every_hosted_page(app, live_server, page, audit.check)
    audit.assert_clean()
    assert len(audit.seen) == WALK_PAGES
    # Every page of the README's table was photographed (the folder may hold others').
    assert set(SCREENSHOTS.values()) <= {path.stem for path in screenshots.glob("*.png")}


def test_login_with_a_second_factor_by_keyboard_alone(app, live_server, page) -> None:
    """Tab and Enter only: the password login, then "Use another method" and a recovery
    code on the second-factor page."""
    with app.app_context():
        customer = make_customer(email=EMAIL)
        secret, codes = make_totp(customer)
        db.session.commit()
    page.goto(f"{live_server}/login")
    expect(page.locator("#identifier")).to_be_focused()  # autofocus on the first field
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(STRONG_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/login/second-factor"))
    expect(page.locator("#code")).to_be_focused()
    for _ in range(10):  # Tab to the link, as far as it is
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Use a recovery code":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/login/second-factor?method=recovery"))
    expect(page.locator("#code")).to_be_focused()
    page.keyboard.type(codes[0])
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/account"))
    page.goto(f"{live_server}/account/security")
    expect(page.locator("#recovery-codes-status")).to_contain_text("9 unused")
