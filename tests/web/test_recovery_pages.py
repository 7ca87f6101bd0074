"""The "Forgot your password?" pages (/recover...: app/web/login_views.py over
app/auth/recovery.py) through the Flask test client, and one walk in the browser: reset by
email or by text, bad input, and pages that read the same for unknown addresses and
numbers while telling the customer what to do when no code can come (issue 14, items 1
and 2). What happened is read from the database and the outbox, not only the page."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.auth import recovery
from app.auth.flow import mask_phone
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import LoginFlow, PasswordCredential, VerificationCode, utcnow
from app.phones import bindings
from tests.factories import STRONG_PASSWORD, make_customer, make_totp
from tests.helpers import csrf_token, last_code, read_outbox
from tests.web.browser import url_ending

EMAIL = "ada@example.com"
PHONE = "+447400123456"
UNKNOWN_PHONE = "+447911123456"
NEW_PASSWORD = "a-brand-new-passphrase-42"


def post(client, path: str, data: dict, page_path: str | None = None):
    """Post a page's form, buffered: reading and closing the response runs the work the
    page leaves until after it (the code is in the outbox once this returns)."""
    page = client.get(page_path or path)
    return client.post(path, data={"csrf_token": csrf_token(page.text)} | data,
                       buffered=True)


def with_totp(customer) -> str:
    secret, _codes = make_totp(customer)
    db.session.commit()
    return secret


def main_text(html: str, hint: str) -> str:
    """The page's <main> with the masked destination and the CSRF token taken out."""
    match = re.search(r"<main.*?</main>", html, re.DOTALL)
    assert match, html
    return re.sub(r'value="[^"]*"', "", match.group(0)).replace(hint, "HINT")


def password_hash(app) -> str | None:
    with app.app_context():
        return db.session.scalar(select(PasswordCredential.password_hash))


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(VerificationCode)),
                db.session.scalar(select(func.count()).select_from(LoginFlow)))


def test_resetting_a_password_by_email_through_the_pages(app):
    with app.app_context():
        make_customer(email=EMAIL)
    client = app.test_client()
    assert "Email address or phone number" in client.get("/recover").text
    sent = post(client, "/recover", {"identifier": "Ada@Example.com"})
    assert sent.status_code == 303 and sent.location.endswith("/recover/code")
    page = client.get("/recover/code")
    assert "A•••@example.com" in page.text and "verified email address" in page.text
    assert "No email?" in page.text and EMAIL not in page.text
    proved = client.post("/recover/code", data={"csrf_token": csrf_token(page.text),
                                                "code": last_code(app, "Ada@example.com")})
    assert proved.status_code == 303 and proved.location.endswith("/recover/password")
    page = client.get("/recover/password")
    changed = client.post("/recover/password", data={"csrf_token": csrf_token(page.text),
                                                     "password": NEW_PASSWORD})
    assert changed.status_code == 303 and urlsplit(changed.location).path == "/login"
    done = post(client, "/login", {"identifier": EMAIL, "password": NEW_PASSWORD})
    assert done.status_code == 303 and urlsplit(done.location).path == "/account"


def test_the_code_page_reads_the_same_for_an_unknown_address(app):
    with app.app_context():
        make_customer(email=EMAIL)
    pages = {}
    for address, hint in ((EMAIL, "a•••@example.com"), ("nobody@example.com", "n•••@example.com")):
        client = app.test_client()
        assert post(client, "/recover", {"identifier": address}).status_code == 303
        pages[address] = main_text(client.get("/recover/code").text, hint)
    assert pages[EMAIL] == pages["nobody@example.com"]
    assert [m["to"] for m in read_outbox(app)] == [EMAIL]


def test_a_customer_with_an_authenticator_app_needs_it_after_a_texted_code(app):
    """With the offline lookup nobody can say whether the SIM changed, so recovery by SMS
    asks for the authenticator app too."""
    with app.app_context():
        secret = with_totp(make_customer(phone=PHONE))
    client = app.test_client()
    assert "Forgot your password?" in client.get("/login").text
    sent = post(client, "/recover", {"identifier": "+44 7400 123456"})
    assert sent.status_code == 303 and sent.location.endswith("/recover/code")
    page = client.get("/recover/code")
    proved = client.post("/recover/code", data={"csrf_token": csrf_token(page.text),
                                                "code": last_code(app, PHONE)})
    assert proved.location.endswith("/recover/second-factor")
    assert client.get("/recover/password").status_code == 303  # not before the app
    page = client.get("/recover/second-factor")
    done = client.post("/recover/second-factor?method=totp", data={
        "csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).now()})
    assert done.location.endswith("/recover/password")
    page = client.get("/recover/password")
    changed = client.post("/recover/password", data={"csrf_token": csrf_token(page.text),
                                                     "password": NEW_PASSWORD})
    assert changed.status_code == 303 and urlsplit(changed.location).path == "/login"
    first = post(client, "/login", {"identifier": EMAIL, "password": NEW_PASSWORD})
    assert first.location.endswith("/login/second-factor")


# ---- bad input: a form error next to the field, and nothing changes ------------------------

@pytest.mark.parametrize("typed, message", [
    ("", "Enter the email address or phone number on your account."),
    ("a" * 321, "too long"),
    ("ada@", "domain after the @"),
    ("12", "phone"),
    ("+442071838750", "text"),  # a landline: no texts
])
def test_bad_input_on_the_recover_page(app, typed, message):
    with app.app_context():
        make_customer(email=EMAIL, phone=PHONE)
    client = app.test_client()
    before = counts(app)
    answer = post(client, "/recover", {"identifier": typed})
    assert answer.status_code == 400
    error = re.search(r'<p class="error" id="identifier-error">(.*?)</p>', answer.text, re.DOTALL)
    assert error and message.lower() in error.group(1).lower(), answer.text
    assert counts(app) == before and read_outbox(app) == []


@pytest.mark.parametrize("step, data, field", [
    ("code", {"code": ""}, "code"),
    ("code", {"code": "12ab"}, "code"),
    ("code", {"code": "WRONG"}, "code"),
    ("password", {"password": ""}, "password"),
    ("password", {"password": "password"}, "password"),
    ("password", {"password": "x" * 5000}, "password"),
])
def test_bad_input_after_the_email(app, step, data, field):
    with app.app_context():
        make_customer(email=EMAIL)
    client = app.test_client()
    post(client, "/recover", {"identifier": EMAIL})
    code = last_code(app, EMAIL)
    if step == "password":
        post(client, "/recover/code", {"code": code})
    elif data["code"] == "WRONG":
        data = {"code": "000000" if code != "000000" else "111111"}
    before = password_hash(app)
    answer = post(client, f"/recover/{step}", data)
    assert answer.status_code == 400
    assert f'id="{field}-error"' in answer.text
    assert password_hash(app) == before
    # The customer can carry on from here: the right code still works.
    if step == "code":
        proved = post(client, "/recover/code", {"code": code})
        assert proved.location.endswith("/recover/password")


# ---- item 2: told before any code, and no telling who has an account -----------------------

def test_a_held_number_is_told_what_to_do_and_reads_like_an_unknown_one(app):
    """Ada's number is on an SMS hold (a SIM swap): she gets no code, and the page where
    she typed her number, and the one after it, say what to do instead, exactly as they
    do for a number nobody has. Her customer ID is never on them; her email is told."""
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE)
        bindings.hold_sms(bindings.binding_of(customer, PHONE),
                          utcnow() + timedelta(days=2), "SIM swap")
        db.session.commit()
        customer_id = customer.customer_id
    first = app.test_client().get("/recover").text
    assert "SIM card changed recently" in first and "contact support" in first
    pages = {}
    for phone in (PHONE, UNKNOWN_PHONE):
        client = app.test_client()
        answer = post(client, "/recover", {"identifier": phone})
        assert answer.status_code == 303 and answer.location.endswith("/recover/code")
        pages[phone] = main_text(client.get("/recover/code").text, mask_phone(phone))
    assert pages[PHONE] == pages[UNKNOWN_PHONE]
    assert str(recovery.NO_TEXT_NEXT_STEPS) in pages[PHONE].replace("&#39;", "'")
    assert "Reset with an email address instead" in pages[PHONE]
    assert customer_id not in pages[PHONE] and format_for_people(customer_id) not in pages[PHONE]
    outbox = read_outbox(app)
    assert [m for m in outbox if m["channel"] == "sms"] == []
    [notice] = outbox
    assert notice["to"] == EMAIL and "did not text" in notice["subject"]


# ---- the browser ---------------------------------------------------------------------------

def test_reset_by_email_in_the_browser(app, live_server, page: Page):
    with app.app_context():
        make_customer(email=EMAIL, password=STRONG_PASSWORD)
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address or phone number").fill(EMAIL)
    page.get_by_role("button", name="Send me a code").click()
    page.wait_for_url(url_ending("/recover/code"))
    expect(page.get_by_text("a•••@example.com")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(last_code(app, EMAIL))
    page.get_by_label("Code", exact=True).press("Enter")
    page.wait_for_url(url_ending("/recover/password"))
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("New password").press("Enter")
    page.wait_for_url(url_ending("/login"))
    expect(page.get_by_text("Your password was changed")).to_be_visible()
    page.get_by_label("Email, phone number or username").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url_ending("/account"))
    notices = [m["subject"] for m in read_outbox(app) if m["to"] == EMAIL]
    assert notices[-1] == "Your password was changed"
