"""/login/sms and /recover cost the same on the request path for a number that has an
account and for one that has not, and /recover for an email address: the same SQL
statements, the same commits and no message sent before the response (the phone-risk
decision and the text or email itself run after it is sent, app/web/login_views.py).
Work is counted, not timed; the timings are in bench/bench_enumeration.py."""
from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pyotp
import pytest
import time_machine
from flask import request_finished
from sqlalchemy import event, select

from app.auth import email_codes, totp
from app.extensions import db
from app.models import AuditEvent, VerificationCode, utcnow
from app.phones import bindings
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, read_outbox

KNOWN = "+447400123456"
UNKNOWN = "+447911123456"
KNOWN_EMAIL = "ada@example.com"
UNKNOWN_EMAIL = "nobody@example.com"
#: The field each page's form names its phone number or address.
FIELDS = {"/login/sms": "phone", "/recover": "identifier"}
_NUMBERS = re.compile(r"\b\d+\b")


class RequestCost:
    """The SQL statements, commits and messages of one POST, up to Flask's request_finished
    (so the work registered to run after the response is left out)."""

    def __init__(self, app) -> None:
        self.app = app
        self.statements: list[str] = []
        self.commits = 0
        self.texts = 0
        self.counting = False
        with app.app_context():
            self.engine = db.engine

    def _statement(self, conn, cursor, statement, parameters, context, executemany):
        if self.counting:
            # Literal numbers aside (SQLite's SAVEPOINT names), the text of every query.
            self.statements.append(_NUMBERS.sub("N", " ".join(statement.split())))

    def _commit(self, conn):
        if self.counting:
            self.commits += 1

    def _finished(self, sender, response, **extra):
        self.counting = False

    def post(self, client, path: str, phone: str):
        token = csrf_token(client.get(path).text)
        texts_before = len(read_outbox(self.app))
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        request_finished.connect(self._finished, self.app)
        self.counting = True
        try:
            response = client.post(path, data={"csrf_token": token, FIELDS[path]: phone})
        finally:
            self.counting = False
            request_finished.disconnect(self._finished, self.app)
            event.remove(self.engine, "commit", self._commit)
            event.remove(self.engine, "before_cursor_execute", self._statement)
        self.texts = len(read_outbox(self.app)) - texts_before
        response.close()  # what a WSGI server does once it has sent the response
        return response


def assert_same_cost(app, path: str, destinations: tuple[str, str], status: int) -> None:
    """POST each destination (a known one, then an unknown one) from a fresh browser: the
    same answer (`status`), the same statements and commits, and nothing sent yet."""
    costs, answers = {}, {}
    for destination in destinations:
        cost = RequestCost(app)
        response = cost.post(app.test_client(), path, destination)
        answers[destination] = (response.status_code, response.location)
        costs[destination] = (cost.statements, cost.commits, cost.texts)
    known, unknown = destinations
    assert answers[known] == answers[unknown] and answers[known][0] == status
    assert costs[known] == costs[unknown]
    statements, commits, sent = costs[known]
    assert statements and commits and sent == 0


@pytest.mark.parametrize("situation", ["sent", "limited", "held"])
@pytest.mark.parametrize("path", ["/login/sms", "/recover"])
def test_known_and_unknown_numbers_cost_the_same_on_the_request_path(make_app, path,
                                                                     situation):
    """sent: the known number is texted; limited: its hourly limit refuses both; held:
    the phone-risk decision (after the response) refuses the known number."""
    app = make_app(SMS_MIN_SECONDS_BETWEEN_SENDS=0,
                   SMS_SENDS_PER_NUMBER_PER_HOUR=1 if situation == "limited" else 5)
    with app.app_context():
        customer = make_customer(phone=KNOWN)
        if path == "/recover":
            # The offline lookup asks for a step up: a code is texted only to a customer
            # with an authenticator app to step up to (app/auth/recovery.py).
            totp.confirm_enrolment(customer, pyotp.TOTP(totp.begin_enrolment(customer)
                                                        .secret).now(), TEST_ORIGIN)
            db.session.commit()
        if situation == "held":
            bindings.hold_sms(bindings.binding_of(customer, KNOWN),
                              utcnow() + timedelta(days=2), "SIM swap")
            db.session.commit()
    # One request per number first: it creates the send-limit rows shared by both (this
    # address, the calling code), and in "limited" uses up each number's hourly limit.
    for phone in (KNOWN, UNKNOWN):
        assert RequestCost(app).post(app.test_client(), path, phone).status_code == 303
    assert_same_cost(app, path, (KNOWN, UNKNOWN), 400 if situation == "limited" else 303)
    # Not vacuous: the known number was texted (once the response was closed), the
    # unknown one never; a held number's codes were voided and the decision audited.
    texted = [message["to"] for message in read_outbox(app) if message["channel"] == "sms"]
    assert texted == {"sent": [KNOWN, KNOWN], "limited": [KNOWN], "held": []}[situation]
    if situation == "held":
        with app.app_context():
            assert all(row.expires_at <= utcnow() for row in db.session.scalars(
                select(VerificationCode).where(VerificationCode.destination == KNOWN)))
            decisions = db.session.scalars(select(AuditEvent.details).where(
                AuditEvent.event == "phone.decision")).all()
            assert [d["action"] for d in decisions] == ["hold", "hold"]


@pytest.mark.parametrize("situation", ["sent", "limited"])
def test_known_and_unknown_addresses_cost_the_same_on_the_request_path(make_app, situation):
    """Reset by email: the same work and answer for a customer's address and a stranger's;
    limited: the per-address hourly limit (shared with sign-up codes) refuses both."""
    app = make_app()
    with app.app_context():
        make_customer(email=KNOWN_EMAIL)
    hourly = 1 if situation == "limited" else 5
    with mock.patch.object(email_codes, "EMAIL_SENDS_PER_ADDRESS_PER_HOUR", hourly), \
            time_machine.travel(utcnow(), tick=False) as clock:
        for address in (KNOWN_EMAIL, UNKNOWN_EMAIL):
            assert RequestCost(app).post(app.test_client(), "/recover", address) \
                .status_code == 303
        clock.shift(timedelta(minutes=1))  # past the gap between two sends to an address
        assert_same_cost(app, "/recover", (KNOWN_EMAIL, UNKNOWN_EMAIL),
                         400 if situation == "limited" else 303)
    emailed = [message["to"] for message in read_outbox(app)]
    assert emailed == {"sent": [KNOWN_EMAIL] * 2, "limited": [KNOWN_EMAIL]}[situation]
