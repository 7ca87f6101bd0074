"""TOTP authenticator apps: enrolment with a sealed secret, confirmation by a first code,
verification that accepts one step of drift and each step only once (also under
concurrency), and removal. Codes are computed by pyotp in the test, independently of the
service, on a clock frozen by time_machine. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import event, func, select

from app.auth import recovery_codes, totp
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import AuditEvent, Customer, RecoveryCode, TotpCredential
from app.platform.crypto import DecryptionError, unseal
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import read_outbox

# A step boundary (a multiple of 30 s since the epoch), far from midnight or DST.
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
START_STEP = int(START.timestamp()) // 30


def code_at(secret: str, step: int) -> str:
    """The code an authenticator app shows during `step`, computed by pyotp."""
    return pyotp.TOTP(secret).at(step * 30)


def credential(customer) -> TotpCredential | None:
    db.session.expire_all()
    return db.session.get(TotpCredential, customer.id)


def events(customer, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id == customer.customer_id, AuditEvent.event == name)))


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


@contextmanager
def statements_counted():
    """Count the SQL statements sent to the database inside the block."""
    executed: list[str] = []

    def record(conn, cursor, statement, *args):
        executed.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield executed
    finally:
        event.remove(engine, "before_cursor_execute", record)


def enrol(customer) -> tuple[str, list[str]]:
    """Enrol at the current (frozen) time; the secret and the recovery codes."""
    secret = totp.begin_enrolment(customer).secret
    now_step = int(datetime.now(UTC).timestamp()) // 30
    codes = totp.confirm_enrolment(customer, code_at(secret, now_step), TEST_ORIGIN)
    db.session.commit()
    return secret, codes


# ---- enrolment ---------------------------------------------------------------------------

def test_enrolment_seals_the_secret_and_offers_it_as_uri_and_qr_code(app_context):
    customer = make_customer()
    enrolment = totp.begin_enrolment(customer)

    assert len(base64.b32decode(enrolment.secret)) * 8 >= 160
    label = f"Tessera:{format_for_people(customer.customer_id)}"
    assert enrolment.uri.startswith(f"otpauth://totp/{label}?")
    assert f"secret={enrolment.secret}" in enrolment.uri
    assert "issuer=Tessera" in enrolment.uri
    parsed = pyotp.parse_uri(enrolment.uri)
    assert (parsed.secret, parsed.issuer, parsed.digits, parsed.interval) == \
        (enrolment.secret, "Tessera", 6, 30)
    assert enrolment.qr_svg.startswith("<svg") and enrolment.qr_svg.rstrip().endswith("</svg>")
    assert "<?xml" not in enrolment.qr_svg

    row = credential(customer)
    assert row.confirmed_at is None and row.last_used_step is None
    assert enrolment.secret not in row.secret_sealed
    assert unseal(row.secret_sealed, f"totp:{customer.id}").decode() == enrolment.secret
    with pytest.raises(DecryptionError):
        unseal(row.secret_sealed, f"totp:{customer.id + 1}")
    assert not totp.has_totp(customer), "a pending enrolment is not a factor"
    assert totp.pending_enrolment(customer) == enrolment, "a reload shows another secret"


def test_beginning_again_replaces_the_pending_secret(app_context):
    customer = make_customer()
    first = totp.begin_enrolment(customer)
    second = totp.begin_enrolment(customer)

    assert first.secret != second.secret
    assert count(TotpCredential) == 1
    assert totp.pending_enrolment(customer).secret == second.secret
    with time_machine.travel(START, tick=False):
        with pytest.raises(totp.TotpError):
            totp.confirm_enrolment(customer, code_at(first.secret, START_STEP), TEST_ORIGIN)
    assert credential(customer).confirmed_at is None


def test_confirming_with_the_right_code_turns_it_on_and_makes_recovery_codes(app, app_context):
    customer = make_customer()
    secret = totp.begin_enrolment(customer).secret
    with time_machine.travel(START + timedelta(seconds=7), tick=False):
        codes = totp.confirm_enrolment(customer, code_at(secret, START_STEP), TEST_ORIGIN)

        assert len(codes) == recovery_codes.COUNT == 10
        row = credential(customer)
        assert row.confirmed_at is not None
        assert row.last_used_step == START_STEP
        assert totp.has_totp(customer)
        assert totp.pending_enrolment(customer) is None
        assert recovery_codes.remaining(customer) == 10
        assert len(events(customer, "totp.enrolled")) == 1
        assert len(events(customer, "recovery_codes.generated")) == 1
        # The code that confirmed the app cannot then log in.
        assert totp.verify_totp(customer, code_at(secret, START_STEP)) is False
    notices = [m for m in read_outbox(app) if m["subject"].startswith("An authenticator app")]
    assert [m["to"] for m in notices] == ["ada@example.com"]


@pytest.mark.parametrize("kind", ["wrong", "short", "long", "letters", "arabic digits",
                                  "over-long", "empty", "two steps old"])
def test_wrong_or_malformed_confirmation_codes_change_nothing(app, app_context, kind):
    customer = make_customer()
    secret = totp.begin_enrolment(customer).secret
    with time_machine.travel(START, tick=False):
        right = code_at(secret, START_STEP)
        code = {
            "wrong": f"{(int(right) + 1) % 10**6:06d}",
            "short": right[:5],
            "long": right + "0",
            "letters": "abcdef",
            "arabic digits": right.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
            "over-long": right * 2000,
            "empty": "",
            "two steps old": code_at(secret, START_STEP - 2),
        }[kind]
        if kind in ("wrong", "two steps old") and \
                code in {code_at(secret, START_STEP + d) for d in (-1, 0, 1)}:
            pytest.skip("the random secret gave two steps the same code (p ~ 3e-6)")
        sealed_before = credential(customer).secret_sealed
        outbox_before = len(read_outbox(app))

        with pytest.raises(totp.TotpError, match="That code is not right"):
            totp.confirm_enrolment(customer, code, TEST_ORIGIN)

    row = credential(customer)
    assert (row.secret_sealed, row.confirmed_at, row.last_used_step) == (sealed_before, None, None)
    assert count(RecoveryCode) == 0
    assert events(customer, "totp.enrolled") == []
    assert len(read_outbox(app)) == outbox_before


def test_confirming_without_a_pending_enrolment_is_refused(app_context):
    customer = make_customer()
    with pytest.raises(totp.TotpError, match="expired"):
        totp.confirm_enrolment(customer, "123456", TEST_ORIGIN)
    assert count(TotpCredential) == 0


def test_begin_enrolment_is_refused_while_an_app_is_confirmed(app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        secret, _ = enrol(customer)
    before = credential(customer)
    sealed, confirmed_at = before.secret_sealed, before.confirmed_at

    with pytest.raises(totp.TotpError, match="already set up"):
        totp.begin_enrolment(customer)

    after = credential(customer)
    assert (after.secret_sealed, after.confirmed_at) == (sealed, confirmed_at)
    assert totp.pending_enrolment(customer) is None
    assert unseal(after.secret_sealed, f"totp:{customer.id}").decode() == secret


# ---- verification ------------------------------------------------------------------------

def test_one_step_of_drift_is_accepted_either_way_and_two_are_not(app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        secret, _ = enrol(customer)
    now = START_STEP + 20
    with time_machine.travel(START + timedelta(minutes=10, seconds=15), tick=False):
        window = {code_at(secret, now + d) for d in (-1, 0, 1)}
        too_far = [code_at(secret, now - 2), code_at(secret, now + 2)]
        if window & set(too_far):
            pytest.skip("the random secret gave two steps the same code (p ~ 6e-6)")
        assert totp.verify_totp(customer, too_far[0]) is False      # two steps behind
        assert totp.verify_totp(customer, code_at(secret, now - 1)) is True
        assert totp.verify_totp(customer, too_far[1]) is False      # two steps ahead
        assert totp.verify_totp(customer, code_at(secret, now + 1)) is True
        assert credential(customer).last_used_step == now + 1


def test_a_code_works_once_and_never_after_a_later_one(app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        secret, _ = enrol(customer)
    now = START_STEP + 10
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        assert totp.verify_totp(customer, code_at(secret, now)) is True
        assert totp.verify_totp(customer, code_at(secret, now)) is False, "replayed"
        # "123 456", as apps show it, is the same code: still a replay.
        spaced = code_at(secret, now)[:3] + " " + code_at(secret, now)[3:]
        assert totp.verify_totp(customer, spaced) is False
        assert totp.verify_totp(customer, code_at(secret, now + 1)) is True
        # The previous step is inside the window and never used, but older than the last.
        assert totp.verify_totp(customer, code_at(secret, now - 1)) is False
        assert credential(customer).last_used_step == now + 1


def test_spaced_code_is_accepted(app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        secret, _ = enrol(customer)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        code = code_at(secret, START_STEP + 2)
        assert totp.verify_totp(customer, f" {code[:3]} {code[3:]} ") is True


def test_malformed_codes_are_refused_without_touching_the_database(app_context):
    customer = make_customer()
    with time_machine.travel(START, tick=False):
        enrol(customer)
    db.session.refresh(customer)  # loaded now, so no lazy load counts below
    with statements_counted() as executed:
        results = [totp.verify_totp(customer, code) for code in
                   ["", "12345", "1234567", "12345a", "abcdef", "１２３４５６", "1" * 100_000,
                    "12-456", None]]
    assert results == [False] * 9
    assert executed == []


def test_a_pending_enrolment_is_not_a_factor(app_context):
    customer = make_customer()
    secret = totp.begin_enrolment(customer).secret
    with time_machine.travel(START, tick=False):
        assert totp.verify_totp(customer, code_at(secret, START_STEP)) is False
    assert credential(customer).last_used_step is None


def test_ten_concurrent_submissions_of_one_code_let_exactly_one_in(app):
    with app.app_context():
        customer = make_customer()
        with time_machine.travel(START, tick=False):
            secret, _ = enrol(customer)
        pk = customer.id
    barrier = threading.Barrier(10, timeout=30)
    results: list[bool] = []
    errors: list[BaseException] = []

    def submit(code: str) -> None:
        try:
            with app.app_context():
                own = db.session.get(Customer, pk)
                # Detach it and end the read: on SQLite every transaction takes the write
                # lock at BEGIN, so a thread holding one would stall the others here.
                db.session.expunge(own)
                db.session.rollback()
                barrier.wait()
                results.append(totp.verify_totp(own, code))
        except BaseException as error:  # surfaced below: a thread's exception is lost
            errors.append(error)

    with time_machine.travel(START + timedelta(minutes=3), tick=False):
        code = code_at(secret, START_STEP + 6)
        threads = [threading.Thread(target=submit, args=(code,)) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [False] * 9 + [True]
    with app.app_context():
        assert db.session.get(TotpCredential, pk).last_used_step == START_STEP + 6


# ---- removal -----------------------------------------------------------------------------

def test_removal_deletes_the_app_and_recovery_codes_audits_and_notifies(app, app_context):
    customer = make_customer()
    other = make_customer(email="grace@example.com")
    with time_machine.travel(START, tick=False):
        secret, codes = enrol(customer)
        enrol(other)
    outbox_before = len(read_outbox(app))

    totp.remove_totp(customer, TEST_ORIGIN)
    db.session.commit()

    assert credential(customer) is None
    assert count(RecoveryCode, RecoveryCode.customer_pk == customer.id) == 0
    assert not totp.has_totp(customer)
    assert [e.details for e in events(customer, "totp.removed")] == [
        {"recovery_codes_deleted": 10}]
    assert totp.has_totp(other) and recovery_codes.remaining(other) == 10
    sent = read_outbox(app)[outbox_before:]
    assert [(m["to"], m["subject"]) for m in sent] == [
        ("ada@example.com", "The authenticator app was removed from your account")]
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        assert totp.verify_totp(customer, code_at(secret, START_STEP + 2)) is False
    assert recovery_codes.use(customer, codes[0], TEST_ORIGIN) is False


def test_removing_when_no_app_is_set_up_is_refused(app, app_context):
    customer = make_customer()
    totp.begin_enrolment(customer)
    with pytest.raises(totp.TotpError, match="No authenticator app"):
        totp.remove_totp(customer, TEST_ORIGIN)
    assert credential(customer) is not None, "the pending enrolment was removed"
    assert events(customer, "totp.removed") == []
    assert not any("removed" in m["subject"] for m in read_outbox(app))
