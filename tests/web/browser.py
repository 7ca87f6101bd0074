"""Page steps for end-to-end tests of the hosted pages: what a customer does in the browser
(sign up, log in, log out) and what they see. The `browser`, `page` and `phone_page`
fixtures are in tests/web/conftest.py.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pyotp
from playwright.sync_api import Page, expect

from app.auth import support
from app.extensions import db
from app.models import Customer
from tests.factories import STRONG_PASSWORD, make_customer, store_passkey
from tests.fakes.authenticator import SoftPasskey
from tests.helpers import last_code
from tests.oidc.helpers import auth_params, make_client, pkce

CUSTOMER_ID_RE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]$")


def url_ending(path: str) -> re.Pattern:
    """A URL pattern for `path` on any host, with or without a query string."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


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


def texted_code(app, phone: str, within_seconds: float = 10) -> str:
    """The code texted to `phone`. A login code is texted after the response (app/auth/
    flow.py), so the browser may show the code page first: wait for the text, as the
    customer does."""
    deadline = time.monotonic() + within_seconds
    while True:
        try:
            return last_code(app, phone)
        except (AssertionError, ValueError):  # not yet written (or half a line)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def shown_customer_id(page: Page) -> str:
    """The customer ID the page shows in #customer-id, as displayed."""
    return page.locator("#customer-id").inner_text().strip()


def scrolls_sideways(page: Page) -> bool:
    """True if the page is wider than the window, so a phone user must scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


# ---- every hosted page ---------------------------------------------------------------------

#: The walk's customer, and how many pages and states it checks.
WALK_EMAIL = "grace@example.com"
WALK_PHONE = "+447400123456"
WALK_PAGES = 46



def submit(page: Page, form: str = "main form") -> None:
    """Press the first submit button of `form` and wait for the page it leads to."""
    with page.expect_navigation():
        page.locator(f"{form} [type=submit]").first.click()


def log_in_by_ids(page: Page, base: str, identifier: str, password: str) -> None:
    """log_in, finding the fields by id (any language); the caller checks where it lands."""
    page.goto(f"{base}/login")
    page.locator("#identifier").fill(identifier)
    page.locator("#password").fill(password)
    submit(page)


def customer_pk(app) -> int:
    """The first customer's primary key (the walk's own)."""
    with app.app_context():
        return db.session.scalars(db.select(Customer.id)).first()


def walk_every_hosted_page(app, base: str, page: Page, check: Callable[[str], None]) -> None:
    """Walk every hosted page and state a customer can reach (WALK_PAGES of them: each
    form's error state, consent for a third-party app "Shop", the second-factor pages, a
    password required by support, the reset flow, the texted-code page), calling
    `check(name)` on each. Fields and buttons are found by id and CSS selector, never by
    their words, so the walk goes through in any language (test_accessibility.py,
    test_translated_pages.py). Focus lands on the field to fix after a failed submit."""
    with app.app_context():
        make_customer(email=WALK_EMAIL, phone=WALK_PHONE)
    third_party, _ = make_client(app, name="Shop", scope="openid profile email")

    def visit(name: str, url: str) -> None:
        page.goto(url)
        check(name)

    # Anonymous pages, and each form's error state.
    for name, path in [("home", "/"), ("sign-up", "/signup"), ("login", "/login"),
                       ("login by SMS", "/login/sms"), ("reset password", "/recover"),
                       ("reset link form", "/recover/link"),
                       ("reset link invalid", "/recover/link/not-a-token"),
                       ("error page", "/no-such-page"), ("logout page", "/end-session")]:
        visit(name, base + path)
    for name, path in [("sign-up errors", "/signup"), ("login errors", "/login"),
                       ("login by SMS errors", "/login/sms")]:
        page.goto(base + path)
        submit(page)
        check(name)
        # Focus moved to the first field with an error (server-side autofocus).
        first_invalid = page.locator("[aria-invalid=true]").first.get_attribute("id")
        expect(page.locator(f"#{first_invalid}"), name).to_be_focused()

    page.goto(f"{base}/signup")
    page.locator("#identifier").fill("new@example.com")
    page.locator("#password").fill(STRONG_PASSWORD)
    submit(page)
    page.wait_for_url(url_ending("/signup/verify"))
    check("sign-up code")
    page.context.clear_cookies()

    # The account area, logged in with a password.
    log_in_by_ids(page, base, WALK_EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/account"))
    for name, path in [("account", "/account"), ("security", "/account/security"),
                       ("sessions and apps", "/account/sessions"),
                       ("activity", "/account/activity"), ("data rights", "/account/data"),
                       ("data export", "/account/data/export"),
                       ("delete account", "/account/delete"),
                       ("communications", "/account/communications"),
                       ("change password", "/account/security/password"),
                       ("passkeys (none yet)", "/account/security/passkeys"),
                       ("add phone", "/account/phones/add"),
                       ("add email", "/account/emails/add")]:
        visit(name, base + path)
    page.locator("#email").fill("second@example.com")
    submit(page)
    page.wait_for_url(url_ending("/account/emails/verify"))
    check("verify email")
    page.goto(f"{base}/account/security")
    row = page.locator("#email-identifiers li").first.get_attribute("id")
    visit("remove identifier",
               f"{base}/account/identifiers/{row.removeprefix('identifier-')}/remove")

    # Second factors: enrol, the codes page (with its Copy button), renewal.
    visit("authenticator app set-up", f"{base}/account/security/totp")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "").strip()
    page.locator("#code").fill(pyotp.TOTP(secret).at(time.time() - 30))
    submit(page)
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    expect(page.locator("button[data-copy]")).to_be_visible()
    check("authenticator app added")
    visit("renew recovery codes", f"{base}/account/security/recovery-codes")
    visit("remove app (asks to log in again)", f"{base}/account/security/totp/remove")

    # A passkey (kept directly: this server's pages are on 127.0.0.1, where browsers make
    # none), its list and its removal, and it becomes the first second factor offered.
    with app.app_context():
        passkey_id = store_passkey(db.session.get(Customer, customer_pk(app)),
                                   SoftPasskey(rp_id="localhost", user_handle=b"w" * 32))
    visit("passkeys", f"{base}/account/security/passkeys")
    visit("remove passkey (asks to log in again)",
          f"{base}/account/security/passkeys/{passkey_id}/remove")

    # Consent for a third-party app.
    _, challenge = pkce()
    visit("consent", f"{base}/authorize?" + urlencode(auth_params(third_party,
                                                                       challenge)))

    # Logging in with a second factor: each method's page, a failure, the SMS code page.
    page.goto(f"{base}/account")
    submit(page, "header form.logout")
    log_in_by_ids(page, base, WALK_EMAIL, STRONG_PASSWORD)
    page.wait_for_url(url_ending("/login/second-factor"))
    check("second factor: passkey")
    visit("second factor: app", f"{base}/login/second-factor?method=totp")
    page.locator("#code").fill("000000")
    submit(page, "#second-factor-form")
    expect(page.locator("#code-error")).to_be_visible()
    check("second factor: wrong code")
    expect(page.locator("#code")).to_be_focused()
    visit("second factor: recovery code", f"{base}/login/second-factor?method=recovery")
    visit("second factor: SMS", f"{base}/login/second-factor?method=sms")
    submit(page, "#second-factor-form")
    page.wait_for_url(url_ending("/login/code"))
    check("second factor: texted code")
    page.locator("#code").fill(texted_code(app, WALK_PHONE))
    submit(page)
    page.wait_for_url(url_ending("/account"))
    # A required action set by support holds every account page until it is done.
    with app.app_context():
        support.add_required_action(db.session.get(Customer, customer_pk(app)),
                                    support.UPDATE_PASSWORD)
        db.session.commit()
    page.goto(f"{base}/account")
    page.wait_for_url(url_ending("/account/required/password"))
    check("required: new password")

    # Password reset, to the second step.
    page.context.clear_cookies()
    page.goto(f"{base}/recover")
    page.locator("#identifier").fill(WALK_EMAIL)
    submit(page, "main form:has(#identifier)")  # the passkey's form comes first
    page.wait_for_url(url_ending("/recover/code"))
    check("reset: code")
    page.locator("#code").fill(last_code(app, WALK_EMAIL))
    submit(page)
    page.wait_for_url(url_ending("/recover/second-factor"))
    check("reset: second factor (passkey)")
    visit("reset: second factor", f"{base}/recover/second-factor?method=totp")
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    submit(page)
    page.wait_for_url(url_ending("/recover/password"))
    check("reset: new password")

    # Passwordless login: the code page (it reads the same for any number).
    page.context.clear_cookies()
    page.goto(f"{base}/login/sms")
    page.locator("#phone").fill(WALK_PHONE)
    submit(page)
    page.wait_for_url(url_ending("/login/code"))
    check("login by SMS: code")


# ---- passkeys ------------------------------------------------------------------------------

class VirtualAuthenticator:
    """Chromium's virtual authenticator (DevTools protocol, WebAuthn domain) on a page: a
    platform authenticator with resident keys and user verification, which answers
    without a prompt. `credentials()` is what it holds."""

    def __init__(self, page: Page, *, user_verified: bool = True) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.id = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
            "hasUserVerification": True, "isUserVerified": user_verified,
            "automaticPresenceSimulation": True}})["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials",
                             {"authenticatorId": self.id})["credentials"]

    def remove(self) -> None:
        """Take this authenticator away (as if the security key were unplugged)."""
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})
