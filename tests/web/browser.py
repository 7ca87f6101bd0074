"""Page steps for end-to-end tests of the hosted pages: what a customer does in the browser
(sign up, log in, log out) and what they see. The `browser`, `page` and `phone_page`
fixtures are in tests/web/conftest.py.
"""
from __future__ import annotations

import re
import time

from playwright.sync_api import Page

from tests.helpers import last_code

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
