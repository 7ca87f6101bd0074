"""Email verification codes (app/auth/email_codes.py): sent to the console outbox, stored as
keyed hashes, bound to a customer, limited per address, a few wrong tries per code, and
single use even under concurrent submissions. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app.auth import email_codes
from app.auth.email_codes import EmailCodeError, check_email_code, send_email_code
from app.extensions import db
from app.models import AuditEvent, Customer, VerificationCode, utcnow
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import last_code, read_outbox

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
ADDRESS = "new.address@example.org"


def row(verification_id: int) -> VerificationCode:
    db.session.expire_all()
    return db.session.get(VerificationCode, verification_id)


def event_count(name: str, customer=None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.event == name)
    if customer is not None:
        query = query.where(AuditEvent.customer_id == customer.customer_id)
    return db.session.scalar(query)


def rows_count() -> int:
    return db.session.scalar(select(func.count()).select_from(VerificationCode))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# ---- sending -----------------------------------------------------------------------------

def test_a_code_is_emailed_and_only_its_keyed_hash_is_kept(app, app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        verification_id = send_email_code(" New.Address@EXAMPLE.org ", TEST_ORIGIN,
                                          customer=customer)
    message = read_outbox(app)[-1]
    assert message["channel"] == "email"
    assert message["to"] == "New.Address@example.org"  # local part kept, domain lowered
    assert message["subject"] == "Your Tessera confirmation code"
    code = last_code(app, "New.Address@example.org")
    assert "expires in 10 minutes" in message["body"]
    stored = row(verification_id)
    assert stored.purpose == email_codes.PURPOSE and stored.kind == "email"
    assert stored.match_key == "new.address@example.org"
    assert stored.customer_pk == customer.id
    assert code not in stored.code_hash and re.fullmatch(r"[0-9a-f]{64}", stored.code_hash)
    assert stored.expires_at.replace(tzinfo=UTC) == START + timedelta(seconds=600)
    assert stored.sent_at is not None
    assert event_count("email.sent", customer) == 1


@pytest.mark.parametrize("text", ["not-an-address", "a@b", "x" * 400 + "@example.com", ""])
def test_a_malformed_address_is_refused_before_anything_is_written(app, app_context, text):
    customer = make_customer()
    with pytest.raises(EmailCodeError) as raised:
        send_email_code(text, TEST_ORIGIN, customer=customer)
    assert raised.value.message
    assert rows_count() == 0
    assert [m for m in read_outbox(app) if m["channel"] == "email"] == []


def test_deliver_false_writes_the_row_and_counts_but_sends_nothing(app, app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer,
                                          deliver=False)
        assert read_outbox(app) == []
        assert row(verification_id).sent_at is None
        with pytest.raises(EmailCodeError, match="Wait a moment"):
            send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    assert read_outbox(app) == []


def test_an_owner_notice_goes_instead_of_a_code_and_reads_the_same_in_the_audit(
        app, app_context):
    customer = make_customer()
    verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer,
                                      owner_notice=True)
    message = read_outbox(app)[-1]
    assert message["to"] == ADDRESS and message["subject"] == str(email_codes.NOTICE_SUBJECT)
    assert not re.search(r"\b\d{6}\b", message["body"])
    assert event_count("email.sent", customer) == 1
    # The row exists, bound to the asker, but no code anyone knows matches it.
    with pytest.raises(EmailCodeError, match="not right. 4 tries left"):
        check_email_code(verification_id, "123456", TEST_ORIGIN, customer=customer)


def test_one_send_per_30_seconds_and_five_per_hour_to_an_address(app, app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False) as clock:
        send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
        with pytest.raises(EmailCodeError, match="Wait a moment") as raised:
            # Another spelling of the same mailbox is the same address to the limits.
            send_email_code(ADDRESS.upper(), TEST_ORIGIN, customer=customer)
        assert raised.value.retry_at.replace(tzinfo=UTC) == START + timedelta(seconds=30)
        for _ in range(4):
            clock.shift(31)
            send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
        clock.shift(31)
        with pytest.raises(EmailCodeError, match="Too many codes") as raised:
            send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
        assert raised.value.retry_at.replace(tzinfo=UTC) == START + timedelta(hours=1)
        # Another address is not held back by this one.
        send_email_code("other@example.org", TEST_ORIGIN, customer=customer)
    assert len([m for m in read_outbox(app) if m["to"] == ADDRESS]) == 5
    assert rows_count() == 6
    assert event_count("email.limited", customer) == 2
    with time_machine.travel(START + timedelta(hours=1, seconds=1), tick=False):
        send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    assert len([m for m in read_outbox(app) if m["to"] == ADDRESS]) == 6


def test_a_provider_failure_expires_the_code_is_audited_and_does_not_count(
        make_app, tmp_path):
    app = make_app(OUTBOX_PATH=str(tmp_path / "missing-directory" / "outbox.jsonl"))
    with app.app_context():
        customer = make_customer()
        with time_machine.travel(START, tick=False):
            with pytest.raises(EmailCodeError) as raised:
                send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
            assert raised.value.message == ("Messages cannot be sent right now. "
                                            "Try again in a few minutes.")
            failed = db.session.scalars(select(VerificationCode)).one()
            assert failed.expires_at.replace(tzinfo=UTC) == START
            assert failed.sent_at is None
            assert event_count("email.failed", customer) == 1
            assert event_count("email.sent") == 0
            # The failed send was released: a retry is not "just sent" (the gap).
            with pytest.raises(EmailCodeError) as again:
                send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
            assert "Wait a moment" not in again.value.message
            assert event_count("email.limited") == 0


# ---- checking ----------------------------------------------------------------------------

def test_the_right_code_is_accepted_once(app, app_context):
    customer = make_customer()
    verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    code = last_code(app, ADDRESS)
    spent = check_email_code(verification_id, f"{code[:3]} {code[3:]}", TEST_ORIGIN,
                             customer=customer)
    assert spent.id == verification_id and row(verification_id).consumed_at is not None
    with pytest.raises(EmailCodeError, match="expired or was tried too often"):
        check_email_code(verification_id, code, TEST_ORIGIN, customer=customer)


def test_wrong_tries_are_limited_per_code(app, app_context):
    customer = make_customer()
    verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    code = last_code(app, ADDRESS)
    for left in (4, 3, 2, 1):
        with pytest.raises(EmailCodeError, match=f"{left} tr(y|ies) left"):
            check_email_code(verification_id, wrong(code), TEST_ORIGIN, customer=customer)
    with pytest.raises(EmailCodeError, match="cannot be tried again"):
        check_email_code(verification_id, wrong(code), TEST_ORIGIN, customer=customer)
    # Past the address's backoff (the next test), so only the code's own limit refuses.
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=False):
        with pytest.raises(EmailCodeError, match="tried too often"):
            check_email_code(verification_id, code, TEST_ORIGIN, customer=customer)
    stored = row(verification_id)
    assert stored.attempts == 5 and stored.consumed_at is None
    assert event_count("email.code_failed", customer) == 5


def test_a_new_code_gives_no_new_tries_for_the_address(app, app_context):
    """The failure count is per address (shared with sign-up codes), so asking again does
    not reset it; the backoff then lets the right code in."""
    customer = make_customer()
    results = []
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            clock.shift(timedelta(seconds=31))  # past the send gap to one address
            verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
            code = last_code(app, ADDRESS)
            for _ in range(2):
                try:
                    check_email_code(verification_id, wrong(code), TEST_ORIGIN,
                                     customer=customer)
                except EmailCodeError as error:
                    results.append("throttled" if error.retry_at else "wrong")
        assert results == ["wrong"] * 5 + ["throttled"]
        with pytest.raises(EmailCodeError, match="Too many wrong codes for this address"):
            check_email_code(verification_id, code, TEST_ORIGIN, customer=customer)
        assert event_count("email.code_throttled", customer) == 2
        clock.shift(timedelta(seconds=app.config["LOGIN_BACKOFF_BASE_SECONDS"]))
        assert check_email_code(verification_id, code, TEST_ORIGIN, customer=customer)


@pytest.mark.parametrize("typed",
                         ["12345", "1234567", "12a456", "", "１２３４５６", "1" * 40])
def test_malformed_codes_are_refused_without_spending_a_try(app, app_context, typed):
    customer = make_customer()
    verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    with pytest.raises(EmailCodeError, match="6-digit code"):
        check_email_code(verification_id, typed, TEST_ORIGIN, customer=customer)
    assert row(verification_id).attempts == 0


def test_a_code_proves_nothing_for_another_customer(app, app_context):
    customer = make_customer()
    other = make_customer(email="grace@example.com")
    verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    code = last_code(app, ADDRESS)
    with pytest.raises(EmailCodeError, match="expired"):
        check_email_code(verification_id, code, TEST_ORIGIN, customer=other)
    with pytest.raises(EmailCodeError, match="expired"):
        check_email_code(verification_id + 1000, code, TEST_ORIGIN, customer=customer)
    stored = row(verification_id)
    assert stored.attempts == 0 and stored.consumed_at is None
    assert check_email_code(verification_id, code, TEST_ORIGIN, customer=customer)


def test_a_code_expires(app, app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
    code = last_code(app, ADDRESS)
    with time_machine.travel(START + timedelta(seconds=601), tick=False):
        with pytest.raises(EmailCodeError, match="expired"):
            check_email_code(verification_id, code, TEST_ORIGIN, customer=customer)
    assert row(verification_id).consumed_at is None


def test_ten_concurrent_submissions_of_one_code_let_exactly_one_in(app):
    with app.app_context():
        customer = make_customer()
        verification_id = send_email_code(ADDRESS, TEST_ORIGIN, customer=customer)
        pk = customer.id
    code = last_code(app, ADDRESS)
    barrier = threading.Barrier(10, timeout=30)
    results: list[str] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            with app.app_context():
                own = db.session.get(Customer, pk)
                # End the read: on SQLite every transaction holds the write lock (BEGIN
                # IMMEDIATE), which would keep the other threads from the barrier.
                db.session.rollback()
                barrier.wait()
                try:
                    check_email_code(verification_id, code, TEST_ORIGIN, customer=own)
                    results.append("accepted")
                except EmailCodeError as error:
                    results.append(error.message)
        except BaseException as error:  # surfaced below: a thread's exception is lost
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert results.count("accepted") == 1 and len(results) == 10
    with app.app_context():
        stored = row(verification_id)
        assert stored.consumed_at is not None and stored.attempts <= 5
