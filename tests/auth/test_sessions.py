"""The customer's open sessions (app/auth/sessions.py open_sessions, own_open_session):
what "Apps & sessions" lists and may sign out. Runs on SQLite and PostgreSQL (`app`)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from app.auth.sessions import open_sessions, own_open_session, start_session
from app.extensions import db
from app.models import LoginSession, utcnow
from tests.factories import TEST_ORIGIN, make_customer

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def test_open_sessions_leave_out_ended_idle_expired_and_others(app) -> None:
    idle = app.config["SESSION_IDLE_SECONDS"]
    with time_machine.travel(START, tick=False) as clock, app.app_context():
        ada = make_customer(email="ada@example.com")
        bob = make_customer(email="bob@example.com")
        for customer in (ada, ada, ada, bob):
            start_session(customer, ["pwd"], "1", TEST_ORIGIN)
        db.session.commit()
        idle_one, ended_one, kept, bobs = db.session.scalars(
            db.select(LoginSession).order_by(LoginSession.id)).all()
        ended_one.ended_at = utcnow()
        clock.shift(timedelta(seconds=idle - 1))
        kept.last_seen_at = bobs.last_seen_at = utcnow()
        db.session.commit()
        clock.shift(timedelta(seconds=1))

        assert [s.id for s in open_sessions(ada)] == [kept.id]
        assert own_open_session(ada, kept.id) is kept
        for other in (idle_one, ended_one, bobs):
            assert own_open_session(ada, other.id) is None
        assert [s.id for s in open_sessions(bob)] == [bobs.id]
