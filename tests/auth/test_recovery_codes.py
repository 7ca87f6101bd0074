"""Recovery codes: a set of ten distinct codes stored as keyed hashes, each usable once in
any spelling, only by its owner, exactly once under concurrency, and replaced as a whole.
Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from sqlalchemy import event, func, select

from app.auth import recovery_codes, totp
from app.extensions import db
from app.models import AuditEvent, Customer, RecoveryCode
from app.platform.keyed_hash import keyed_hash
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import read_outbox

CODE_RE = re.compile(r"^[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}$")
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


@contextmanager
def statements_counted():
    """Count the SQL statements sent to the database inside the block."""
    executed: list[str] = []

    def record(conn, cursor, statement, *args):
        executed.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield executed
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def new_set(customer) -> list[str]:
    """A committed set of codes (generate leaves the commit to its caller)."""
    codes = recovery_codes.generate(customer, TEST_ORIGIN)
    db.session.commit()
    return codes


def events(customer, name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id == customer.customer_id, AuditEvent.event == name)
        .order_by(AuditEvent.id)))


def with_totp(customer) -> list[str]:
    """Enrol an authenticator app (which makes a first set of codes); return that set."""
    with time_machine.travel(START, tick=False):
        secret = totp.begin_enrolment(customer).secret
        return totp.confirm_enrolment(customer, pyotp.TOTP(secret).now(), TEST_ORIGIN)


def test_ten_distinct_codes_stored_only_as_keyed_hashes(app_context):
    customer = make_customer()
    codes = new_set(customer)

    assert len(codes) == len(set(codes)) == 10
    assert all(CODE_RE.match(code) for code in codes), codes
    stored = sorted(db.session.scalars(
        select(RecoveryCode.code_hash).where(RecoveryCode.customer_pk == customer.id)))
    assert stored == sorted(keyed_hash("recovery-code", c.replace("-", "")) for c in codes)
    for code in codes:
        assert all(code.replace("-", "") not in value and code not in value for value in stored)
    assert recovery_codes.remaining(customer) == 10
    assert [e.details for e in events(customer, "recovery_codes.generated")] == [{"count": 10}]


def test_generate_leaves_the_commit_to_the_caller(app_context):
    customer = make_customer()
    recovery_codes.generate(customer, TEST_ORIGIN)
    db.session.rollback()
    assert recovery_codes.remaining(customer) == 0
    assert events(customer, "recovery_codes.generated") == []


def test_each_code_works_once_and_the_use_is_audited(app_context):
    customer = make_customer()
    codes = new_set(customer)

    assert [recovery_codes.use(customer, code, TEST_ORIGIN) for code in codes] == [True] * 10
    assert [recovery_codes.use(customer, code, TEST_ORIGIN) for code in codes] == [False] * 10
    assert recovery_codes.remaining(customer) == 0
    assert [e.details["remaining"] for e in events(customer, "recovery_code.used")] == \
        list(range(9, -1, -1))
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.used_at.is_(None))) == 0


def test_a_code_works_in_any_case_with_spaces_or_without_the_hyphen(app_context):
    customer = make_customer()
    codes = new_set(customer)
    spellings = [
        codes[0].upper(),
        f"  {codes[1][:5]} - {codes[1][6:]} ",
        codes[2].replace("-", ""),
        codes[3].replace("-", " ").upper(),
        "".join(ch.upper() if i % 2 else ch for i, ch in enumerate(codes[4])),
    ]
    assert [recovery_codes.use(customer, text, TEST_ORIGIN) for text in spellings] == [True] * 5
    assert recovery_codes.use(customer, codes[0], TEST_ORIGIN) is False, "spent as 'CODE'"
    assert recovery_codes.remaining(customer) == 5


def test_malformed_input_is_refused_without_touching_the_database(app_context):
    customer = make_customer()
    codes = new_set(customer)
    db.session.refresh(customer)
    near_misses = ["", codes[0][:-1], codes[0] + "a", codes[0].replace(codes[0][0], "0"),
                   "abcde-fghil", "oooooooooo", "x" * 100_000, None,
                   "ａｂｃｄｅ-ｆｇｈｊｋ"]  # full-width letters
    with statements_counted() as executed:
        results = [recovery_codes.use(customer, text, TEST_ORIGIN) for text in near_misses]
    assert results == [False] * len(near_misses)
    assert executed == []
    assert recovery_codes.remaining(customer) == 10


def test_another_customers_code_does_not_work(app_context):
    ada = make_customer()
    grace = make_customer(email="grace@example.com")
    ada_codes = new_set(ada)
    new_set(grace)

    assert recovery_codes.use(grace, ada_codes[0], TEST_ORIGIN) is False
    assert recovery_codes.remaining(grace) == 10
    assert events(grace, "recovery_code.used") == []
    assert recovery_codes.use(ada, ada_codes[0], TEST_ORIGIN) is True


def test_concurrent_use_of_one_code_succeeds_exactly_once(app):
    with app.app_context():
        customer = make_customer()
        code = new_set(customer)[0]
        pk, customer_id = customer.id, customer.customer_id
    barrier = threading.Barrier(10, timeout=30)
    results: list[bool] = []
    errors: list[BaseException] = []

    def spend() -> None:
        try:
            with app.app_context():
                own = db.session.get(Customer, pk)
                # Detach it and end the read: on SQLite every transaction takes the write
                # lock at BEGIN, so a thread holding one would stall the others here.
                db.session.expunge(own)
                db.session.rollback()
                barrier.wait()
                results.append(recovery_codes.use(own, code, TEST_ORIGIN))
        except BaseException as error:  # surfaced below: a thread's exception is lost
            errors.append(error)

    threads = [threading.Thread(target=spend) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == [False] * 9 + [True]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.customer_id == customer_id,
            AuditEvent.event == "recovery_code.used")) == 1


def test_a_new_set_invalidates_the_old_one(app_context):
    customer = make_customer()
    old = new_set(customer)
    recovery_codes.use(customer, old[0], TEST_ORIGIN)
    new = new_set(customer)

    assert not set(old) & set(new)
    assert [recovery_codes.use(customer, code, TEST_ORIGIN) for code in old] == [False] * 10
    assert recovery_codes.remaining(customer) == 10
    assert recovery_codes.use(customer, new[0], TEST_ORIGIN) is True
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 10


def test_renew_needs_an_authenticator_app_and_changes_nothing_without(app, app_context):
    customer = make_customer()
    with pytest.raises(recovery_codes.RecoveryCodeError, match="authenticator app first"):
        recovery_codes.renew(customer, TEST_ORIGIN)
    assert recovery_codes.remaining(customer) == 0
    assert events(customer, "recovery_codes.generated") == []
    assert read_outbox(app) == []


def test_renew_commits_a_new_set_and_tells_the_customer(app, app_context):
    customer = make_customer()
    first = with_totp(customer)

    renewed = recovery_codes.renew(customer, TEST_ORIGIN)
    db.session.commit()  # the caller's commit (the account page's)

    assert recovery_codes.remaining(customer) == 10
    assert recovery_codes.use(customer, first[0], TEST_ORIGIN) is False
    assert recovery_codes.use(customer, renewed[0], TEST_ORIGIN) is True
    assert len(events(customer, "recovery_codes.generated")) == 2
    subjects = [m["subject"] for m in read_outbox(app) if m["to"] == "ada@example.com"]
    assert subjects[-1] == "New recovery codes were made for your account"
