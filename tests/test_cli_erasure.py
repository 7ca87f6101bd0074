"""`flask customers erase-due`: erases every customer whose requested deletion is past
due, and nobody else; prints the IDs for people, or JSON with --json."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from app.directory import erasure
from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import AuditEvent, Identifier
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import read_outbox

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def schedule(app, email: str, *, locked: bool = False) -> str:
    """A customer who asked for deletion now; their customer ID."""
    with app.app_context():
        customer = make_customer(email=email)
        erasure.request_deletion(customer, TEST_ORIGIN)
        if locked:
            customer.status, customer.lock_reason = "locked", "support"
        db.session.commit()
        return customer.customer_id


def status_of(app, customer_id: str) -> str:
    with app.app_context():
        return get_by_customer_id(customer_id).status


def test_nothing_due_erases_nothing(app, runner):
    with time_machine.travel(START, tick=False) as clock:
        customer_id = schedule(app, "ada@example.com")
        clock.shift(timedelta(days=14) - timedelta(seconds=1))

        result = runner.invoke(args=["customers", "erase-due"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "Erased 0 customers past their deletion date.\n"
    assert status_of(app, customer_id) == "active"


def test_due_customers_are_erased_others_kept(app, runner):
    with time_machine.travel(START, tick=False) as clock:
        due_id = schedule(app, "ada@example.com")
        locked_id = schedule(app, "grace@example.com", locked=True)
        cancelled_id = schedule(app, "alan@example.com")
        with app.app_context():
            make_customer(email="edsger@example.com")
            assert erasure.cancel_deletion(get_by_customer_id(cancelled_id), TEST_ORIGIN)
            db.session.commit()
        clock.shift(timedelta(days=14))

        result = runner.invoke(args=["customers", "erase-due"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Erased 2 customers past their deletion date:",
        f"  {format_for_people(due_id)}", f"  {format_for_people(locked_id)}"]
    assert (status_of(app, due_id), status_of(app, locked_id)) == ("erased", "erased")
    assert status_of(app, cancelled_id) == "active"
    with app.app_context():
        remaining = set(db.session.scalars(select(Identifier.value)))
        assert remaining == {"alan@example.com", "edsger@example.com"}
        erased_events = db.session.execute(select(AuditEvent.customer_id, AuditEvent.actor,
                                                  AuditEvent.details).where(
            AuditEvent.event == "customer.erased")).all()
        assert {e.customer_id for e in erased_events} == {due_id, locked_id}
        assert all(e.actor == "cli" and e.details["reason"] ==
                   "deletion requested by the customer" for e in erased_events)
    told = {m["to"] for m in read_outbox(app) if m.get("subject") == "Your account was deleted"}
    assert told == {"ada@example.com", "grace@example.com"}


def test_json_output_and_a_second_run_finds_nothing(app, runner):
    with time_machine.travel(START, tick=False) as clock:
        customer_id = schedule(app, "ada@example.com")
        clock.shift(timedelta(days=15))

        first = runner.invoke(args=["customers", "erase-due", "--json"])
        second = runner.invoke(args=["customers", "erase-due", "--json"])

    assert first.exit_code == 0 and json.loads(first.stdout) == {"erased": [customer_id]}
    assert second.exit_code == 0 and json.loads(second.stdout) == {"erased": []}
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.id).where(
            AuditEvent.event == "customer.erased").offset(1)) is None
