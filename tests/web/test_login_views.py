"""The login pages (app/web/login_views.py) through the Flask test client: passwordless
SMS login, the second-factor page, re-authentication, and bad input. What happened is read
from the database and the console outbox, not only from the page."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
import time_machine
from sqlalchemy import func, select

from app.auth import recovery_codes
from app.extensions import db
from app.models import AuditEvent, Customer, LoginSession, VerificationCode, utcnow
from tests.factories import STRONG_PASSWORD, make_customer, make_totp
from tests.helpers import csrf_token, last_code, read_outbox

PHONE = "+447400123456"
UNKNOWN_PHONE = "+447911123456"
LANDLINE = "+442071838750"
PREMIUM = "+449090123456"


def post(client, path: str, data: dict, page_path: str | None = None):
    """Post a page's form. Buffered: the response is read and closed, as a WSGI server
    does, which runs the work an SMS login or recovery leaves until after the response
    (the code is in the outbox once this returns)."""
    page = client.get(page_path or path)
    return client.post(path, data={"csrf_token": csrf_token(page.text)} | data,
                       buffered=True)


def sessions(app) -> list[LoginSession]:
    with app.app_context():
        return list(db.session.scalars(select(LoginSession)))


def codes(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(VerificationCode))


def page_sentence(html: str) -> str:
    """The sentence that tells where the code went, with the masked number taken out."""
    match = re.search(r"<p>If <strong>[^<]*</strong>(.*?)</p>", html, re.S)
    assert match, html
    return match.group(1)


def test_passwordless_login_by_sms(app):
    with app.app_context():
        make_customer(phone=PHONE)
    client = app.test_client()
    sent = post(client, "/login/sms", {"phone": "+44 7400 123456"})
    assert sent.status_code == 303 and sent.location.endswith("/login/code")
    page = client.get("/login/code")
    assert "+44" in page.text and "56" in page.text and PHONE not in page.text
    done = client.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                            "code": last_code(app, PHONE)})
    assert done.status_code == 303 and urlsplit(done.location).path == "/account"
    [login] = sessions(app)
    assert login.amr == ["sms"]
    assert client.get("/account").status_code == 200


def test_the_code_page_reads_the_same_for_an_unknown_number(app):
    with app.app_context():
        make_customer(phone=PHONE)
    known, unknown = app.test_client(), app.test_client()
    post(known, "/login/sms", {"phone": PHONE})
    answer = post(unknown, "/login/sms", {"phone": UNKNOWN_PHONE})
    assert answer.status_code == 303 and answer.location.endswith("/login/code")
    assert page_sentence(known.get("/login/code").text) == \
        page_sentence(unknown.get("/login/code").text)
    assert [m["to"] for m in read_outbox(app)] == [PHONE]
    # Guessing at the unknown number's page never logs anyone in.
    page = unknown.get("/login/code")
    wrong = unknown.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                              "code": "123456"})
    assert wrong.status_code == 400 and sessions(app) == []


@pytest.mark.parametrize("phone, message", [
    (LANDLINE, "landline"),
    (PREMIUM, "premium"),
    ("not a number", "phone number"),
    ("+", "phone number"),
    ("+44 7400 123456" + "9" * 60, "too long"),
    ("+1 555 01\x00", "phone number"),
])
def test_unfit_or_malformed_numbers_are_refused_before_any_send(app, phone, message):
    client = app.test_client()
    response = post(client, "/login/sms", {"phone": phone})
    assert response.status_code == 400
    assert message in response.text.lower()
    assert read_outbox(app) == [] and codes(app) == 0


def test_a_second_code_within_the_gap_is_refused(app):
    with app.app_context():
        make_customer(phone=PHONE)
    client = app.test_client()
    assert post(client, "/login/sms", {"phone": PHONE}).status_code == 303
    again = post(client, "/login/sms", {"phone": PHONE})
    assert again.status_code == 400 and "Wait a moment" in again.text
    assert len(read_outbox(app)) == 1


def test_non_digit_and_overlong_codes_change_nothing(app):
    with app.app_context():
        make_customer(phone=PHONE)
    client = app.test_client()
    post(client, "/login/sms", {"phone": PHONE})
    for code in ("abcdef", "12345", "1" * 40):
        page = client.get("/login/code")
        response = client.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                                    "code": code})
        assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(VerificationCode.attempts)) == 0
    # The right code still works.
    page = client.get("/login/code")
    done = client.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                            "code": last_code(app, PHONE)})
    assert done.status_code == 303


def test_a_resend_does_not_reset_the_numbers_failure_count(app):
    with app.app_context():
        make_customer(phone=PHONE)
    client = app.test_client()
    post(client, "/login/sms", {"phone": PHONE})

    def guess(code="000000"):
        page = client.get("/login/code")
        return client.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                                "code": code})

    for _ in range(3):
        assert "not right" in guess().text
    with time_machine.travel(utcnow() + timedelta(seconds=31), tick=False):
        page = client.get("/login/code")
        resent = client.post("/login/code/resend",
                             data={"csrf_token": csrf_token(page.text)}, buffered=True)
        assert resent.status_code == 303
        assert len(read_outbox(app)) == 2
        for _ in range(2):
            assert "not right" in guess().text
        # Five failures on this number: even the new, right code must wait.
        refused = guess(last_code(app, PHONE))
        assert refused.status_code == 400 and "Wait a little" in refused.text
    assert sessions(app) == []


def password_then_second_factor(app, *, phone: str | None = PHONE):
    """A customer with an authenticator app (and `phone`) who has just given the right
    password: a test client on the second-factor step, and the app's secret."""
    with app.app_context():
        customer = make_customer(phone=phone)
        secret, _codes = make_totp(customer)
        db.session.commit()
    client = app.test_client()
    first = post(client, "/login", {"identifier": "ada@example.com",
                                    "password": STRONG_PASSWORD})
    assert first.status_code == 303 and first.location.endswith("/login/second-factor")
    return client, secret


def test_a_totp_customer_gets_the_second_factor_page(app):
    client, secret = password_then_second_factor(app, phone=None)
    assert sessions(app) == []
    assert client.get("/account").status_code == 303  # not logged in yet
    page = client.get("/login/second-factor")
    assert "authenticator app" in page.text and "Use a recovery code" in page.text
    wrong = client.post("/login/second-factor/totp",
                        data={"csrf_token": csrf_token(page.text), "code": "12ab56"})
    assert wrong.status_code == 400
    done = client.post("/login/second-factor/totp",
                       data={"csrf_token": csrf_token(page.text),
                             "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 303 and urlsplit(done.location).path == "/account"
    [login] = sessions(app)
    assert login.amr == ["pwd", "otp", "mfa"]
    recovery = client.get("/login/second-factor?method=recovery")
    assert recovery.status_code == 303  # the flow is finished: back to the start


SECOND_FORM_RE = re.compile(r'<form method="post" action="/login/second-factor/(\w+)"')
OTHER_METHOD_RE = re.compile(r'href="/login/second-factor\?method=(\w+)"')


@pytest.mark.parametrize("query, shown, others", [
    ("", "totp", ["sms", "recovery"]),
    ("?method=recovery", "recovery", ["totp", "sms"]),
    ("?method=sms", "sms", ["totp", "recovery"]),
    ("?method=pwd", "totp", ["sms", "recovery"]),  # proved already: not offered
    ("?method=nonsense", "totp", ["sms", "recovery"]),
])
def test_the_second_factor_page_shows_one_method_and_links_the_others(app, query, shown,
                                                                       others):
    client, _ = password_then_second_factor(app)
    page = client.get("/login/second-factor" + query)
    assert page.status_code == 200
    assert SECOND_FORM_RE.findall(page.text) == [shown]
    # One button in the page's own form (the footer's language switcher has its own).
    assert page.text.split("<main>")[1].split("</main>")[0].count('type="submit"') == 1
    assert OTHER_METHOD_RE.findall(page.text) == others
    assert "Use another method" in page.text


@pytest.mark.parametrize("method, data, message", [
    ("totp", {"code": ""}, "Enter the code."),
    ("totp", {"code": "9" * 40}, "too long"),
    ("totp", {"code": "12ab56"}, "not right"),
    ("recovery", {"code": ""}, "Enter one of your recovery codes."),
    ("recovery", {"code": "x" * 70}, "too long"),
    ("recovery", {"code": "zzzzz-zzzzz"}, "not right"),
])
def test_a_wrong_second_factor_shows_the_error_at_the_field_and_changes_nothing(
        app, method, data, message):
    client, _ = password_then_second_factor(app)
    page = client.get(f"/login/second-factor?method={method}")
    response = client.post(f"/login/second-factor/{method}",
                           data={"csrf_token": csrf_token(page.text)} | data)
    assert response.status_code == 400
    # The same method again, its field marked invalid, focused, with the error beside it.
    assert SECOND_FORM_RE.findall(response.text) == [method]
    field = re.search(r'<input[^>]*id="code"[^>]*>', response.text).group(0)
    assert 'aria-invalid="true"' in field and "autofocus" in field
    error = re.search(r'<p class="error" id="code-error">(.*?)</p>', response.text).group(1)
    assert message in error
    assert sessions(app) == []
    assert client.get("/account").status_code == 303
    with app.app_context():
        assert recovery_codes.remaining(db.session.scalars(select(Customer)).one()) == 10


def test_second_factor_pages_without_a_flow_send_you_to_the_start(app):
    client = app.test_client()
    page = client.get("/login")
    for path in ("/login/code", "/login/second-factor"):
        response = client.get(path)
        assert response.status_code == 303 and urlsplit(response.location).path == "/login"
    response = client.post("/login/second-factor/totp",
                           data={"csrf_token": csrf_token(page.text), "code": "123456"})
    assert response.status_code == 303
    assert sessions(app) == []


def test_reauthentication_keeps_the_customer_and_replaces_the_session(app):
    with app.app_context():
        make_customer()
        make_customer(email="bob@example.com", given_name="Bob")
    client = app.test_client()
    post(client, "/login", {"identifier": "ada@example.com", "password": STRONG_PASSWORD})
    page = client.get("/login?reauth=1&next=/account")
    assert "Confirm it" in page.text
    other = client.post("/login?reauth=1&next=/account", data={
        "csrf_token": csrf_token(page.text), "identifier": "bob@example.com",
        "password": STRONG_PASSWORD})
    assert other.status_code == 401
    same = client.post("/login?reauth=1&next=/account", data={
        "csrf_token": csrf_token(page.text), "identifier": "ada@example.com",
        "password": STRONG_PASSWORD})
    assert same.status_code == 303 and same.location.endswith("/account")
    live = [s for s in sessions(app) if s.ended_at is None]
    assert len(live) == 1 and len(sessions(app)) == 2
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "login.failed")).all()
        assert [e.details.get("reason") for e in failed] == ["another_customer"]


def test_acr_2fa_on_the_login_page_asks_for_a_second_factor(app):
    with app.app_context():
        make_customer(phone=PHONE)
    client = app.test_client()
    first = post(client, "/login?acr=2fa", {"identifier": "ada@example.com",
                                            "password": STRONG_PASSWORD}, "/login?acr=2fa")
    assert first.location.endswith("/login/second-factor")
    page = client.get("/login/second-factor")
    assert "Text a code to" in page.text
    sent = client.post("/login/second-factor/sms", data={"csrf_token": csrf_token(page.text)})
    assert sent.location.endswith("/login/code")
    page = client.get("/login/code")
    done = client.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                            "code": last_code(app, PHONE)})
    assert done.status_code == 303
    [login] = sessions(app)
    assert login.amr == ["pwd", "sms", "mfa"]


def test_an_sms_only_session_cannot_change_a_factor_without_a_second_one(app):
    """SMS alone never changes a phone, email, password or authenticator app."""
    with app.app_context():
        make_customer(phone=PHONE)
    client = app.test_client()
    post(client, "/login/sms", {"phone": PHONE})
    page = client.get("/login/code")
    client.post("/login/code", data={"csrf_token": csrf_token(page.text),
                                     "code": last_code(app, PHONE)})
    assert client.get("/account").status_code == 200
    for path in ("/account/phones/add", "/account/emails/add", "/account/security/totp"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert "reauth=mfa" in response.location
