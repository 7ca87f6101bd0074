"""Phones and emails on the account page (app/web/account_identifiers.py), through the
Flask test client: adding one proved by a code (SMS or email from the console outbox),
refusing bad input with nothing changed, never revealing another customer's number or
address, removing one with the re-authentication, ownership and last-login rules, and the
"Phones and emails" partial. Every test runs on SQLite and on PostgreSQL (`app`)."""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from flask import render_template_string
from sqlalchemy import select

from app.auth.levels import ACR_MULTI_FACTOR, AMR_SMS
from app.auth.sessions import start_session
from app.directory.customers import add_identifier, normalize_identifier
from app.extensions import db
from app.models import AuditEvent, Customer, Identifier, VerificationCode
from app.web.account_identifiers import PENDING_EMAIL, PENDING_PHONE
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, last_code, read_outbox

ADA = "ada@example.com"
GRACE = "grace@example.com"
PHONE = "+14155552671"          # typed as "(415) 555-2671" (DEFAULT_REGION US)
OTHER_PHONE = "+12015550123"
# As the pages show them (the `phone` filter: national format in the default region).
PHONE_SHOWN, OTHER_PHONE_SHOWN = "(415) 555-2671", "(201) 555-0123"
NEW_EMAIL = "ada.work@example.org"
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CSRF_VALUE_RE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')


# ---- helpers -----------------------------------------------------------------------------

def login(client, email: str = ADA) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                           "identifier": email, "password": STRONG_PASSWORD})
    assert response.status_code == 303, response.text


def customer_with(app, email: str | None = ADA, phone: str | None = None, **options) -> int:
    """Create a customer (verified identifiers, the test password); return its pk."""
    with app.app_context():
        return make_customer(email=email, phone=phone, **options).id


def logged_in(app, email: str = ADA, phone: str | None = None):
    """A new test client logged in as a new customer; (client, customer pk)."""
    pk = customer_with(app, email, phone)
    client = app.test_client()
    login(client, email)
    return client, pk


def post_form(client, path: str, **data):
    """GET `path` for a CSRF token, then POST `data` to it."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_token(page.text), **data})


def add_phone(client, number: str):
    return post_form(client, "/account/phones/add", phone=number)


def add_email(client, address: str):
    return post_form(client, "/account/emails/add", email=address)


def verify(client, kind: str, code: str):
    return post_form(client, f"/account/{kind}s/verify", code=code)


def fresh_token(client) -> str:
    """A CSRF token of the client's session (from a page that has a form)."""
    return csrf_token(client.get("/account/emails/add").text)


def remove(client, identifier_id: int, token: str | None = "fetch"):
    data = {} if token is None else {
        "csrf_token": fresh_token(client) if token == "fetch" else token}
    return client.post(f"/account/identifiers/{identifier_id}/remove", data=data)


def identifiers(app, pk: int) -> dict[str, bool]:
    """A customer's identifiers: value -> verified."""
    with app.app_context():
        rows = db.session.scalars(select(Identifier).where(Identifier.customer_pk == pk))
        return {row.value: row.verified_at is not None for row in rows}


def identifier_id(app, value: str) -> int:
    with app.app_context():
        return db.session.scalars(select(Identifier.id).where(Identifier.value == value)).one()


def events(app, name: str, pk: int | None = None) -> list[dict]:
    """Details of the audit events `name` (of one customer when `pk` is given)."""
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.id)
        if pk is not None:
            query = query.where(AuditEvent.customer_id == db.session.get(Customer, pk).customer_id)
        return [event.details for event in db.session.scalars(query)]


def code_rows(app) -> list[VerificationCode]:
    with app.app_context():
        rows = list(db.session.scalars(select(VerificationCode).order_by(VerificationCode.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def sent_to(app, to: str, channel: str | None = None) -> list[dict]:
    return [m for m in read_outbox(app)
            if m["to"] == to and (channel is None or m["channel"] == channel)]


def text(response) -> str:
    return html.unescape(response.text)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def comparable(page_html: str, *replacements: tuple[str, str]) -> str:
    """Page text with the CSRF token blanked and the given strings replaced."""
    page = CSRF_VALUE_RE.sub(r"\1CSRF\2", page_html)
    for old, new in replacements:
        page = page.replace(old, new)
    return page


# ---- adding a phone ----------------------------------------------------------------------

def test_adding_a_phone_texts_a_code_that_adds_it_verified_and_notifies(app):
    client, pk = logged_in(app)
    response = add_phone(client, "(415) 555-2671")
    assert response.status_code == 303 and response.location == "/account/phones/verify"
    [sms] = sent_to(app, PHONE)
    assert sms["channel"] == "sms" and "confirm this phone" in sms["body"]
    page = client.get("/account/phones/verify")
    assert page.status_code == 200 and PHONE_SHOWN in page.text and "5 minutes" in page.text

    response = verify(client, "phone", last_code(app, PHONE))
    assert response.status_code == 303 and response.location == "/account"
    assert identifiers(app, pk) == {ADA: True, PHONE: True}
    [added] = events(app, "identifier.added", pk)[-1:]
    assert added == {"kind": "phone", "value": PHONE, "verified": True}
    assert len(events(app, "sms.sent", pk)) == 1
    [notice] = sent_to(app, ADA)
    assert notice["subject"] == "A phone number was added to your account"
    assert PHONE in notice["body"]
    assert "was added to your account" in text(client.get("/account"))
    # The pending code is gone from the session: the verify page sends back to "add".
    assert client.get("/account/phones/verify").location == "/account/phones/add"


def test_a_wrong_code_then_the_right_one(app):
    client, pk = logged_in(app)
    add_phone(client, PHONE)
    code = last_code(app, PHONE)
    response = verify(client, "phone", wrong(code))
    assert response.status_code == 400
    assert "That code is not right. 4 tries left." in text(response)
    assert identifiers(app, pk) == {ADA: True}
    assert verify(client, "phone", code).status_code == 303
    assert identifiers(app, pk) == {ADA: True, PHONE: True}
    assert code_rows(app)[-1].attempts == 2


def test_an_expired_code_is_refused(app):
    with time_machine.travel(START, tick=False):
        client, pk = logged_in(app)
        add_phone(client, PHONE)
    with time_machine.travel(START + timedelta(seconds=301), tick=False):
        response = verify(client, "phone", last_code(app, PHONE))
    assert response.status_code == 400 and "expired" in text(response)
    assert identifiers(app, pk) == {ADA: True}
    assert code_rows(app)[-1].consumed_at is None


def test_a_pending_code_of_another_customer_or_number_proves_nothing(app):
    ada, ada_pk = logged_in(app)
    add_phone(ada, PHONE)
    code = last_code(app, PHONE)
    [ada_row] = code_rows(app)
    grace, grace_pk = logged_in(app, GRACE)
    with grace.session_transaction() as session:
        session[PENDING_PHONE] = {"id": ada_row.id, "value": PHONE}
    response = verify(grace, "phone", code)
    assert response.status_code == 400 and "expired" in text(response)
    # Grace's own code, but the session claims it went to another number.
    add_phone(grace, OTHER_PHONE)
    grace_code = last_code(app, OTHER_PHONE)
    with grace.session_transaction() as session:
        session[PENDING_PHONE] = {"id": session[PENDING_PHONE]["id"], "value": PHONE}
    response = verify(grace, "phone", grace_code)
    assert response.status_code == 400 and "expired" in text(response)

    assert identifiers(app, grace_pk) == {GRACE: True}
    assert all(row.attempts == 0 and row.consumed_at is None for row in code_rows(app))
    # Ada's code still works for Ada.
    assert verify(ada, "phone", code).status_code == 303
    assert identifiers(app, ada_pk) == {ADA: True, PHONE: True}


def test_a_phone_bound_elsewhere_after_the_code_was_sent_moves_to_whoever_proves_it(app):
    """Possession of the phone, proved by the code, wins over the other binding (the
    recycled-number takeover: tests/risk covers it in full)."""
    client, pk = logged_in(app)
    add_phone(client, PHONE)
    owner_pk = customer_with(app, GRACE, PHONE)
    response = verify(client, "phone", last_code(app, PHONE))
    assert response.status_code == 303
    assert identifiers(app, pk) == {ADA: True, PHONE: True}
    assert identifiers(app, owner_pk) == {GRACE: True}
    [notice] = [m for m in sent_to(app, GRACE) if "no longer" in m["subject"]]
    assert PHONE in notice["body"]


@pytest.mark.parametrize("number, message", [
    ("+44 20 7946 0018", "landline"),
    ("+44 909 879 0123", "premium-rate"),
    ("12", "not a valid phone number"),
    ("call me maybe", "does not look like a phone number"),
    ("+999 1234 5678", "which country"),
    ("+1 415 555 2671 ext. 12", "without an extension"),
    ("1" * 65, "too long"),
])
def test_unfit_or_malformed_numbers_get_a_form_error_and_no_text(app, number, message):
    client, pk = logged_in(app)
    response = add_phone(client, number)
    assert response.status_code == 400
    assert message in text(response)
    assert 'aria-invalid="true"' in response.text
    assert read_outbox(app) == []
    assert code_rows(app) == []
    assert identifiers(app, pk) == {ADA: True}


def test_a_phone_already_verified_on_the_account_is_a_form_error(app):
    client, pk = logged_in(app, phone=PHONE)
    response = add_phone(client, "415-555-2671")
    assert response.status_code == 400
    assert "This phone number is already on your account." in text(response)
    assert read_outbox(app) == [] and code_rows(app) == []


def test_another_customers_phone_reads_the_same_and_reveals_no_owner(app):
    owner_pk = customer_with(app, GRACE, PHONE)
    client, pk = logged_in(app)
    free = add_phone(client, OTHER_PHONE)
    free_page = client.get("/account/phones/verify")
    free_wrong = verify(client, "phone", "000000")
    taken = add_phone(client, PHONE)
    taken_page = client.get("/account/phones/verify")
    taken_wrong = verify(client, "phone", "000000")

    assert taken.status_code == free.status_code == 303
    assert taken.location == free.location
    assert comparable(taken_page.text, (PHONE_SHOWN, "NUMBER")) == \
        comparable(free_page.text, (OTHER_PHONE_SHOWN, "NUMBER"))
    assert taken_wrong.status_code == free_wrong.status_code == 400
    assert comparable(taken_wrong.text, (PHONE_SHOWN, "NUMBER")) == \
        comparable(free_wrong.text, (OTHER_PHONE_SHOWN, "NUMBER"))
    assert "tries left" in text(taken_wrong)
    assert GRACE not in taken_page.text and GRACE not in taken_wrong.text
    # Whoever holds the phone now gets the code; the owner's verified email hears of it.
    assert len(sent_to(app, PHONE)) == 1
    [notice] = sent_to(app, GRACE)
    assert "another account" in notice["subject"] and PHONE in notice["body"]
    assert events(app, "identifier.attempted_existing", owner_pk) == [{"kind": "phone"}]
    # Nothing moves until the code is proved.
    assert identifiers(app, pk) == {ADA: True}
    assert identifiers(app, owner_pk) == {GRACE: True, PHONE: True}


def test_a_stale_login_is_sent_to_log_in_again(app):
    with time_machine.travel(START, tick=False):
        client, pk = logged_in(app)
        token = fresh_token(client)
    phone_id = identifier_id(app, ADA)
    with time_machine.travel(START + timedelta(minutes=5, seconds=1), tick=False):
        for response in (client.get("/account/phones/add"),
                         client.post("/account/phones/add",
                                     data={"csrf_token": token, "phone": OTHER_PHONE}),
                         client.get("/account/emails/add"),
                         client.post(f"/account/identifiers/{phone_id}/remove",
                                     data={"csrf_token": token})):
            assert response.status_code == 303
            target = urlsplit(response.location)
            assert target.path == "/login"
            assert parse_qs(target.query)["reauth"] == ["1"]
        # Logging in again returns to the page, which now works.
        page = client.get("/login?reauth=1&next=/account/phones/add")
        done = client.post("/login?reauth=1&next=/account/phones/add",
                           data={"csrf_token": csrf_token(page.text), "identifier": ADA,
                                 "password": STRONG_PASSWORD})
        assert done.location == "/account/phones/add"
        assert client.get("/account/phones/add").status_code == 200
    assert read_outbox(app) == [] and code_rows(app) == []
    assert identifiers(app, pk) == {ADA: True}


def test_anonymous_visitors_are_sent_to_log_in(app, client):
    for path in ("/account/phones/add", "/account/phones/verify", "/account/emails/verify"):
        response = client.get(path)
        assert response.status_code == 303
        assert urlsplit(response.location).path == "/login"


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(app):
    client, pk = logged_in(app, phone=PHONE)
    phone_id = identifier_id(app, PHONE)
    for path, data in (("/account/phones/add", {"phone": OTHER_PHONE}),
                       ("/account/emails/add", {"email": NEW_EMAIL}),
                       (f"/account/identifiers/{phone_id}/remove", {}),
                       (f"/account/identifiers/{phone_id}/remove", {"csrf_token": "forged"})):
        response = client.post(path, data=data)
        assert response.status_code == 400
        assert "did not come from this site" in text(response)
    assert read_outbox(app) == [] and code_rows(app) == []
    assert identifiers(app, pk) == {ADA: True, PHONE: True}
    assert events(app, "identifier.removed") == []


# ---- removing ----------------------------------------------------------------------------

def test_removing_an_own_phone_audits_and_notifies(app):
    client, pk = logged_in(app, phone=PHONE)
    # Back from logging in again, the page is a GET: it asks to press Remove again.
    again = client.get(f"/account/identifiers/{identifier_id(app, PHONE)}/remove")
    assert again.status_code == 303 and again.location == "/account"
    assert identifiers(app, pk) == {ADA: True, PHONE: True}
    assert "Press Remove again" in text(client.get("/account"))
    response = remove(client, identifier_id(app, PHONE))
    assert response.status_code == 303 and response.location == "/account"
    assert identifiers(app, pk) == {ADA: True}
    assert events(app, "identifier.removed", pk) == [{"kind": "phone", "value": PHONE}]
    [notice] = sent_to(app, ADA)
    assert notice["subject"] == "A phone number was removed from your account"
    assert PHONE in notice["body"]
    assert f"The phone number {PHONE} was removed" in text(client.get("/account"))


def test_removing_another_customers_identifier_is_not_found(app):
    owner_pk = customer_with(app, GRACE, PHONE)
    client, pk = logged_in(app, phone=OTHER_PHONE)
    for value in (PHONE, GRACE):
        assert remove(client, identifier_id(app, value)).status_code == 404
        path = f"/account/identifiers/{identifier_id(app, value)}/remove"
        assert client.get(path).status_code == 404
    assert remove(client, 999999).status_code == 404
    assert identifiers(app, owner_pk) == {GRACE: True, PHONE: True}
    assert events(app, "identifier.removed") == []
    assert read_outbox(app) == []


def test_the_last_way_to_log_in_cannot_be_removed(app):
    client, pk = logged_in(app)
    response = remove(client, identifier_id(app, ADA))
    assert response.status_code == 303
    assert "the last way you can log in" in text(client.get("/account"))
    assert identifiers(app, pk) == {ADA: True}
    assert events(app, "identifier.removed") == [] and read_outbox(app) == []


def test_without_a_password_only_a_verified_phone_is_a_way_to_log_in(app):
    with app.app_context():
        customer = make_customer(email=GRACE, phone=PHONE, password=None)
        pk = customer.id
        # Two factors: an SMS-only session may not change how the account is opened.
        token = start_session(customer, [AMR_SMS, "otp", "mfa"], ACR_MULTI_FACTOR, TEST_ORIGIN)
        db.session.commit()
    client = app.test_client()
    client.set_cookie("tessera_session", token, domain="localhost")
    response = remove(client, identifier_id(app, PHONE))
    assert response.status_code == 303
    assert identifiers(app, pk) == {GRACE: True, PHONE: True}
    assert "last way you can log in" in text(client.get("/account"))
    # The email can go: the verified phone still logs in by SMS code.
    assert remove(client, identifier_id(app, GRACE)).status_code == 303
    assert identifiers(app, pk) == {PHONE: True}


# ---- emails ------------------------------------------------------------------------------

def test_adding_an_email_sends_a_code_that_adds_it_verified_and_notifies(app):
    client, pk = logged_in(app)
    response = add_email(client, " Ada.Work@EXAMPLE.org ")
    assert response.status_code == 303 and response.location == "/account/emails/verify"
    page = client.get("/account/emails/verify")
    assert "Ada.Work@example.org" in page.text and "10 minutes" in page.text
    wrong_answer = verify(client, "email", wrong(last_code(app, "Ada.Work@example.org")))
    assert wrong_answer.status_code == 400 and "4 tries left" in text(wrong_answer)
    response = verify(client, "email", last_code(app, "Ada.Work@example.org"))
    assert response.status_code == 303
    assert identifiers(app, pk) == {ADA: True, "Ada.Work@example.org": True}
    assert events(app, "identifier.added", pk)[-1] == {
        "kind": "email", "value": "Ada.Work@example.org", "verified": True}
    notices = [m for m in read_outbox(app)
               if m["subject"] == "An email address was added to your account"]
    assert sorted(m["to"] for m in notices) == sorted([ADA, "Ada.Work@example.org"])


@pytest.mark.parametrize("address, message", [
    ("not-an-address", "needs an @ sign"),
    ("Ada <ada@example.com>", "cannot contain spaces"),
    ("x" * 321 + "@example.com", "too long"),
])
def test_malformed_addresses_get_a_form_error_and_no_email(app, address, message):
    client, pk = logged_in(app)
    response = add_email(client, address)
    assert response.status_code == 400 and 'aria-invalid="true"' in response.text
    assert message in text(response)
    assert read_outbox(app) == [] and code_rows(app) == []


def test_an_email_already_verified_on_the_account_is_a_form_error(app):
    client, pk = logged_in(app)
    response = add_email(client, "ADA@example.com")
    assert response.status_code == 400
    assert "This email address is already on your account." in text(response)
    assert read_outbox(app) == [] and code_rows(app) == []


def test_a_pending_email_code_of_another_customer_proves_nothing(app):
    ada, ada_pk = logged_in(app)
    add_email(ada, NEW_EMAIL)
    code = last_code(app, NEW_EMAIL)
    [ada_row] = code_rows(app)
    grace, grace_pk = logged_in(app, GRACE)
    with grace.session_transaction() as session:
        session[PENDING_EMAIL] = {"id": ada_row.id, "value": NEW_EMAIL}
    response = verify(grace, "email", code)
    assert response.status_code == 400 and "expired" in text(response)
    assert identifiers(app, grace_pk) == {GRACE: True}
    assert code_rows(app)[0].attempts == 0
    assert verify(ada, "email", code).status_code == 303
    assert identifiers(app, ada_pk) == {ADA: True, NEW_EMAIL: True}


def test_an_unverified_email_of_the_account_is_verified_by_its_code(app):
    client, pk = logged_in(app)
    with app.app_context():
        add_identifier(db.session.get(Customer, pk), normalize_identifier("email", NEW_EMAIL),
                       TEST_ORIGIN, verified=False)
        db.session.commit()
    assert add_email(client, NEW_EMAIL).status_code == 303
    assert verify(client, "email", last_code(app, NEW_EMAIL)).status_code == 303
    assert identifiers(app, pk) == {ADA: True, NEW_EMAIL: True}
    assert events(app, "identifier.verified", pk) == [{"kind": "email", "value": NEW_EMAIL}]


def test_another_customers_email_reads_the_same_and_its_owner_gets_a_notice(app):
    owner_pk = customer_with(app, GRACE)
    client, pk = logged_in(app)
    free = add_email(client, NEW_EMAIL)
    free_page = client.get("/account/emails/verify")
    free_wrong = verify(client, "email", "000000")
    taken = add_email(client, GRACE)
    taken_page = client.get("/account/emails/verify")
    taken_wrong = verify(client, "email", "000000")

    assert taken.status_code == free.status_code == 303
    assert comparable(taken_page.text, (GRACE, "ADDRESS")) == \
        comparable(free_page.text, (NEW_EMAIL, "ADDRESS"))
    assert comparable(taken_wrong.text, (GRACE, "ADDRESS")) == \
        comparable(free_wrong.text, (NEW_EMAIL, "ADDRESS"))
    [notice] = sent_to(app, GRACE)
    assert "another account" in notice["subject"]
    assert not re.search(r"\b\d{6}\b", notice["body"])
    assert [e["notice"] for e in events(app, "email.sent", pk)] == [False, True]
    assert events(app, "identifier.attempted_existing", owner_pk) == [{"kind": "email"}]
    assert identifiers(app, pk) == {ADA: True}


def test_removing_an_email_tells_the_remaining_and_the_removed_address(app):
    client, pk = logged_in(app, phone=PHONE)
    with app.app_context():
        add_identifier(db.session.get(Customer, pk), normalize_identifier("email", NEW_EMAIL),
                       TEST_ORIGIN, verified=True)
        db.session.commit()
    assert remove(client, identifier_id(app, ADA)).status_code == 303
    assert identifiers(app, pk) == {PHONE: True, NEW_EMAIL: True}
    assert events(app, "identifier.removed", pk) == [{"kind": "email", "value": ADA}]
    subject = "An email address was removed from your account"
    assert sorted(m["to"] for m in read_outbox(app) if m["subject"] == subject) == \
        sorted([ADA, NEW_EMAIL])


# ---- the partial -------------------------------------------------------------------------

def test_the_partial_lists_phones_and_emails_with_remove_buttons_and_add_links(app):
    pk = customer_with(app, ADA, PHONE)
    with app.app_context():
        customer = db.session.get(Customer, pk)
        add_identifier(customer, normalize_identifier("email", NEW_EMAIL), TEST_ORIGIN)
        add_identifier(customer, normalize_identifier("username", "ada_l"), TEST_ORIGIN,
                       verified=True)
        db.session.commit()
    with app.test_request_context("/account"):
        customer = db.session.get(Customer, pk)
        page = render_template_string('{% include "web/_identifiers.html" %}',
                                      customer=customer)
        items = {row.value: row.id for row in customer.identifiers}
    for value, verified in ((PHONE, True), (ADA, True), (NEW_EMAIL, False)):
        item = re.search(rf'<li id="identifier-{items[value]}">(.*?)</li>', page, re.S).group(1)
        assert {PHONE: PHONE_SHOWN}.get(value, value) in item
        assert ('"badge">verified' in item) is verified
        assert ("not verified" in item) is not verified
        assert f'action="/account/identifiers/{items[value]}/remove"' in item
        assert re.search(r'name="csrf_token" value="[^"]+"', item)
    assert "ada_l" not in page  # usernames are not managed here
    assert 'href="/account/phones/add"' in page and 'href="/account/emails/add"' in page
    assert "/account/emails/add?value=" in page  # "Confirm" for the unverified address
