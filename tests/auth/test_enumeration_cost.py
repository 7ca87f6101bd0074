"""/login/sms and /recover cost the same on the request path for a number that has an
account and for one that has not: the same SQL statements, the same commits and no SMS
sent before the response (the phone-risk decision and the text itself run after it is
sent, app/web/login_views.py). Work is counted, not timed; the timings are in
bench/bench_enumeration.py."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import request_finished
from sqlalchemy import event, select

from app.extensions import db
from app.models import AuditEvent, VerificationCode, utcnow
from app.phones import bindings
from tests.factories import make_customer
from tests.helpers import csrf_token, read_outbox

KNOWN = "+447400123456"
UNKNOWN = "+447911123456"
_NUMBERS = re.compile(r"\b\d+\b")


class RequestCost:
    """The SQL statements, commits and texts of one POST, up to Flask's request_finished
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
            response = client.post(path, data={"csrf_token": token, "phone": phone})
        finally:
            self.counting = False
            request_finished.disconnect(self._finished, self.app)
            event.remove(self.engine, "commit", self._commit)
            event.remove(self.engine, "before_cursor_execute", self._statement)
        self.texts = len(read_outbox(self.app)) - texts_before
        response.close()  # what a WSGI server does once it has sent the response
        return response


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
        if situation == "held":
            bindings.hold_sms(bindings.binding_of(customer, KNOWN),
                              utcnow() + timedelta(days=2), "SIM swap")
            db.session.commit()
    # One request per number first: it creates the send-limit rows shared by both (this
    # address, the calling code), and in "limited" uses up each number's hourly limit.
    for phone in (KNOWN, UNKNOWN):
        assert RequestCost(app).post(app.test_client(), path, phone).status_code == 303
    costs, answers = {}, {}
    for phone in (KNOWN, UNKNOWN):
        cost = RequestCost(app)
        response = cost.post(app.test_client(), path, phone)
        answers[phone] = (response.status_code, response.location)
        costs[phone] = (cost.statements, cost.commits, cost.texts)
    assert answers[KNOWN] == answers[UNKNOWN]
    assert answers[KNOWN][0] == (400 if situation == "limited" else 303)
    assert costs[KNOWN] == costs[UNKNOWN]
    statements, commits, texts = costs[KNOWN]
    assert statements and commits and texts == 0
    # Not vacuous: the known number was texted (once the response was closed), the
    # unknown one never; a held number's codes were voided and the decision audited.
    texted = [message["to"] for message in read_outbox(app)]
    assert texted == {"sent": [KNOWN, KNOWN], "limited": [KNOWN], "held": []}[situation]
    if situation == "held":
        with app.app_context():
            assert all(row.expires_at <= utcnow() for row in db.session.scalars(
                select(VerificationCode).where(VerificationCode.destination == KNOWN)))
            decisions = db.session.scalars(select(AuditEvent.details).where(
                AuditEvent.event == "phone.decision")).all()
            assert [d["action"] for d in decisions] == ["hold", "hold"]
