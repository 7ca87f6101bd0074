"""Accessibility of every hosted page in a real browser (Debian chromium, Playwright):
axe-core's WCAG 2.1 A and AA rules (axe-playwright-python bundles axe-core), one h1 and no
skipped heading level on each page, focus on the first field with an error after a failed
submit, and a login with two factors done with the keyboard alone.

One live server and one browser page walk every page in a single test: the pages' markup
does not depend on the database, so it runs on SQLite only (the flows themselves are
tested on both backends in their own modules).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlencode

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from app.auth import support, totp
from app.extensions import db
from app.models import Customer
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import last_code
from tests.oidc.helpers import auth_params, make_client, pkce
from tests.web.browser import log_in, log_out, texted_code, url_ending

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

EMAIL = "grace@example.com"
PHONE = "+447400123456"
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

    def visit(self, name: str, url: str) -> None:
        self.page.goto(url)
        self.check(name)

    def assert_clean(self) -> None:
        assert not self.problems, "\n\n".join(self.problems)


def customer_pk(app) -> int:
    with app.app_context():
        return db.session.scalars(db.select(Customer.id)).first()


def test_every_hosted_page_passes_axe_and_keeps_its_headings_in_order(
        app, live_server, page, tmp_path) -> None:
    base = live_server
    screenshots = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    audit = PageAudit(page, screenshots)
    with app.app_context():
        make_customer(email=EMAIL, phone=PHONE)
    third_party, _ = make_client(app, name="Shop", scope="openid profile email")

    # Anonymous pages, and each form's error state.
    for name, path in [("home", "/"), ("sign-up", "/signup"), ("login", "/login"),
                       ("login by SMS", "/login/sms"), ("reset password", "/recover"),
                       ("reset link form", "/recover/link"),
                       ("reset link invalid", "/recover/link/not-a-token"),
                       ("error page", "/no-such-page"), ("logout page", "/end-session")]:
        audit.visit(name, base + path)
    for name, path in [("sign-up errors", "/signup"), ("login errors", "/login"),
                       ("login by SMS errors", "/login/sms")]:
        page.goto(base + path)
        page.locator("main form [type=submit]").first.click()
        page.wait_for_load_state("load")
        audit.check(name)
        # Focus moved to the first field with an error (server-side autofocus).
        first_invalid = page.locator("[aria-invalid=true]").first.get_attribute("id")
        expect(page.locator(f"#{first_invalid}"), name).to_be_focused()

    page.goto(f"{base}/signup")
    page.get_by_label("Email or phone number").fill("new@example.com")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(url_ending("/signup/verify"))
    audit.check("sign-up code")
    page.context.clear_cookies()

    # The account area, logged in with a password.
    log_in(page, base, EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/account"))
    for name, path in [("account", "/account"), ("security", "/account/security"),
                       ("sessions and apps", "/account/sessions"),
                       ("activity", "/account/activity"), ("data rights", "/account/data"),
                       ("data export", "/account/data/export"),
                       ("delete account", "/account/delete"),
                       ("communications", "/account/communications"),
                       ("change password", "/account/security/password"),
                       ("add phone", "/account/phones/add"),
                       ("add email", "/account/emails/add")]:
        audit.visit(name, base + path)
    page.get_by_label("Email address").fill("second@example.com")
    page.get_by_role("button", name="Email me a code").click()
    page.wait_for_url(url_ending("/account/emails/verify"))
    audit.check("verify email")
    page.goto(f"{base}/account/security")
    row = page.locator("#email-identifiers li").first.get_attribute("id")
    audit.visit("remove identifier",
                f"{base}/account/identifiers/{row.removeprefix('identifier-')}/remove")

    # Second factors: enrol, the codes page (with its Copy button), renewal.
    audit.visit("authenticator app set-up", f"{base}/account/security/totp")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "").strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(time.time() - 30))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    audit.check("authenticator app added")
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    audit.visit("renew recovery codes", f"{base}/account/security/recovery-codes")
    audit.visit("remove app (asks to log in again)", f"{base}/account/security/totp/remove")

    # Consent for a third-party app.
    _, challenge = pkce()
    audit.visit("consent", f"{base}/authorize?" + urlencode(auth_params(third_party,
                                                                        challenge)))

    # Logging in with a second factor: each method's page, a failure, the SMS code page.
    page.goto(f"{base}/account")
    log_out(page)
    log_in(page, base, EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/login/second-factor"))
    audit.check("second factor: app")
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.keyboard.press("Enter")
    expect(page.locator("#code-error")).to_be_visible()
    audit.check("second factor: wrong code")
    expect(page.locator("#code")).to_be_focused()
    audit.visit("second factor: recovery code", f"{base}/login/second-factor?method=recovery")
    audit.visit("second factor: SMS", f"{base}/login/second-factor?method=sms")
    page.get_by_role("button", name="Text a code to").click()
    page.wait_for_url(url_ending("/login/code"))
    audit.check("second factor: texted code")
    page.get_by_label("Code").fill(texted_code(app, PHONE))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(url_ending("/account"))
    # A required action set by support holds every account page until it is done.
    with app.app_context():
        support.add_required_action(db.session.get(Customer, customer_pk(app)),
                                    support.UPDATE_PASSWORD)
        db.session.commit()
    page.goto(f"{base}/account")
    page.wait_for_url(url_ending("/account/required/password"))
    audit.check("required: new password")

    # Password reset, to the second step.
    page.context.clear_cookies()
    page.goto(f"{base}/recover")
    page.locator("main form input:not([type=hidden])").first.fill(EMAIL)
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/recover/code"))
    audit.check("reset: code")
    page.get_by_label("Code").fill(last_code(app, EMAIL))
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/recover/second-factor"))
    audit.check("reset: second factor")
    page.locator("main form input:not([type=hidden])").first.fill(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/recover/password"))
    audit.check("reset: new password")

    # Passwordless login: the code page (it reads the same for any number).
    page.context.clear_cookies()
    page.goto(f"{base}/login/sms")
    page.get_by_label("Phone number").fill(PHONE)
    page.keyboard.press("Enter")
    page.wait_for_url(url_ending("/login/code"))
    audit.check("login by SMS: code")

    audit.assert_clean()
    assert len(audit.seen) == 41 and len(codes) == 10
    assert sorted(path.stem for path in screenshots.glob("*.png")) == sorted(SCREENSHOTS.values())


def test_login_with_a_second_factor_by_keyboard_alone(app, live_server, page) -> None:
    """Tab and Enter only: the password login, then "Use another method" and a recovery
    code on the second-factor page."""
    with app.app_context():
        customer = make_customer(email=EMAIL)
        secret = totp.begin_enrolment(customer).secret
        codes = totp.confirm_enrolment(customer, pyotp.TOTP(secret).at(time.time() - 30),
                                       TEST_ORIGIN)
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
