"""Second factors and passwordless login in a real browser (Debian chromium, Playwright).

The TOTP test reads the secret from the enrolment page, as a person typing it into an app
would, and computes codes with pyotp; SMS codes come from the console outbox.
"""
from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from app.models import LoginSession
from tests.factories import STRONG_PASSWORD, make_customer
from tests.web.browser import log_in, log_out, texted_code, url_ending

pytestmark = pytest.mark.browser

EMAIL = "grace@example.com"
PHONE = "+447400123456"


def enrol_totp(page: Page, base_url: str) -> tuple[str, list[str]]:
    """Set up an authenticator app from /account/security; return (secret, recovery codes)."""
    page.goto(f"{base_url}/account/security")
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.wait_for_url(url_ending("/account/security/totp"))
    expect(page.locator("#totp-qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "").strip()
    # The code of the previous time step: it confirms the app, and the current step stays
    # unused for the login that follows.
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(time.time() - 30))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    return secret, codes


def password_then(page: Page, base_url: str) -> None:
    log_in(page, base_url, EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/login/second-factor"))


def amr_of_newest_session(app) -> list[str]:
    with app.app_context():
        newest = db.session.scalars(db.select(LoginSession).order_by(
            LoginSession.id.desc())).first()
        return list(newest.amr)


def test_enrol_totp_then_log_in_with_password_and_totp(app, live_server, page) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    log_in(page, live_server, EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/account"))
    secret, _ = enrol_totp(page, live_server)

    page.goto(f"{live_server}/account")
    log_out(page)
    password_then(page, live_server)
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(url_ending("/account"))
    page.goto(f"{live_server}/account/security")
    expect(page.locator("#totp-status")).to_contain_text("on")
    assert amr_of_newest_session(app) == ["pwd", "otp", "mfa"]


def test_a_recovery_code_works_once(app, live_server, page) -> None:
    with app.app_context():
        make_customer(email=EMAIL)
    log_in(page, live_server, EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/account"))
    _, codes = enrol_totp(page, live_server)
    page.goto(f"{live_server}/account")
    log_out(page)

    for attempt in ("first", "second"):
        password_then(page, live_server)
        page.get_by_role("link", name="Use a recovery code").click()
        page.get_by_label("Recovery code").fill(codes[0])
        page.get_by_role("button", name="Use recovery code").click()
        if attempt == "first":
            page.wait_for_url(url_ending("/account"))
            page.goto(f"{live_server}/account/security")
            expect(page.locator("#recovery-codes-status")).to_contain_text("9 unused")
            log_out(page)
        else:
            expect(page.locator("body")).to_contain_text("already used")
            assert "/login/second-factor" in page.url


def test_passwordless_login_by_sms(app, live_server, page) -> None:
    with app.app_context():
        make_customer(email=EMAIL, phone=PHONE)
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Log in with a code by text message instead").click()
    page.get_by_label("Phone number").fill("+44 7400 123456")
    page.get_by_role("button", name="Text me a code").click()
    page.wait_for_url(url_ending("/login/code"))
    page.get_by_label("Code").fill(texted_code(app, PHONE))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(url_ending("/account"))
    assert amr_of_newest_session(app) == ["sms"]
