"""The customer listing (GET /admin/api/customers without `q`): newest first, a page at a
time by a signed cursor, filtered by status and a creation-time window; merged customers
(aliases) left out unless asked for; bad parameters refused with 400 and no audit event;
one audit event per call."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.models import AuditEvent
from tests.admin.helpers import assert_problem, auth
from tests.factories import make_customer

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SUMMARY_KEYS = {"customer_id", "customer_id_display", "status", "name", "created_at"}


def create_at(app, moment: datetime, count: int = 1, **statuses) -> list[str]:
    """`count` customers created at `moment` (time frozen, so they tie)."""
    ids = []
    with time_machine.travel(moment, tick=False), app.app_context():
        for number in range(count):
            customer = make_customer(email=f"c{moment.timestamp():.0f}-{number}@example.com",
                                     password=None)
            ids.append(customer.customer_id)
    return ids


def set_status(app, customer_id: str, status: str) -> None:
    # Locking, merging and erasing are other areas' services; the listing only reads the
    # status column, so the end state is set directly.
    with app.app_context():
        get_by_customer_id(customer_id).status = status
        db.session.commit()


def listing(app, token: str, **params):
    return app.test_client().get("/admin/api/customers", query_string=params,
                                 headers=auth(token))


def audit_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture
def population(app):
    """Seven customers: five a minute apart, then two created in the same instant (a tie
    that only the customer ID can order). Newest first."""
    ids = []
    for minute in range(5):
        ids += create_at(app, T0 + timedelta(minutes=minute))
    tie = create_at(app, T0 + timedelta(minutes=10), count=2)
    return sorted(tie, reverse=True) + list(reversed(ids))


def walk(app, token: str, **params) -> tuple[list[str], int]:
    """Every customer ID the listing shows, page by page; and how many pages it took."""
    seen, pages, cursor = [], 0, None
    while True:
        response = listing(app, token, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        pages += 1
        for item in response.json["items"]:
            assert set(item) == SUMMARY_KEYS
            seen.append(item["customer_id"])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return seen, pages
        assert len(cursor) <= 200


def test_pages_walk_everyone_newest_first_exactly_once(app, population, reader):
    seen, pages = walk(app, reader, limit=2)
    assert seen == population
    assert pages == 4


def test_the_default_page_is_fifty_and_the_last_page_has_no_cursor(app, reader):
    create_at(app, T0, count=51)
    first = listing(app, reader).json
    assert len(first["items"]) == 50 and first["next_cursor"]
    second = listing(app, reader, cursor=first["next_cursor"]).json
    assert len(second["items"]) == 1 and second["next_cursor"] is None


def test_customers_created_while_paging_are_neither_repeated_nor_skipping_others(
        app, population, reader):
    first = listing(app, reader, limit=3).json
    create_at(app, T0 + timedelta(days=1), count=2)      # newer than all: on no later page
    rest, _ = walk(app, reader, limit=3)
    second = listing(app, reader, limit=3, cursor=first["next_cursor"]).json
    assert [i["customer_id"] for i in first["items"]] == population[:3]
    assert [i["customer_id"] for i in second["items"]] == population[3:6]
    assert len(rest) == len(population) + 2


def test_merged_customers_are_left_out_unless_asked_for(app, population, reader):
    newest, locked, erased, merged = population[:4]
    set_status(app, locked, "locked")
    set_status(app, erased, "erased")
    set_status(app, merged, "merged")
    everyone, _ = walk(app, reader)
    assert merged not in everyone and {newest, locked, erased} <= set(everyone)
    assert len(everyone) == len(population) - 1
    assert walk(app, reader, status="merged")[0] == [merged]
    assert walk(app, reader, status="locked")[0] == [locked]
    assert walk(app, reader, status="erased")[0] == [erased]
    assert merged not in walk(app, reader, status="active")[0]
    statuses = {i["customer_id"]: i["status"] for i in listing(app, reader).json["items"]}
    assert statuses[erased] == "erased" and statuses[locked] == "locked"


@pytest.mark.parametrize("after, before, minutes", [
    ("2024-05-01T09:01:00Z", None, [10, 10, 4, 3, 2, 1]),           # after is inclusive
    (None, "2024-05-01T09:03:00Z", [2, 1, 0]),                      # before is exclusive
    ("2024-05-01T09:01:00", "2024-05-01T09:03:00", [2, 1]),         # naive means UTC
    ("2024-05-01T11:01:00+02:00", "2024-05-01 09:03:00.000z", [2, 1]),
    ("2024-05-01T09:02:30Z", "2024-05-01T09:02:31Z", []),
])
def test_the_creation_window(app, population, reader, after, before, minutes):
    params = {k: v for k, v in (("created_after", after), ("created_before", before)) if v}
    seen, _ = walk(app, reader, limit=1, **params)
    with app.app_context():
        created = [get_by_customer_id(c).created_at for c in seen]
    assert [int((moment - T0).total_seconds() // 60) for moment in created] == minutes


def test_filters_combine_and_unknown_parameters_are_ignored(app, population, reader):
    set_status(app, population[-1], "locked")
    response = listing(app, reader, status="locked", created_before="2024-05-01T09:00:01Z",
                       sort="name", page=3)
    assert response.status_code == 200
    assert [i["customer_id"] for i in response.json["items"]] == [population[-1]]


def test_each_call_is_audited_once_without_a_customer(app, population, reader):
    before = audit_count(app)
    first = listing(app, reader, limit=5, status="active").json
    listing(app, reader, limit=5, cursor=first["next_cursor"])
    assert audit_count(app) == before + 2
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "admin.customers_listed").order_by(AuditEvent.id)).all()
    assert [e.customer_id for e in events] == [None, None]
    assert [e.details["count"] for e in events] == [5, 2]
    assert events[0].details["status"] == "active" and events[0].details["more"] is True
    assert events[1].details["continued"] is True and events[1].details["more"] is False


def _forged_cursor(customer_id: str) -> str:
    """A well-formed cursor signed with a key other than the app's."""
    return URLSafeSerializer("not-the-secret-key", salt="tessera.admin.customer-listing") \
        .dumps([T0.isoformat(), customer_id])


def _unsigned_cursor(customer_id: str) -> str:
    payload = json.dumps([T0.isoformat(), customer_id]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize("name, value", [
    ("status", "deleted"),
    ("status", ""),
    ("status", "ACTIVE"),
    ("limit", "0"),
    ("limit", "201"),
    ("limit", "-1"),
    ("limit", "ten"),
    ("limit", "1.5"),
    ("limit", " 5"),
    ("limit", "99999999999999999999"),
    ("limit", ""),
    ("created_after", "yesterday"),
    ("created_after", "2024-05-01"),
    ("created_after", "2024-05-01T09"),
    ("created_after", "2024-13-01T00:00:00Z"),
    ("created_after", "2024-05-01T23:59:60Z"),
    ("created_before", "0001-01-01T00:00:00+23:59"),
    ("created_before", "9999-12-31T23:59:59-23:59"),
    ("created_before", "2024-05-01T09:00:00 UTC"),
    ("cursor", "garbage"),
    ("cursor", ""),
    ("cursor", "FORGED"),
    ("cursor", "UNSIGNED"),
    ("cursor", "TAMPERED"),
    ("cursor", "x" * 201),
])
def test_bad_parameters_are_400_and_not_audited(app, population, reader, name, value):
    if value in ("FORGED", "UNSIGNED", "TAMPERED"):
        real = listing(app, reader, limit=1).json["next_cursor"]
        value = {"FORGED": _forged_cursor(population[0]),
                 "UNSIGNED": _unsigned_cursor(population[0]),
                 "TAMPERED": real[:3] + ("A" if real[3] != "A" else "B") + real[4:]}[value]
    before = audit_count(app)
    problem = assert_problem(listing(app, reader, **{name: value}), 400, "invalid-query")
    assert problem["errors"][0]["field"] == name
    assert audit_count(app) == before
