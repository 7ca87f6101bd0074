"""SMS one-time codes (app/auth/sms_codes.py): the life of a code, the limits on sending,
and what a customer sees and what is recorded when Twilio fails, through the real twilio
SDK talking to the fake Twilio API on 127.0.0.1."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.auth import sms_codes
from app.auth.code_sender import send_code
from app.auth.sms_codes import SMS, SmsCodeError, check_code
from app.extensions import db
from app.models import AuditEvent, VerificationCode, utcnow
from app.platform.audit import Origin
from app.providers import twilio_sms
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import last_code, read_outbox

PHONE = "+447400123456"
ACCOUNT_SID = "AC" + "0" * 32
VERIFY_SID = "VA" + "2" * 32


@pytest.fixture
def twilio(make_app, fake_twilio, monkeypatch):
    """An app whose SMS go through the twilio SDK to the fake (no wait before the retry
    of a 5xx: the backoff is a constant, not logic under test)."""
    monkeypatch.setattr(twilio_sms, "RETRY_BACKOFF_SECONDS", 0)

    def build(provider="twilio"):
        return make_app(SMS_PROVIDER=provider, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                        TWILIO_AUTH_TOKEN="test-auth-token-0123456789abcdef",
                        TWILIO_FROM_NUMBER="+15005550006", TWILIO_VERIFY_SERVICE_SID=VERIFY_SID,
                        TWILIO_BASE_URL=fake_twilio.url)
    return build


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def send(customer, phone=PHONE, origin=TEST_ORIGIN):
    return send_code(SMS, phone, sms_codes.LOGIN, origin, customer=customer)


def check(sent, code, customer=None):
    return check_code(sent.verification_id, code, TEST_ORIGIN, purpose=sms_codes.LOGIN,
                      customer=customer)


# ---- the life of a code -------------------------------------------------------------------

def test_a_code_is_six_digits_hashed_and_accepted_once(app):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        sent = send(customer)
        code = last_code(app, PHONE)
        row = db.session.get(VerificationCode, sent.verification_id)
        assert re.fullmatch(r"\d{6}", code) and code not in row.code_hash
        assert row.sent_at is not None
        assert (row.expires_at - row.created_at) == timedelta(seconds=300)
        assert check(sent, code).customer_pk == customer.id
        with pytest.raises(SmsCodeError, match="expired"):
            check(sent, code)


def test_a_code_expires(app):
    with app.app_context():
        sent = send(make_customer(phone=PHONE))
        code = last_code(app, PHONE)
        with time_machine.travel(utcnow() + timedelta(seconds=301), tick=False):
            with pytest.raises(SmsCodeError, match="expired"):
                check(sent, code)


def test_five_wrong_tries_kill_the_code(app):
    with app.app_context():
        sent = send(make_customer(phone=PHONE))
        code = last_code(app, PHONE)
        wrong = "000000" if code != "000000" else "111111"
        messages = []
        for _ in range(5):
            with pytest.raises(SmsCodeError) as refused:
                check(sent, wrong)
            messages.append(refused.value.message)
        assert messages[0].endswith("4 tries left.") and messages[3].endswith("1 try left.")
        assert "cannot be tried again" in messages[4]
        with pytest.raises(SmsCodeError):
            check(sent, code)  # the right code, too late


@pytest.mark.parametrize("text", ["12345", "1234567", "abcdef", "١٢٣٤٥٦", "1" * 500, ""])
def test_malformed_codes_are_refused_without_counting(app, text):
    with app.app_context():
        sent = send(make_customer(phone=PHONE))
        with pytest.raises(SmsCodeError, match="6-digit"):
            check(sent, text)
        assert db.session.get(VerificationCode, sent.verification_id).attempts == 0


def test_a_code_for_another_customer_or_purpose_proves_nothing(app):
    with app.app_context():
        ada = make_customer(phone=PHONE)
        bob = make_customer(email="bob@example.com", phone="+447911123456")
        sent = send_code(SMS, PHONE, sms_codes.SECOND_FACTOR, TEST_ORIGIN, customer=ada)
        code = last_code(app, PHONE)
        with pytest.raises(SmsCodeError):
            check_code(sent.verification_id, code, TEST_ORIGIN,
                       purpose=sms_codes.SECOND_FACTOR, customer=bob)
        with pytest.raises(SmsCodeError):
            check_code(sent.verification_id, code, TEST_ORIGIN, purpose=sms_codes.LOGIN)
        assert db.session.get(VerificationCode, sent.verification_id).attempts == 0
        assert check_code(sent.verification_id, code, TEST_ORIGIN,
                          purpose=sms_codes.SECOND_FACTOR, customer=ada)


def test_ten_concurrent_submissions_of_one_code_exactly_one_wins(app):
    with app.app_context():
        sent = send(make_customer(phone=PHONE))
        code = last_code(app, PHONE)
    results, barrier = [], threading.Barrier(10, timeout=30)

    def submit():
        with app.app_context():
            try:
                barrier.wait()
                results.append(check(sent, code).id)
            except SmsCodeError:
                results.append(None)
            except Exception as error:  # surfaced by the assertion below
                results.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r for r in results if isinstance(r, Exception)] == []
    assert results.count(sent.verification_id) == 1 and results.count(None) == 9


# ---- sending limits -----------------------------------------------------------------------

def test_per_number_limits_through_send_code(app):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        send(customer)
        with pytest.raises(SmsCodeError, match="Wait a moment") as refused:
            send(customer)
        assert refused.value.retry_at is not None
        moment = utcnow()
        for minutes in range(1, 5):
            with time_machine.travel(moment + timedelta(minutes=minutes), tick=False):
                send(customer)
        with time_machine.travel(moment + timedelta(minutes=6), tick=False):
            with pytest.raises(SmsCodeError, match="Too many codes"):
                send(customer)
        assert len(read_outbox(app)) == 5
        assert [e.details["limit"] for e in events("sms.limited")] == \
            ["sms_number_gap", "sms_number_hour"]


def test_per_ip_limit_through_send_code(make_app):
    app = make_app(SMS_SENDS_PER_IP_PER_HOUR=3)
    origin = Origin(actor="customer", ip="198.51.100.7")
    with app.app_context():
        for n in range(3):
            send_code(SMS, f"+4474001234{n:02d}", sms_codes.LOGIN, origin, customer=None,
                      deliver=False)
        with pytest.raises(SmsCodeError, match="from here"):
            send_code(SMS, "+447400123499", sms_codes.LOGIN, origin, customer=None,
                      deliver=False)
        # Another IP is not held back.
        send_code(SMS, "+447400123499", sms_codes.LOGIN, Origin(ip="203.0.113.5"),
                  customer=None, deliver=False)


def test_unfit_numbers_are_refused_before_anything(app):
    with app.app_context():
        for number, words in (("+442071838750", "landline"), ("+449090123456", "premium"),
                              ("+448001234567", "free")):
            with pytest.raises(SmsCodeError, match=words):
                send_code(SMS, number, sms_codes.LOGIN, TEST_ORIGIN, customer=None)
        assert db.session.scalars(select(VerificationCode)).all() == []
    assert read_outbox(app) == []


# ---- Twilio, through its SDK, against the fake --------------------------------------------

def test_a_code_sent_through_twilio(twilio, fake_twilio):
    app = twilio()
    with app.app_context():
        customer = make_customer(phone=PHONE)
        sent = send(customer)
        [request] = fake_twilio.requests
        assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        assert request.form["To"] == PHONE
        code = re.search(r"\b(\d{6})\b", request.form["Body"]).group(1)
        assert check(sent, code).customer_pk == customer.id
        assert [e.details["verification_id"] for e in events("sms.sent")] == \
            [sent.verification_id]


@pytest.mark.parametrize("status, code, words", [
    (400, 21211, "cannot send a text message to this number"),
    (400, 21614, "cannot send a text message to this number"),
    (429, 20429, ""),
    (401, 20003, ""),
    (503, None, ""),
])
def test_twilio_failures_are_shown_audited_and_never_counted_as_sent(
        twilio, fake_twilio, status, code, words):
    app = twilio()
    fake_twilio.error(status, code)
    if status >= 500:
        fake_twilio.error(status, code)  # the retry fails too
    with app.app_context():
        customer = make_customer(phone=PHONE)
        with pytest.raises(SmsCodeError) as refused:
            send(customer)
        assert refused.value.message and "Twilio" not in refused.value.message
        assert words.lower() in refused.value.message.lower()
        [failed] = events("sms.failed")
        assert failed.details["status"] == status and failed.customer_id == customer.customer_id
        row = db.session.scalars(select(VerificationCode)).one()
        assert row.sent_at is None and row.expires_at <= utcnow()
        assert events("sms.sent") == []
        # The failed send did not use up the 30 s gap: the customer may try again at once.
        send(customer)
    assert len(fake_twilio.requests) == (3 if status >= 500 else 2)


def test_a_5xx_is_retried_once_and_then_succeeds(twilio, fake_twilio):
    app = twilio()
    fake_twilio.error(500)
    with app.app_context():
        sent = send(make_customer(phone=PHONE))
        assert db.session.get(VerificationCode, sent.verification_id).sent_at is not None
    assert len(fake_twilio.requests) == 2


def test_twilio_verify_holds_the_code(twilio, fake_twilio):
    app = twilio("twilio-verify")
    with app.app_context():
        customer = make_customer(phone=PHONE)
        sent = send(customer)
        row = db.session.get(VerificationCode, sent.verification_id)
        assert row.provider_ref.startswith("VE")
        start = fake_twilio.requests[0]
        assert start.path == f"/v2/Services/{VERIFY_SID}/Verifications"
        assert start.form == {"To": PHONE, "Channel": "sms"}
        fake_twilio.reply(200, {"sid": row.provider_ref, "status": "pending"})
        with pytest.raises(SmsCodeError, match="not right"):
            check(sent, "111111")
        assert check(sent, "222222").customer_pk == customer.id  # the fake approves
        checks = [r for r in fake_twilio.requests if r.path.endswith("/VerificationCheck")]
        assert [r.form["Code"] for r in checks] == ["111111", "222222"]


@pytest.mark.parametrize("code", [60202, 20404])
def test_twilio_verify_max_attempts_or_gone_kills_the_code(twilio, fake_twilio, code):
    app = twilio("twilio-verify")
    with app.app_context():
        sent = send(make_customer(phone=PHONE))
        fake_twilio.error(429 if code == 60202 else 404, code)
        with pytest.raises(SmsCodeError, match="expired or was tried too often"):
            check(sent, "123456")
        with pytest.raises(SmsCodeError, match="expired"):
            check(sent, "123456")
        assert [e.details["reason"] for e in events("sms.failed")] == \
            ["max_attempts" if code == 60202 else "expired"]
