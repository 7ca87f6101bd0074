"""Login backoff per identifier and per customer: doubling waits, no permanent lockout, no
enumeration, and a limit that holds under concurrent guesses."""
import threading
from datetime import UTC, datetime, timedelta

import argon2
import requests
import time_machine
from sqlalchemy import func, select

from app.auth.flow import password_login
from app.auth.login import CUSTOMER_THROTTLE_KIND, LoginRefused
from app.auth.throttle import throttle_key
from app.extensions import db
from app.models import AuditEvent, LoginThrottle
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def attempt(identifier: str, password: str) -> str:
    """'ok', 'wrong' or 'throttled'."""
    try:
        password_login(identifier, password, TEST_ORIGIN)
        return "ok"
    except LoginRefused as refusal:
        return "throttled" if refusal.retry_at else "wrong"


def count_events(name: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.event == name))


def test_backoff_after_five_failures_doubles_and_then_lets_the_owner_in(app_context):
    make_customer()
    with time_machine.travel(START, tick=False) as clock:
        assert [attempt("ada@example.com", "wrong") for _ in range(5)] == ["wrong"] * 5
        # Even the right password waits: the throttle must not reveal it.
        assert attempt("ada@example.com", STRONG_PASSWORD) == "throttled"
        clock.shift(timedelta(seconds=30))
        assert attempt("ada@example.com", "wrong") == "wrong"       # one try after 30 s
        assert attempt("ada@example.com", "wrong") == "throttled"
        clock.shift(timedelta(seconds=30))
        assert attempt("ada@example.com", "wrong") == "throttled"   # the wait doubled to 60 s
        clock.shift(timedelta(seconds=30))
        assert attempt("ada@example.com", STRONG_PASSWORD) == "ok"
        # Success clears the count: five fresh tries again.
        assert [attempt("ada@example.com", "wrong") for _ in range(5)] == ["wrong"] * 5


def test_wait_is_capped_so_an_attacker_cannot_lock_out_for_good(app_context):
    make_customer()
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(30):
            attempt("ada@example.com", "wrong")
            clock.shift(timedelta(seconds=900))
        assert attempt("ada@example.com", STRONG_PASSWORD) == "ok"


def test_unknown_identifiers_are_throttled_exactly_like_known_ones(app_context):
    make_customer()
    with time_machine.travel(START, tick=False):
        known = [attempt("ada@example.com", "wrong") for _ in range(7)]
        unknown = [attempt("nobody@example.com", "wrong") for _ in range(7)]
    assert known == unknown == ["wrong"] * 5 + ["throttled"] * 2


def test_throttle_is_per_identifier_in_any_spelling(app_context):
    make_customer()
    with time_machine.travel(START, tick=False):
        for spelling in ["ada@example.com", "ADA@example.com", " Ada@Example.com ",
                         "ada@EXAMPLE.COM", "aDa@example.com"]:
            attempt(spelling, "wrong")
        assert attempt("ada@example.com", STRONG_PASSWORD) == "throttled"
        make_customer(email="grace@example.com")
        assert attempt("grace@example.com", STRONG_PASSWORD) == "ok"


KNOWN = ["ada@example.com", "+14155552671", "ada.l"]
UNKNOWN = ["nobody@example.com", "+14155550123", "no.body"]


def test_one_customer_gets_one_budget_of_guesses_across_identifiers(app_context):
    """Five wrong passwords through two identifiers pause the customer's password logins
    through the third too; the pause reads like a wrong password and is bounded."""
    make_customer(phone=KNOWN[1], username=KNOWN[2])
    with time_machine.travel(START, tick=False) as clock:
        assert [attempt(identifier, "wrong") for identifier in KNOWN[:2] * 2 + KNOWN[:1]] \
            == ["wrong"] * 5
        assert attempt(KNOWN[2], STRONG_PASSWORD) == "wrong"  # not even checked
        assert count_events("login.throttled") == 1
        clock.shift(timedelta(seconds=30))
        assert attempt(KNOWN[2], STRONG_PASSWORD) == "ok"


def test_the_customer_throttle_answers_and_works_the_same_for_unknown_identifiers(
        app_context, monkeypatch):
    """Identifiers of one customer and unknown identifiers get the same answers after the
    same number of argon2 verifications: the per-customer count must not tell anyone
    which identifiers belong together."""
    from app.auth import passwords
    make_customer(phone=KNOWN[1], username=KNOWN[2])
    real_verify = passwords.verify_password
    verifications = []

    def counting_verify(*args):
        verifications.append(args[0] is not None)
        return real_verify(*args)

    monkeypatch.setattr(passwords, "verify_password", counting_verify)

    def messages(identifiers):
        verifications.clear()
        answers = []
        for identifier in identifiers * 3:
            try:
                password_login(identifier, "wrong", TEST_ORIGIN)
            except LoginRefused as refusal:
                answers.append((refusal.message, refusal.retry_at))
        return answers, len(verifications)

    with time_machine.travel(START, tick=False):
        assert messages(KNOWN) == messages(UNKNOWN)


def test_twenty_concurrent_wrong_passwords_get_five_checks(app, live_server):
    """20 browsers post a wrong password at the same moment: exactly five are checked,
    the other fifteen are refused by the backoff, on SQLite and PostgreSQL."""
    with app.app_context():
        customer_id = make_customer().customer_id
    sessions = []
    for _ in range(20):
        browser = requests.Session()
        token = csrf_token(browser.get(f"{live_server}/login", timeout=10).text)
        sessions.append((browser, token))
    barrier = threading.Barrier(20, timeout=30)
    statuses = []

    def guess(browser, token):
        barrier.wait()
        response = browser.post(f"{live_server}/login", timeout=60, allow_redirects=False,
                                data={"csrf_token": token, "identifier": "ada@example.com",
                                      "password": "not-the-password"})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [401] * 20
    with app.app_context():
        failed = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event == "login.failed", AuditEvent.customer_id == customer_id))
        throttled = count_events("login.throttled")
    assert (failed, throttled) == (5, 15)


def test_a_login_commits_both_counts_before_the_hash_and_holds_no_transaction_across_it(
        app_context, monkeypatch):
    """The password's two counts (per identifier, per customer) are committed before argon2
    runs, so they stand however the check ends, and no transaction (on SQLite: the write
    lock) is held across the tens of milliseconds of hashing."""
    customer = make_customer()
    keys = [throttle_key("email", "ada@example.com"),
            throttle_key(CUSTOMER_THROTTLE_KIND, customer.customer_id)]
    db.session.commit()
    seen = []
    verify = argon2.PasswordHasher.verify

    def watching(hasher, stored, password):
        with db.engine.connect() as other:  # another connection sees only what is committed
            counts = dict(other.execute(select(LoginThrottle.key_hash, LoginThrottle.failures)
                                        .where(LoginThrottle.key_hash.in_(keys))).all())
        seen.append((db.session().in_transaction(), [counts.get(key) for key in keys]))
        return verify(hasher, stored, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", watching)
    assert attempt("ada@example.com", "wrong") == "wrong"
    assert attempt("ada@example.com", STRONG_PASSWORD) == "ok"
    # The first attempt meets fresh keys; the second counts on top of the first's failure.
    assert seen == [(False, [1, 1]), (False, [2, 2])]
    db.session.commit()  # password_login's caller commits a success, which clears both
    assert db.session.scalars(select(LoginThrottle.failures)
                              .where(LoginThrottle.key_hash.in_(keys))).all() == [0, 0]


def test_concurrent_logins_of_one_customer_all_succeed_without_deadlock(make_app):
    """Eight threads log one customer in six times each, at once. Each login counts and
    then clears two keys (identifier, customer); on PostgreSQL each of those UPDATEs locks
    a row, so they must be taken in one order everywhere or two logins deadlock. The
    backoff threshold is out of reach here: concurrent attempts count as failures until
    they succeed, and this test is about locks, not the backoff."""
    app = make_app(LOGIN_BACKOFF_THRESHOLD=10_000)
    with app.app_context():
        make_customer()
        db.session.commit()
    barrier = threading.Barrier(8, timeout=30)
    outcomes, errors = [], []

    def log_in_six_times():
        barrier.wait()
        for _ in range(6):
            with app.app_context():
                try:
                    outcomes.append(attempt("ada@example.com", STRONG_PASSWORD))
                    db.session.commit()
                except Exception as error:  # noqa: BLE001 (a deadlock is what this looks for)
                    errors.append(repr(error)[:300])
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=log_in_six_times) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcomes == ["ok"] * 48
