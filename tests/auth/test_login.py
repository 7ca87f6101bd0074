"""Password login through the service: sessions, locked accounts, and no enumeration."""
import statistics
import time

import pytest
from sqlalchemy import select

from app.auth.flow import password_login
from app.auth.login import GENERIC_FAILURE, LoginRefused
from app.auth.sessions import load_session
from app.extensions import db
from app.models import AuditEvent, LoginSession
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token


@pytest.mark.parametrize("identifier", ["ada@example.com", "+1 415 555 2671", "ada.l"])
def test_login_with_each_identifier_kind_starts_a_session(app_context, identifier):
    customer = make_customer(phone="+14155552671", username="ada.l")
    result = password_login(identifier, STRONG_PASSWORD, TEST_ORIGIN)
    login_session = load_session(result.session_token)
    assert login_session.customer_pk == customer.id
    assert login_session.amr == ["pwd"]
    # Only a hash of the token is stored.
    assert db.session.scalar(select(LoginSession.token_hash)) != result.session_token


@pytest.mark.parametrize("identifier, password", [
    ("nobody@example.com", STRONG_PASSWORD),      # unknown identifier
    ("ada@example.com", "wrong-password-here"),    # wrong password
    ("nopassword@example.com", STRONG_PASSWORD),   # customer without a password
])
def test_every_failure_reads_the_same(app_context, identifier, password):
    make_customer()
    make_customer(email="nopassword@example.com", password=None)
    with pytest.raises(LoginRefused) as refusal:
        password_login(identifier, password, TEST_ORIGIN)
    assert refusal.value.message == GENERIC_FAILURE
    assert refusal.value.retry_at is None


def test_locked_customer_cannot_log_in_and_reads_like_a_wrong_password(app_context):
    customer = make_customer()
    customer.status = "locked"
    db.session.commit()
    with pytest.raises(LoginRefused) as refusal:
        password_login("ada@example.com", STRONG_PASSWORD, TEST_ORIGIN)
    assert refusal.value.message == GENERIC_FAILURE


def test_failed_logins_are_audited_with_the_customer_when_known(app_context):
    customer = make_customer()
    for identifier in ("ada@example.com", "nobody@example.com"):
        with pytest.raises(LoginRefused):
            password_login(identifier, "wrong-password-here", TEST_ORIGIN)
    rows = db.session.execute(select(AuditEvent.customer_id, AuditEvent.details)
                              .where(AuditEvent.event == "login.failed")
                              .order_by(AuditEvent.id)).all()
    assert [r.customer_id for r in rows] == [customer.customer_id, None]
    assert [r.details["reason"] for r in rows] == ["bad_password", "unknown_identifier"]


def test_unknown_identifier_takes_as_long_as_a_known_one(make_app):
    """At the production argon2 cost, the median time of a login with an unknown
    identifier is within a factor of the median for a known identifier with a wrong
    password. Skipping the hash for unknown identifiers would make it ~10x faster."""
    app = make_app(ARGON2_MEMORY_KIB=19456, ARGON2_TIME_COST=2, ARGON2_PARALLELISM=1,
                   LOGIN_BACKOFF_THRESHOLD=1000, LOGIN_RATE_LIMIT="10000 per minute")
    with app.app_context():
        make_customer()
    client = app.test_client()
    token = csrf_token(client.get("/login").text)

    def timed(identifier: str) -> float:
        started = time.perf_counter()
        response = client.post("/login", data={"csrf_token": token, "identifier": identifier,
                                               "password": "wrong-password-here"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    timed("ada@example.com")  # warm-up: builds the hasher and the dummy hash
    known, unknown = [], []
    for i in range(15):       # interleaved, so drift affects both alike
        known.append(timed("ada@example.com"))
        unknown.append(timed(f"nobody{i}@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.6 < ratio < 1.6, f"unknown/known median time ratio {ratio:.2f}"
