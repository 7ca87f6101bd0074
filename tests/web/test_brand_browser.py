"""The brand and the language in a real browser (issue 16, "done means"): a login page
reached through an app's authorization request with `ui_locales=de` is German and wears
the app's logo and colours; a customer's saved language is the language of the text and
the email sent to them from a page in another language; an override template from
instance/brand/ wins; the switcher changes the language. Screenshots of the login page in
two languages and two brands go to TESSERA_SCREENSHOTS (docs/screenshots for the README),
else the test's temporary folder."""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.platform.i18n import speaking
from tests.conftest import serving
from tests.factories import make_customer
from tests.helpers import read_outbox
from tests.oidc.helpers import REDIRECT_URI, make_client
from tests.postgres import free_port
from tests.web.browser import texted_code
from tests.web.conftest import open_context

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

SHOP_LOGO = "https://cdn.shop.example/logo.svg"
LOGO_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="96" height="32">'
            '<rect width="96" height="32" rx="6" fill="#fafff0"/>'
            '<text x="12" y="22" font-size="16" font-family="sans-serif" fill="#0b5d1e">'
            'Shop</text></svg>')
ACME_LOGO = ('<svg xmlns="http://www.w3.org/2000/svg" width="110" height="32">'
             '<text x="0" y="24" font-size="22" font-family="sans-serif" fill="#ffffff">'
             'ACME</text></svg>')


@pytest.fixture
def serve():
    """Serve an app over HTTP on 127.0.0.1; yields a function that starts one."""
    with ExitStack() as servers:

        def start(application) -> str:
            port = free_port()
            servers.enter_context(serving(application, port))
            return f"http://127.0.0.1:{port}"

        yield start


def screenshots(tmp_path: Path) -> Path:
    return Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)


def test_an_apps_login_page_with_ui_locales_de_is_german_in_the_apps_brand(
        app, live_server, browser, tmp_path):
    client_id, _ = make_client(app, name="Green Shop", logo_uri=SHOP_LOGO,
                               brand_colors={"primary": "#0b5d1e", "background": "#fafff0"})
    context = open_context(browser, locale="en-GB", viewport={"width": 390, "height": 844})
    page = context.new_page()
    # The logo's host is not on this machine's network: the browser is answered here.
    page.route(SHOP_LOGO, lambda route: route.fulfill(body=LOGO_SVG,
                                                      content_type="image/svg+xml"))
    page.goto(f"{live_server}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid", "state": "st", "ui_locales": "de-CH en"}))
    expect(page.locator("html")).to_have_attribute("lang", "de")
    with app.test_request_context(), speaking("de"):
        from flask_babel import gettext
        heading = gettext("Log in to %(name)s", name="Green Shop")
        forgot = gettext("Forgot your password?")
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.get_by_role("link", name=forgot)).to_be_visible()
    logo = page.locator("header img.brand-logo")
    expect(logo).to_have_attribute("src", SHOP_LOGO)
    assert page.evaluate("document.querySelector('header img.brand-logo').naturalWidth") > 0
    expect(page.locator("header .brand-name")).to_have_text("Green Shop")
    # The app's colours: its primary on the header, its background on the page.
    assert page.evaluate("getComputedStyle(document.querySelector('header.site'))"
                         ".backgroundColor") == "rgb(11, 93, 30)"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == \
        "rgb(250, 255, 240)"
    page.screenshot(path=screenshots(tmp_path) / "login-de-app.png")
    context.close()


def test_the_saved_language_is_the_language_of_what_is_sent(app, live_server, page):
    with app.app_context():
        customer = make_customer(email="ada@example.com", phone="+447400123456")
        customer.locale = "fr"
        db.session.commit()
    # An English page asks for a login code by text message.
    page.goto(f"{live_server}/login/sms")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("main form input:not([type=hidden])").first.fill("+447400123456")
    page.keyboard.press("Enter")
    page.wait_for_url("**/login/code*")
    code = texted_code(app, "+447400123456")  # texted after the response
    [text] = [m for m in read_outbox(app) if m["channel"] == "sms"]
    with app.app_context():
        from app.auth.sms_codes import _TEXTS, LOGIN
        with speaking("fr"):
            french = str(_TEXTS[LOGIN]).split("%(code)s", 1)[1].split("%(brand)s")[0]
    assert french.strip() and french in text["body"], text["body"]
    assert text["body"].startswith(code) and text["body"].endswith(f" #{code}")  # WebOTP
    # The email to the same customer, from the same English page: French too.
    page.goto(f"{live_server}/recover")
    page.locator("main form input:not([type=hidden])").first.fill("ada@example.com")
    page.keyboard.press("Enter")
    page.wait_for_url("**/recover/code*")
    texted_code(app, "ada@example.com")  # emailed after the response
    [email] = [m for m in read_outbox(app) if m["channel"] == "email"]
    with app.app_context():
        from app.auth.email_recovery import RESET_SUBJECT
        with speaking("fr"):
            subject = str(RESET_SUBJECT) % {"brand": "Tessera"}
    assert email["subject"] == subject and "<html lang=\"fr\">" in email["html"]


def test_an_override_template_wins_and_the_switcher_changes_the_language(
        make_app, serve, browser, tmp_path):
    folder = tmp_path / "brand"
    (folder / "templates" / "web").mkdir(parents=True)
    (folder / "static").mkdir(parents=True)
    (folder / "templates" / "web" / "login.html").write_text(
        '{% extends "tessera/web/login.html" %}{% block content %}'
        '<p class="notice" id="acme-welcome">Acme Bank</p>{{ super() }}{% endblock %}')
    (folder / "static" / "acme.svg").write_text(ACME_LOGO)
    base = serve(make_app(BRAND_NAME="Acme Bank", BRAND_LOGO="acme.svg",
                          BRAND_COLOR_PRIMARY="#5b2a86",
                          BRAND_PRIVACY_URL="https://acme.example/privacy",
                          BRAND_TERMS_URL="https://acme.example/terms"))
    context = open_context(browser, locale="fr-FR", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{base}/login")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#acme-welcome")).to_be_visible()
    expect(page.locator("header .brand-name")).to_have_text("Acme Bank")
    assert page.evaluate("document.querySelector('header img.brand-logo').naturalWidth") > 0
    assert page.evaluate("getComputedStyle(document.querySelector('header.site'))"
                         ".backgroundColor") == "rgb(91, 42, 134)"
    page.screenshot(path=screenshots(tmp_path) / "login-fr-brand.png")
    # The switcher, by keyboard-free plain form use: Deutsch, and back on the same page.
    page.select_option("#language-choice", "de")
    page.locator("footer form.language [type=submit]").click()
    page.wait_for_url(f"{base}/login")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#acme-welcome")).to_be_visible()
    context.close()
