"""A walk through the account sections in Debian's chromium on a 390 px phone: the header
menu, each section on its own short page, a profile change, a password change and the
activity it leaves. Runs on SQLite and PostgreSQL (`app`)."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import STRONG_PASSWORD
from tests.web.browser import scrolls_sideways, sign_up, url_ending

EMAIL = "grace@example.com"
NEW_PASSWORD = "quartz-meadow-lantern-58"
SECTIONS = [("Profile", "/account"), ("Security", "/account/security"),
            ("Apps & sessions", "/account/sessions"), ("Privacy & data", "/account/data"),
            ("Activity", "/account/activity")]
#: The issue's complaint was one 2,700 px page; each section must be far shorter.
MAX_PAGE_HEIGHT = 2000


def test_walk_the_account_sections_on_a_phone(app, live_server, phone_page) -> None:
    page = phone_page
    sign_up(page, live_server, app, EMAIL, STRONG_PASSWORD, given_name="Grace")
    menu = page.get_by_role("navigation", name="Your account")
    expect(page.locator("#signed-in-as")).to_have_text("Grace")

    for label, path in SECTIONS:
        menu.get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(url_ending(path))
        expect(menu.get_by_role("link", name=label, exact=True)).to_have_attribute(
            "aria-current", "page")
        assert not scrolls_sideways(page), f"{path} scrolls sideways on a phone"
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < MAX_PAGE_HEIGHT, f"{path} is {height} px tall"

    menu.get_by_role("link", name="Profile", exact=True).click()
    page.get_by_label("Nickname").fill("Amazing Grace")
    page.get_by_label("Time zone", exact=True).select_option("Europe/Paris")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("body")).to_contain_text("Your profile was saved.")
    expect(page.locator("#signed-in-as")).to_have_text("Amazing Grace")

    menu.get_by_role("link", name="Security", exact=True).click()
    page.get_by_role("link", name="Change your password").click()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(url_ending("/account/security"))
    expect(page.locator("body")).to_contain_text("Your password was changed.")

    menu.get_by_role("link", name="Apps & sessions", exact=True).click()
    expect(page.locator("body")).to_contain_text("this device")
    menu.get_by_role("link", name="Activity", exact=True).click()
    expect(page.locator("body")).to_contain_text("Times are in Europe/Paris")
    expect(page.locator("table.events")).to_contain_text("Password changed")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(url_ending("/login"))
    expect(page.locator("#signed-in-as")).to_have_count(0)
