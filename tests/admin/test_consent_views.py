"""The admin API's communication consents (app/admin/consent_views.py): reading the choices
now and their history, recording what the customer asked support for (source "admin",
If-Match required), every bad input refused with the field path and nothing changed, an
outdated wording 422, a stale or missing ETag 412/428, an erased customer 409."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
import time_machine
from sqlalchemy import func, select

from app.admin.openapi import document
from app.directory import communication_consents as consents
from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.identity import customer_ids
from app.identity.customer_ids import format_for_people
from app.models import AuditEvent, CommunicationConsent, Customer
from tests.admin.helpers import admin_token, assert_problem, auth, read_customer
from tests.factories import TEST_ORIGIN, make_customer

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CURRENT = consents.WORDINGS[("email", "marketing")].version
OPERATOR = {"X-Operator": "agent.smith", "X-Reason": "call 81"}
OPERATIONS = schemathesis.openapi.from_dict(document("http://127.0.0.1"))[
    "/customers/{customer_id}/consents"]


@pytest.fixture
def ada(app) -> str:
    with app.app_context():
        return make_customer().customer_id


@pytest.fixture
def writer(app) -> str:
    return admin_token(app, "admin:read admin:write")


def consents_path(customer_id: str) -> str:
    return f"/admin/api/customers/{customer_id}/consents"


def documented(response, method: str):
    """The response, once checked against the OpenAPI document (status, headers, body)."""
    OPERATIONS[method].validate_response(response)
    return response


def get(app, token: str, customer_id: str, **headers):
    return documented(app.test_client().get(consents_path(customer_id),
                                            headers=auth(token, **headers)), "GET")


def put(app, token: str, customer_id: str, body=None, **headers):
    return documented(app.test_client().put(consents_path(customer_id), json=body,
                                            headers=auth(token, **headers)), "PUT")


def change(channel="email", purpose="marketing", granted=True, **extra) -> dict:
    return {"channel": channel, "purpose": purpose, "granted": granted, **extra}


def snapshot(app, customer_id: str) -> tuple:
    """What a refused call must leave alone: version, consent rows, audit events."""
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        return (customer.version,
                db.session.scalar(select(func.count()).select_from(CommunicationConsent)),
                db.session.scalar(select(func.count()).select_from(AuditEvent)))


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)
                                        .order_by(AuditEvent.id)))
        db.session.expunge_all()
        return found


def granted(body: dict) -> dict[tuple[str, str], bool]:
    return {(s["channel"], s["purpose"]): s["granted"] for s in body["current"]}


# ---- reading ------------------------------------------------------------------------------

def test_a_new_customer_has_granted_nothing(app, ada):
    token = admin_token(app)
    _, view_etag = read_customer(app, token, ada)

    response = get(app, token, format_for_people(ada), **OPERATOR)

    assert response.status_code == 200
    assert response.headers["ETag"] == view_etag
    body = response.json
    assert body["customer_id"] == ada and body["history"] == []
    assert [(s["channel"], s["purpose"], s["granted"], s["recorded_at"], s["source"])
            for s in body["current"]] == [
        ("email", "marketing", False, None, None), ("email", "service", False, None, None),
        ("sms", "marketing", False, None, None), ("sms", "service", False, None, None)]
    assert "resolved_from" not in body
    [event] = events(app, "admin.consents_viewed")
    assert event.customer_id == ada
    assert event.details["operator"] == "agent.smith" and event.details["reason"] == "call 81"


def test_the_history_shows_every_decision_with_source_actor_and_wording(app, ada):
    with app.app_context():
        customer = get_by_customer_id(ada)
        with time_machine.travel(START, tick=False):
            consents.record(customer, "email", "marketing", True, "signup", TEST_ORIGIN)
            db.session.commit()
        with time_machine.travel(START.replace(day=9), tick=False):
            consents.record(customer, "email", "marketing", False, "account", TEST_ORIGIN)
            db.session.commit()

    response = get(app, admin_token(app), ada)

    assert response.status_code == 200
    assert response.json["history"] == [
        {"channel": "email", "purpose": "marketing", "granted": True,
         "wording_version": CURRENT, "source": "signup", "actor": "test",
         "recorded_at": START.isoformat()},
        {"channel": "email", "purpose": "marketing", "granted": False,
         "wording_version": CURRENT, "source": "account", "actor": "test",
         "recorded_at": START.replace(day=9).isoformat()}]
    [email_marketing] = [s for s in response.json["current"]
                         if (s["channel"], s["purpose"]) == ("email", "marketing")]
    assert email_marketing == {"channel": "email", "purpose": "marketing", "granted": False,
                               "recorded_at": START.replace(day=9).isoformat(),
                               "source": "account", "wording_version": CURRENT}


def test_a_merged_id_shows_the_survivors_consents(app, ada):
    with app.app_context():
        survivor = get_by_customer_id(ada)
        absorbed = make_customer(email="ada.old@example.com")
        absorbed.status, absorbed.merged_into_pk = "merged", survivor.id
        consents.record(survivor, "sms", "service", True, "account", TEST_ORIGIN)
        db.session.commit()
        absorbed_id = absorbed.customer_id

    response = get(app, admin_token(app), absorbed_id)

    assert response.status_code == 200
    assert response.json["customer_id"] == ada
    assert response.json["resolved_from"] == absorbed_id
    assert granted(response.json)[("sms", "service")] is True


def test_an_erased_customer_is_409_for_reading_and_changing(app, ada, writer):
    with app.app_context():
        get_by_customer_id(ada).status = "erased"
        db.session.commit()
    before = snapshot(app, ada)

    assert_problem(get(app, writer, ada), 409, "customer-erased")
    assert_problem(put(app, writer, ada, {"changes": [change()]}, **{"If-Match": "*"}), 409,
                   "customer-erased")
    assert snapshot(app, ada) == before


def test_unknown_and_malformed_ids(app, ada, writer):
    unknown = customer_ids.generate()
    typo = ada[:-1] + ("0" if ada[-1] != "0" else "1")
    assert_problem(get(app, writer, unknown), 404, "unknown-customer")
    assert_problem(get(app, writer, typo), 400, "invalid-customer-id")
    assert_problem(put(app, writer, unknown, {"changes": [change()]}, **{"If-Match": "*"}),
                   404, "unknown-customer")


# ---- changing -----------------------------------------------------------------------------

def test_support_records_what_the_customer_asked_for(app, ada, writer):
    _, etag = read_customer(app, writer, ada)

    response = put(app, writer, ada, {"changes": [
        change("email", "marketing", True),
        change("sms", "service", True, wording_version=CURRENT)]},
        **{"If-Match": etag}, **OPERATOR)

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] != etag
    assert granted(response.json) == {("email", "marketing"): True,
                                      ("email", "service"): False,
                                      ("sms", "marketing"): False,
                                      ("sms", "service"): True}
    history = response.json["history"]
    assert {(h["channel"], h["purpose"], h["granted"], h["source"], h["wording_version"])
            for h in history} == {("email", "marketing", True, "admin", CURRENT),
                                  ("sms", "service", True, "admin", CURRENT)}
    assert all(h["actor"].startswith("admin:") and h["actor"].endswith(":agent.smith")
               for h in history)
    # The customer view shows the same choices, and the ETag of the answer is its ETag.
    view, view_etag = read_customer(app, writer, ada)
    assert view_etag == response.headers["ETag"]
    assert view["communication_consents"] == response.json["current"]
    [audited] = events(app, "admin.consents_changed")
    assert audited.details["changes"] == [
        {"channel": "email", "purpose": "marketing", "granted": True},
        {"channel": "sms", "purpose": "service", "granted": True}]
    assert audited.details["unchanged"] == 0 and audited.details["reason"] == "call 81"
    assert len(events(app, "communication_consent.given")) == 2


def test_withdrawing_is_recorded_and_an_unchanged_choice_records_nothing(app, ada, writer):
    with app.app_context():
        consents.record(get_by_customer_id(ada), "sms", "marketing", True, "signup",
                        TEST_ORIGIN)
        db.session.commit()
    _, etag = read_customer(app, writer, ada)

    response = put(app, writer, ada, {"changes": [
        change("sms", "marketing", False), change("email", "service", False)]},
        **{"If-Match": etag})

    assert response.status_code == 200, response.text
    assert granted(response.json)[("sms", "marketing")] is False
    assert [(h["granted"], h["source"]) for h in response.json["history"]] == [
        (True, "signup"), (False, "admin")]
    [audited] = events(app, "admin.consents_changed")
    assert audited.details["changes"] == [
        {"channel": "sms", "purpose": "marketing", "granted": False}]
    assert audited.details["unchanged"] == 1
    assert len(events(app, "communication_consent.withdrawn")) == 1


BAD_BODIES = [
    ("no-changes", {}, "changes"),
    ("changes-null", {"changes": None}, "changes"),
    ("changes-not-a-list", {"changes": "email"}, "changes"),
    ("changes-empty", {"changes": []}, "changes"),
    ("too-many-changes", {"changes": [change("email", "marketing"), change("email", "service"),
                                      change("sms", "marketing"), change("sms", "service"),
                                      change("email", "marketing", False)]}, "changes"),
    ("unknown-member", {"changes": [change()], "reason": "asked"}, "reason"),
    ("item-not-an-object", {"changes": [change(), ["email", "marketing"]]}, "changes[1]"),
    ("unknown-channel", {"changes": [change(channel="fax")]}, "changes[0].channel"),
    ("channel-not-a-string", {"changes": [change(channel=1)]}, "changes[0].channel"),
    ("no-channel", {"changes": [{"purpose": "service", "granted": True}]},
     "changes[0].channel"),
    ("unknown-purpose-in-second-item",
     {"changes": [change(), change("sms", "surveys")]}, "changes[1].purpose"),
    ("no-granted", {"changes": [{"channel": "sms", "purpose": "service"}]},
     "changes[0].granted"),
    ("granted-null", {"changes": [change(granted=None)]}, "changes[0].granted"),
    ("granted-a-string", {"changes": [change(granted="true")]}, "changes[0].granted"),
    ("granted-a-number", {"changes": [change(granted=1)]}, "changes[0].granted"),
    ("unknown-item-member", {"changes": [change(note="on the phone")]}, "changes[0].note"),
    ("wording-not-a-string", {"changes": [change(wording_version=20261101)]},
     "changes[0].wording_version"),
    ("wording-too-long", {"changes": [change(wording_version="2" * 33)]},
     "changes[0].wording_version"),
    ("same-pair-twice", {"changes": [change(granted=True), change(granted=False)]},
     "changes[1]"),
]


@pytest.mark.parametrize(("body", "field"), [case[1:] for case in BAD_BODIES],
                         ids=[case[0] for case in BAD_BODIES])
def test_a_bad_body_is_400_with_the_field_and_changes_nothing(app, ada, writer, body, field):
    _, etag = read_customer(app, writer, ada)
    before = snapshot(app, ada)

    problem = assert_problem(put(app, writer, ada, body, **{"If-Match": etag}), 400,
                             "invalid-body")

    assert problem["errors"][0]["field"] == field
    assert problem["detail"].startswith(field + ":")
    assert snapshot(app, ada) == before


@pytest.mark.parametrize(("data", "content_type", "status", "kind"), [
    ("{not json", "application/json", 400, "invalid-json"),
    ('[{"channel": "email"}]', "application/json", 400, "invalid-body"),
    ("changes=email", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
])
def test_a_body_that_is_not_a_json_object_changes_nothing(app, ada, writer, data,
                                                           content_type, status, kind):
    _, etag = read_customer(app, writer, ada)
    before = snapshot(app, ada)

    response = documented(app.test_client().put(
        consents_path(ada), data=data, content_type=content_type,
        headers=auth(writer, **{"If-Match": etag})), "PUT")

    assert_problem(response, status, kind)
    assert snapshot(app, ada) == before


@pytest.mark.parametrize("version", ["2020-01-01", "", "2026-11-01 "])
def test_an_outdated_wording_is_422_and_no_change_is_kept(app, ada, writer, version):
    _, etag = read_customer(app, writer, ada)
    before = snapshot(app, ada)

    response = put(app, writer, ada, {"changes": [
        change("email", "marketing"), change("sms", "marketing", wording_version=version)]},
        **{"If-Match": etag})

    problem = assert_problem(response, 422, "unprocessable")
    assert problem["errors"] == [{"field": "changes[1].wording_version",
                                  "message": problem["errors"][0]["message"]}]
    assert CURRENT in problem["detail"]
    assert snapshot(app, ada) == before


def test_if_match_is_required_and_a_stale_one_is_refused(app, ada, writer):
    with app.app_context():
        other = make_customer(email="grace@example.com")
        other_etag = f'"{other.customer_id}.{other.version}"'
    _, etag = read_customer(app, writer, ada)
    body = {"changes": [change()]}
    before = snapshot(app, ada)

    assert_problem(put(app, writer, ada, body), 428, "if-match-required")
    assert_problem(put(app, writer, ada, body, **{"If-Match": other_etag}), 412, "stale-etag")
    assert_problem(put(app, writer, ada, body, **{"If-Match": 'W/' + etag}), 412,
                   "stale-etag")
    assert snapshot(app, ada) == before

    first = put(app, writer, ada, body, **{"If-Match": etag})
    assert first.status_code == 200
    after_first = snapshot(app, ada)
    # Another change with the ETag read before the first one: it is stale now.
    assert_problem(put(app, writer, ada, {"changes": [change(granted=False)]},
                       **{"If-Match": etag}), 412, "stale-etag")
    assert snapshot(app, ada) == after_first
    # With the ETag of the answer, the next change goes through.
    second = put(app, writer, ada, {"changes": [change(granted=False)]},
                 **{"If-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert granted(second.json)[("email", "marketing")] is False


def test_reading_needs_only_admin_read_and_changing_needs_admin_write(app, ada):
    reader = admin_token(app, "admin:read")
    _, etag = read_customer(app, reader, ada)
    before = snapshot(app, ada)

    response = put(app, reader, ada, {"changes": [change()]}, **{"If-Match": etag})

    assert_problem(response, 403, "insufficient-scope")
    assert snapshot(app, ada) == before
    with app.app_context():
        assert db.session.scalar(select(Customer.version).where(
            Customer.customer_id == ada)) == int(etag.strip('"').split(".")[1])
