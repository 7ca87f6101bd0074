"""Support changing a customer's directory entries on their behalf: identifiers (add,
verify, remove), linked accounts (link, unlink), the profile, and resolving many account
numbers at once. Each change needs If-Match, answers with the customer view and a new
ETag, is audited, tells the customer where it should, and on any refusal changes
nothing (checked in the database)."""
from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sqlalchemy import event, func, select

from app.directory.customers import PROFILE_FIELDS, get_by_customer_id, link_account
from app.extensions import db
from app.identity import customer_ids
from app.models import AuditEvent
from app.phones import bindings
from tests.admin.helpers import admin_token, assert_problem, auth, make_ada, read_customer
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import read_outbox

US_PHONE = "+14155552671"
GB_PHONE = "+447400123456"


@pytest.fixture
def ada(app):
    """A customer with a verified email, phone and username, and a billing account."""
    return make_ada(app)


@pytest.fixture
def grace(app):
    """Another customer, with a billing account of her own."""
    with app.app_context():
        customer = make_customer(email="grace@example.com", given_name="Grace",
                                 family_name="Hopper")
        link_account(customer, "billing", "B-2002", TEST_ORIGIN)
        db.session.commit()
        return customer.customer_id


def snapshot(app, customer_id: str) -> dict:
    """Everything a refused request must leave as it was."""
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        return {
            "version": customer.version,
            "profile": [getattr(customer, name) for name in PROFILE_FIELDS],
            "identifiers": sorted((i.kind, i.value, i.verified_at is not None)
                                  for i in customer.identifiers),
            "linked_accounts": sorted((link.system, link.account_number)
                                      for link in customer.linked_accounts),
            "bindings": sorted((b.e164, b.status)
                               for b in bindings.bindings_of(customer)),
            "events": db.session.scalar(select(func.count()).select_from(AuditEvent)),
            "outbox": len(read_outbox(app)),
        }


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)
                                       .order_by(AuditEvent.id)))


def identifier_id(app, token: str, customer_id: str, kind: str) -> int:
    body, _ = read_customer(app, token, customer_id)
    return next(i["id"] for i in body["identifiers"] if i["kind"] == kind)


def emails_to(app, address: str) -> list[dict]:
    return [m for m in read_outbox(app) if m["channel"] == "email" and m["to"] == address]


# ---- identifiers ----------------------------------------------------------------------------

def test_support_adds_an_email_and_the_customer_is_told(app, ada, writer, reader):
    _, etag = read_customer(app, reader, ada)
    response = app.test_client().post(
        f"/admin/api/customers/{ada}/identifiers", headers=auth(writer, **{"If-Match": etag}),
        json={"kind": "email", "value": " Ada.Work@Example.COM "})
    assert response.status_code == 201, response.text
    assert response.headers["ETag"] not in (etag, None)
    [added] = [i for i in response.json["identifiers"] if i["value"] == "Ada.Work@example.com"]
    assert added["kind"] == "email" and added["verified"] is False
    [admin_event] = events(app, "admin.identifier_added")
    assert admin_event.customer_id == ada and admin_event.details["kind"] == "email"
    assert admin_event.details["identifier_id"] == added["id"]
    assert len(events(app, "identifier.added")) == 4   # three at sign-up, this one
    [notice] = emails_to(app, "ada@example.com")
    assert notice["subject"] == "An email address was added to your account"
    assert "Ada.Work@example.com" in notice["body"]
    assert emails_to(app, "Ada.Work@example.com") == []   # not verified: not a channel yet


def test_a_phone_support_vouches_for_is_bound_verified_by_admin(app, ada, writer, reader):
    _, etag = read_customer(app, reader, ada)
    response = app.test_client().post(
        f"/admin/api/customers/{ada}/identifiers", headers=auth(writer, **{"If-Match": etag}),
        json={"kind": "phone", "value": "+44 7400 123456", "verified": True})
    assert response.status_code == 201, response.text
    assert {(i["value"], i["verified"]) for i in response.json["identifiers"]
            if i["kind"] == "phone"} == {(US_PHONE, True), (GB_PHONE, True)}
    assert GB_PHONE in {b["e164"] for b in response.json["phone_bindings"]}
    with app.app_context():
        binding = bindings.binding_of(get_by_customer_id(ada), GB_PHONE)
        assert binding.status == bindings.ACTIVE and binding.verified_by == "admin"
    subjects = {(m["channel"], m["to"]) for m in read_outbox(app)}
    assert ("email", "ada@example.com") in subjects and ("sms", US_PHONE) in subjects


def test_support_adds_a_username(app, ada, writer, reader):
    _, etag = read_customer(app, reader, ada)
    response = app.test_client().post(
        f"/admin/api/customers/{ada}/identifiers", headers=auth(writer, **{"If-Match": "*"}),
        json={"kind": "username", "value": "Countess_Ada", "verified": True})
    assert response.status_code == 201, response.text
    assert ("username", "countess_ada") in {(i["kind"], i["value"].lower())
                                            for i in response.json["identifiers"]}
    assert response.headers["ETag"] != etag
    assert read_outbox(app) == []    # no notice is defined for usernames


@pytest.mark.parametrize("kind, value, status, problem_kind", [
    ("email", "grace@EXAMPLE.com", 409, "identifier-taken"),      # another customer's
    ("email", "ADA@example.com", 409, "identifier-on-account"),   # already theirs
    ("email", "not-an-address", 422, "unprocessable"),
    ("phone", "12", 422, "unprocessable"),
    ("phone", "+1 415 555 267", 422, "unprocessable"),
    ("username", "x", 422, "unprocessable"),
    ("username", "7K3M9Q2PXW4DH", 422, "unprocessable"),           # reads as a customer ID
])
def test_identifiers_that_cannot_be_added_change_nothing(app, ada, grace, writer, reader,
                                                         kind, value, status, problem_kind):
    _, etag = read_customer(app, reader, ada)
    before = snapshot(app, ada)
    response = app.test_client().post(
        f"/admin/api/customers/{ada}/identifiers", headers=auth(writer, **{"If-Match": etag}),
        json={"kind": kind, "value": value})
    assert_problem(response, status, problem_kind)
    assert grace not in response.text     # taken, but never by whom
    assert snapshot(app, ada) == before


def test_support_verifies_an_identifier(app, writer, reader):
    with app.app_context():
        customer_id = make_customer(email="lin@example.com").customer_id
    _, etag = read_customer(app, reader, customer_id)
    added = app.test_client().post(
        f"/admin/api/customers/{customer_id}/identifiers",
        headers=auth(writer, **{"If-Match": etag}), json={"kind": "phone", "value": GB_PHONE})
    phone_id = next(i["id"] for i in added.json["identifiers"] if i["kind"] == "phone")
    assert added.json["phone_bindings"] == []     # unverified: no SMS login yet
    notices = len(read_outbox(app))

    response = app.test_client().post(
        f"/admin/api/customers/{customer_id}/identifiers/{phone_id}/verify",
        headers=auth(writer, **{"If-Match": added.headers["ETag"]}))
    assert response.status_code == 200, response.text
    [phone] = [i for i in response.json["identifiers"] if i["id"] == phone_id]
    assert phone["verified"] is True and phone["verified_at"]
    [binding] = response.json["phone_bindings"]
    assert binding["e164"] == GB_PHONE and binding["status"] == "active"
    assert response.headers["ETag"] != added.headers["ETag"]
    [event] = events(app, "admin.identifier_verified")
    assert event.details["newly_verified"] is True
    assert len(events(app, "identifier.verified")) == 1
    # Told once it can log in: by email, and by text to the newly trusted phone.
    assert {(m["channel"], m["to"]) for m in read_outbox(app)[notices:]} == {
        ("email", "lin@example.com"), ("sms", GB_PHONE)}


def test_removing_a_phone_releases_its_binding_and_tells_the_customer(app, ada, writer,
                                                                     reader):
    body, etag = read_customer(app, reader, ada)
    phone_id = next(i["id"] for i in body["identifiers"] if i["kind"] == "phone")
    response = app.test_client().delete(f"/admin/api/customers/{ada}/identifiers/{phone_id}",
                                        headers=auth(writer, **{"If-Match": etag}))
    assert response.status_code == 200, response.text
    assert "phone" not in {i["kind"] for i in response.json["identifiers"]}
    assert response.json["phone_bindings"][0]["status"] == "released"
    [notice] = emails_to(app, "ada@example.com")
    assert notice["subject"] == "A phone number was removed from your account"
    assert [m for m in read_outbox(app) if m["channel"] == "sms"] == []  # not to the number
    assert len(events(app, "admin.identifier_removed")) == 1
    assert len(events(app, "identifier.removed")) == 1


def test_a_removed_verified_email_address_hears_of_it_too(app, ada, writer, reader):
    body, etag = read_customer(app, reader, ada)
    email_id = next(i["id"] for i in body["identifiers"] if i["kind"] == "email")
    response = app.test_client().delete(f"/admin/api/customers/{ada}/identifiers/{email_id}",
                                        headers=auth(writer, **{"If-Match": etag}))
    assert response.status_code == 200, response.text
    [notice] = emails_to(app, "ada@example.com")
    assert notice["subject"] == "An email address was removed from your account"
    assert any(m["channel"] == "sms" and m["to"] == US_PHONE for m in read_outbox(app))


def test_the_last_identifier_cannot_be_removed(app, writer, reader):
    with app.app_context():
        customer_id = make_customer(email="solo@example.com").customer_id
    body, etag = read_customer(app, reader, customer_id)
    before = snapshot(app, customer_id)
    response = app.test_client().delete(
        f"/admin/api/customers/{customer_id}/identifiers/{body['identifiers'][0]['id']}",
        headers=auth(writer, **{"If-Match": etag}))
    assert_problem(response, 409, "last-identifier")
    assert snapshot(app, customer_id) == before


@pytest.mark.parametrize("method, suffix", [("POST", "/verify"), ("DELETE", "")])
@pytest.mark.parametrize("which", ["another customer's", "unknown", "not a number",
                                   "too big"])
def test_identifier_ids_not_of_this_customer_are_404(app, ada, grace, writer, reader,
                                                     method, suffix, which):
    _, etag = read_customer(app, reader, ada)
    graces = identifier_id(app, reader, grace, "email")
    wanted = {"another customer's": graces, "unknown": graces + 1000, "not a number": "1x",
              "too big": "9" * 40}[which]
    before, graces_before = snapshot(app, ada), snapshot(app, grace)
    response = app.test_client().open(
        f"/admin/api/customers/{ada}/identifiers/{wanted}{suffix}", method=method,
        headers=auth(writer, **{"If-Match": etag}))
    assert_problem(response, 404, "unknown-identifier")
    assert snapshot(app, ada) == before and snapshot(app, grace) == graces_before


# ---- linked accounts ------------------------------------------------------------------------

def test_support_links_and_unlinks_an_account_number(app, ada, writer, reader):
    _, etag = read_customer(app, reader, ada)
    linked = app.test_client().post(
        f"/admin/api/customers/{ada}/linked-accounts",
        headers=auth(writer, **{"If-Match": etag}),
        json={"system": " CRM ", "account_number": " 2024/ab 17?#%"})
    assert linked.status_code == 201, linked.text
    assert {"system": "crm", "account_number": "2024/ab 17?#%"} in linked.json["linked_accounts"]
    [event] = events(app, "admin.linked_account_added")
    assert event.details["system"] == "crm"

    path = f"/admin/api/customers/{ada}/linked-accounts/CRM/{quote('2024/ab 17?#%', safe='')}"
    unlinked = app.test_client().delete(
        path, headers=auth(writer, **{"If-Match": linked.headers["ETag"]}))
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json["linked_accounts"] == [{"system": "billing",
                                                 "account_number": "B-1001"}]
    assert unlinked.headers["ETag"] != linked.headers["ETag"]
    assert len(events(app, "admin.linked_account_removed")) == 1
    assert len(events(app, "linked_account.removed")) == 1


def test_an_unescaped_slash_in_the_account_number_is_part_of_it(app, ada, writer, reader):
    with app.app_context():
        link_account(get_by_customer_id(ada), "crm", "A/B/C", TEST_ORIGIN)
        db.session.commit()
    _, etag = read_customer(app, reader, ada)
    response = app.test_client().delete(f"/admin/api/customers/{ada}/linked-accounts/crm/A/B/C",
                                        headers=auth(writer, **{"If-Match": etag}))
    assert response.status_code == 200, response.text
    assert ("crm", "A/B/C") not in {(a["system"], a["account_number"])
                                    for a in response.json["linked_accounts"]}


@pytest.mark.parametrize("system, number, status, problem_kind", [
    ("billing", "B-2002", 409, "account-already-linked"),    # grace's
    ("BILLING", "B-1001", 409, "account-already-linked"),    # ada's own already
    ("bad system!", "B-1", 422, "unprocessable"),
    ("billing", "   ", 422, "unprocessable"),
    ("billing", "B\u00001", 422, "unprocessable"),
    ("billing", "\ud800", 422, "unprocessable"),
])
def test_account_numbers_that_cannot_be_linked_change_nothing(app, ada, grace, writer, reader,
                                                              system, number, status,
                                                              problem_kind):
    _, etag = read_customer(app, reader, ada)
    before, graces_before = snapshot(app, ada), snapshot(app, grace)
    response = app.test_client().post(
        f"/admin/api/customers/{ada}/linked-accounts",
        headers=auth(writer, **{"If-Match": etag}),
        json={"system": system, "account_number": number})
    assert_problem(response, status, problem_kind)
    assert grace not in response.text
    assert snapshot(app, ada) == before and snapshot(app, grace) == graces_before


@pytest.mark.parametrize("tail, status", [
    ("billing/B-2002", 404),     # grace's link, not ada's
    ("billing/B-9999", 404),
    ("crm/B-1001", 404),
    ("bad%20system!/B-1001", 400),
    ("billing/%01", 400),
])
def test_unlinking_what_the_customer_has_not_changes_nothing(app, ada, grace, writer, reader,
                                                             tail, status):
    _, etag = read_customer(app, reader, ada)
    before, graces_before = snapshot(app, ada), snapshot(app, grace)
    response = app.test_client().delete(f"/admin/api/customers/{ada}/linked-accounts/{tail}",
                                        headers=auth(writer, **{"If-Match": etag}))
    assert_problem(response, status)
    assert snapshot(app, ada) == before and snapshot(app, grace) == graces_before


# ---- resolving account numbers --------------------------------------------------------------

def test_resolve_answers_in_the_order_given_and_audits_counts_only(app, ada, grace, reader):
    numbers = ["B-2002", "nope", " B-1001 ", "B-1001", "b-1001"]
    response = app.test_client().post("/admin/api/linked-accounts/resolve",
                                      headers=auth(reader),
                                      json={"system": "Billing", "account_numbers": numbers})
    assert response.status_code == 200, response.text
    assert response.json == {"system": "billing", "results": [
        {"account_number": "B-2002", "customer_id": grace},
        {"account_number": "nope", "customer_id": None},
        {"account_number": " B-1001 ", "customer_id": ada},
        {"account_number": "B-1001", "customer_id": ada},
        {"account_number": "b-1001", "customer_id": None},   # numbers keep their case
    ]}
    [event] = events(app, "admin.linked_accounts_resolved")
    assert event.customer_id is None
    assert event.details["count"] == 5 and event.details["found"] == 3
    assert "B-1001" not in str(event.details) and "B-2002" not in str(event.details)


def test_resolve_reads_a_thousand_numbers_in_a_couple_of_queries(app, ada, reader):
    numbers = [f"N-{index}" for index in range(999)] + ["B-1001"]
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "linked_accounts" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = app.test_client().post(
            "/admin/api/linked-accounts/resolve", headers=auth(reader),
            json={"system": "billing", "account_numbers": numbers})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text
    results = response.json["results"]
    assert len(results) == 1000 and results[-1] == {"account_number": "B-1001",
                                                     "customer_id": ada}
    assert all(r["customer_id"] is None for r in results[:-1])
    assert len(statements) == 2      # 500 numbers a query


@pytest.mark.parametrize("body, field", [
    ({"system": "billing", "account_numbers": ["ok", "ok", "\u0007"]}, "account_numbers[2]"),
    ({"system": "billing", "account_numbers": ["ok", 7]}, "account_numbers[1]"),
    ({"system": "billing", "account_numbers": [" "]}, "account_numbers[0]"),
    ({"system": "billing", "account_numbers": ["x" * 129]}, "account_numbers[0]"),
    ({"system": "billing", "account_numbers": []}, "account_numbers"),
    ({"system": "billing", "account_numbers": ["a"] * 1001}, "account_numbers"),
    ({"system": "billing", "account_numbers": "B-1001"}, "account_numbers"),
    ({"system": "billing"}, "account_numbers"),
    ({"system": "no spaces", "account_numbers": ["B-1001"]}, "system"),
    ({"system": 5, "account_numbers": ["B-1001"]}, "system"),
    ({"account_numbers": ["B-1001"]}, "system"),
    ({"system": "billing", "account_numbers": ["B-1001"], "limit": 3}, "limit"),
])
def test_resolve_refuses_bad_input_naming_the_item(app, ada, reader, body, field):
    before = snapshot(app, ada)
    response = app.test_client().post("/admin/api/linked-accounts/resolve",
                                      headers=auth(reader), json=body)
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == field
    assert snapshot(app, ada) == before


def test_resolve_lists_every_bad_item(app, reader):
    response = app.test_client().post(
        "/admin/api/linked-accounts/resolve", headers=auth(reader),
        json={"system": "billing", "account_numbers": ["\u0000", "fine", "", "x" * 200]})
    problem = assert_problem(response, 400, "invalid-body")
    assert [e["field"] for e in problem["errors"]] == [
        "account_numbers[0]", "account_numbers[2]", "account_numbers[3]"]


# ---- profile --------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "application/merge-patch+json"])
def test_support_updates_the_profile_as_a_merge_patch(app, ada, writer, reader, content_type):
    _, etag = read_customer(app, reader, ada)
    response = app.test_client().patch(
        f"/admin/api/customers/{ada}", headers=auth(writer, **{"If-Match": etag}),
        data=json.dumps({"given_name": "  Augusta\u00a0Ada ", "family_name": None,
                         "nickname": "Ada", "locale": "EN-gb"}), content_type=content_type)
    assert response.status_code == 200, response.text
    view = response.json
    assert (view["given_name"], view["family_name"], view["nickname"], view["locale"]) == (
        "Augusta Ada", None, "Ada", "en-GB")
    assert view["name"] == "Augusta Ada"
    assert response.headers["ETag"] != etag
    [event] = events(app, "admin.profile_updated")
    assert event.details["fields"] == ["given_name", "family_name", "nickname", "locale"]
    assert "Augusta" not in str(event.details) and "Lovelace" not in str(event.details)
    [change] = events(app, "profile.updated")
    assert change.customer_id == ada and change.details["fields"] == event.details["fields"]


def test_a_patch_that_changes_nothing_names_no_field(app, ada, writer, reader):
    _, etag = read_customer(app, reader, ada)
    response = app.test_client().patch(f"/admin/api/customers/{ada}",
                                       headers=auth(writer, **{"If-Match": etag}),
                                       json={"given_name": "Ada", "middle_name": None})
    assert response.status_code == 200, response.text
    assert events(app, "admin.profile_updated")[0].details["fields"] == []
    assert events(app, "profile.updated") == []


@pytest.mark.parametrize("patch, status, field", [
    ({}, 400, None),
    ({"given_name": "x" * 101}, 400, "given_name"),
    ({"given_name": 7}, 400, "given_name"),
    ({"locale": ["en"]}, 400, "locale"),
    ({"name": "Ada"}, 400, "name"),
    ({"customer_id": "X"}, 400, "customer_id"),
    ({"given_name": "Ada\u0000"}, 422, "given_name"),
    ({"nickname": "A\u202eda"}, 422, "nickname"),
    ({"locale": "english!"}, 422, "locale"),
    ({"locale": ""}, 422, "locale"),
    ({"locale": " en"}, 422, "locale"),
    ({"family_name": "Byron", "locale": "e"}, 422, "locale"),
])
def test_bad_profile_patches_change_nothing(app, ada, writer, reader, patch, status, field):
    _, etag = read_customer(app, reader, ada)
    before = snapshot(app, ada)
    response = app.test_client().patch(f"/admin/api/customers/{ada}",
                                       headers=auth(writer, **{"If-Match": etag}), json=patch)
    problem = assert_problem(response, status)
    if field:
        assert problem["errors"][0]["field"] == field
    assert snapshot(app, ada) == before


# ---- what every write endpoint refuses ------------------------------------------------------

WRITES = {
    "add identifier": ("POST", "/identifiers", {"kind": "email", "value": "x@example.com"}),
    "link account": ("POST", "/linked-accounts", {"system": "crm", "account_number": "C-1"}),
    "patch profile": ("PATCH", "", {"nickname": "Countess"}),
    "verify identifier": ("POST", "/identifiers/{email_id}/verify", None),
    "remove identifier": ("DELETE", "/identifiers/{email_id}", None),
    "unlink account": ("DELETE", "/linked-accounts/billing/B-1001", None),
}
WITH_BODY = [name for name, (_, _, body) in WRITES.items() if body is not None]


def _write(app, token, customer_id, name, *, email_id=0, etag="*", **request):
    method, suffix, body = WRITES[name]
    if body is not None and not request:
        request = {"json": body}
    return app.test_client().open(
        f"/admin/api/customers/{customer_id}{suffix.format(email_id=email_id)}",
        method=method, headers=auth(token, **{"If-Match": etag}), **request)


@pytest.mark.parametrize("name", list(WRITES))
@pytest.mark.parametrize("which, status, kind", [
    ("typo", 400, "invalid-customer-id"),
    ("garbage", 400, "invalid-customer-id"),
    ("unknown", 404, "unknown-customer"),
    ("erased", 409, "customer-erased"),
])
def test_writes_refuse_a_bad_customer_and_change_nothing(app, ada, grace, writer, reader,
                                                         name, which, status, kind):
    if which == "erased":
        with app.app_context():
            # The erasure service is another area's; its end state is what counts here.
            get_by_customer_id(grace).status = "erased"
            db.session.commit()
    target = {"typo": ada[:-1] + ("0" if ada[-1] != "0" else "1"), "garbage": "not-an-id!",
              "unknown": customer_ids.generate(), "erased": grace}[which]
    email_id = identifier_id(app, reader, ada, "email")
    before, graces_before = snapshot(app, ada), snapshot(app, grace)
    response = _write(app, writer, target, name, email_id=email_id)
    assert_problem(response, status, kind)
    assert snapshot(app, ada) == before and snapshot(app, grace) == graces_before


@pytest.mark.parametrize("name", WITH_BODY)
@pytest.mark.parametrize("case, status, kind", [
    ("text/plain", 415, "unsupported-media-type"),
    ("no body", 415, "unsupported-media-type"),
    ("invalid json", 400, "invalid-json"),
    ("not utf-8", 400, "invalid-json"),
    ("deeply nested", 400, "invalid-json"),
    ("array", 400, "invalid-body"),
    ("null", 400, "invalid-body"),
    ("unknown member", 400, "invalid-body"),
    ("wrong type", 400, "invalid-body"),
])
def test_writes_refuse_bad_bodies_and_change_nothing(app, ada, writer, name, case, status,
                                                     kind):
    body = WRITES[name][2]
    first = next(iter(body))
    request = {
        "text/plain": {"data": "kind=email", "content_type": "text/plain"},
        "no body": {},
        "invalid json": {"data": "{\"kind\": ", "content_type": "application/json"},
        "not utf-8": {"data": b"{\"kind\": \"\xff\"}", "content_type": "application/json"},
        "deeply nested": {"data": "{\"kind\": " + "[" * 20000 + "]" * 20000 + "}",
                          "content_type": "application/json"},
        "array": {"json": [body]},
        "null": {"data": "null", "content_type": "application/json"},
        "unknown member": {"json": body | {"admin": True}},
        "wrong type": {"json": body | {first: {"nested": 1}}},
    }[case]
    before = snapshot(app, ada)
    response = _write(app, writer, ada, name, **request) if request else \
        app.test_client().open(f"/admin/api/customers/{ada}{WRITES[name][1]}",
                               method=WRITES[name][0], headers=auth(writer, **{"If-Match": "*"}))
    assert_problem(response, status, kind)
    assert snapshot(app, ada) == before


@pytest.mark.parametrize("name", [*WITH_BODY, "resolve"])
def test_oversized_bodies_are_413_and_change_nothing(make_app, name):
    app = make_app(ADMIN_MAX_BODY_BYTES=256)
    with app.app_context():
        ada = make_customer().customer_id
    token = admin_token(app, "admin:read admin:write")
    before = snapshot(app, ada)
    if name == "resolve":
        response = app.test_client().post(
            "/admin/api/linked-accounts/resolve", headers=auth(token),
            json={"system": "billing", "account_numbers": ["B-1001"] * 40})
    else:
        method, suffix, body = WRITES[name]
        padded = {key: value + " " * 300 if isinstance(value, str) else value
                  for key, value in body.items()}
        response = app.test_client().open(f"/admin/api/customers/{ada}{suffix}", method=method,
                                          headers=auth(token, **{"If-Match": "*"}),
                                          json=padded)
    assert_problem(response, 413)
    assert snapshot(app, ada) == before


@pytest.mark.parametrize("name", list(WRITES))
def test_writes_need_if_match(app, ada, writer, reader, name):
    email_id = identifier_id(app, reader, ada, "email")
    before = snapshot(app, ada)
    method, suffix, body = WRITES[name]
    response = app.test_client().open(
        f"/admin/api/customers/{ada}{suffix.format(email_id=email_id)}", method=method,
        headers=auth(writer), **({"json": body} if body is not None else {}))
    assert_problem(response, 428, "if-match-required")
    assert snapshot(app, ada) == before


@pytest.mark.parametrize("name", list(WRITES))
def test_writes_need_the_write_scope(app, ada, reader, name):
    email_id = identifier_id(app, reader, ada, "email")
    before = snapshot(app, ada)
    response = _write(app, reader, ada, name, email_id=email_id)
    assert_problem(response, 403)
    assert snapshot(app, ada) == before
