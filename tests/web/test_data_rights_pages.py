"""The customer's own data rights through the Flask test client: downloading their data and
deleting their account with a grace period (re-authentication, the confirmation, the
account page banner, cancelling, logging in meanwhile), and `flask customers erase-due`
erasing the account once the date has passed. Each test checks the rows, audit events and
outbox, not only the pages, on SQLite and on PostgreSQL."""
from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import select

from app.auth.sessions import COOKIE_NAME
from app.directory.customers import get_by_customer_id
from app.extensions import db
from app.models import AuditEvent, Identifier, PasswordCredential
from tests.factories import STRONG_PASSWORD, make_customer
from tests.helpers import csrf_token, read_outbox
from tests.web.helpers import FormMarkup

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
EMAIL = "ada@example.com"
DATA, EXPORT, DELETE, CANCEL = ("/account/data", "/account/data/export", "/account/delete",
                                "/account/delete/cancel")


# ---- helpers -----------------------------------------------------------------------------

def login(client, identifier: str = EMAIL, path: str = "/login"):
    """Log in through the hosted login page (at `path`, e.g. a re-authentication URL)."""
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_token(page.text),
                                   "identifier": identifier, "password": STRONG_PASSWORD})


def logged_in(app, email: str = EMAIL):
    """A new customer and a test client logged in as them; (client, customer ID)."""
    with app.app_context():
        customer_id = make_customer(email=email).customer_id
    client = app.test_client()
    response = login(client, email)
    assert response.status_code == 303, response.text
    return client, customer_id


def redirect_target(response) -> tuple[str, dict]:
    parts = urlsplit(response.location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def event_names(app, customer_id: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.event).where(
            AuditEvent.customer_id == customer_id).order_by(AuditEvent.id)))


def deletion_state(app, customer_id: str) -> tuple:
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        return customer.status, customer.deletion_requested_at, customer.deletion_due_at


def notices(app, subject: str) -> list[dict]:
    return [m for m in read_outbox(app) if m.get("subject") == subject]


def request_deletion(client) -> None:
    page = client.get(DELETE)
    assert page.status_code == 200, page.text
    done = client.post(DELETE, data={"csrf_token": csrf_token(page.text),
                                     "confirmation": "DELETE"})
    assert done.status_code == 303 and done.location == "/account", done.text


# ---- the data page and the download ----------------------------------------------------

@pytest.mark.parametrize("path", [DATA, EXPORT, DELETE])
def test_the_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 303
    assert redirect_target(response) == ("/login", {"next": path})


def test_cancelling_needs_a_login(app, client):
    page = client.get("/login")
    response = client.post(CANCEL, data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 303
    assert redirect_target(response)[0] == "/login"


def test_the_data_page_explains_and_offers_both(app):
    client, _ = logged_in(app)
    page = client.get(DATA)
    assert page.status_code == 200
    assert 'action="/account/data/export"' in page.text
    assert 'href="/account/delete"' in page.text
    assert "14 days after you ask" in page.text


def test_download_my_data_after_a_recent_login(app):
    client, customer_id = logged_in(app)
    page = client.get(DATA)

    response = client.post(EXPORT, data={"csrf_token": csrf_token(page.text)})

    assert response.status_code == 200, response.text
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="tessera-data-{customer_id}.json"')
    assert response.headers["Cache-Control"] == "no-store"
    body = json.loads(response.data)
    assert body["format"] == "tessera-export/1"
    assert body["customer"]["customer_id"] == customer_id
    assert [i["value"] for i in body["identifiers"]] == [EMAIL]
    assert "login.succeeded" in {e["event"] for e in body["audit_events"]}
    with app.app_context():
        password_hash = db.session.get(PasswordCredential,
                                       get_by_customer_id(customer_id).id).password_hash
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "data.exported")).all()
        assert event.customer_id == customer_id and event.actor == "customer"
    assert password_hash not in response.text
    assert client.get_cookie(COOKIE_NAME).value not in response.text


def test_download_needs_a_recent_login_then_offers_the_button(app):
    with time_machine.travel(START, tick=False) as clock:
        client, customer_id = logged_in(app)
        page = client.get(DATA)
        clock.shift(timedelta(minutes=6))

        stale = client.post(EXPORT, data={"csrf_token": csrf_token(page.text)})

        assert stale.status_code == 303
        path, query = redirect_target(stale)
        assert (path, query) == ("/login", {"next": EXPORT, "reauth": "1"})
        assert "data.exported" not in event_names(app, customer_id)
        again = login(client, path=stale.location)
        assert again.status_code == 303 and again.location == EXPORT
        confirm = client.get(EXPORT)
        assert confirm.status_code == 200
        assert 'action="/account/data/export"' in confirm.text
        download = client.post(EXPORT, data={"csrf_token": csrf_token(confirm.text)})
        assert download.status_code == 200
        assert json.loads(download.data)["customer"]["customer_id"] == customer_id


def test_download_without_a_csrf_token_is_refused(app):
    client, customer_id = logged_in(app)
    response = client.post(EXPORT, data={})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "data.exported" not in event_names(app, customer_id)


# ---- delete my account, with a grace period -------------------------------------------------

def test_the_grace_period_flow(app):
    with time_machine.travel(START, tick=False) as clock:
        client, customer_id = logged_in(app)
        clock.shift(timedelta(minutes=6))

        # A stale login is sent to confirm it is them, then comes back here.
        stale = client.get(DELETE)
        assert redirect_target(stale) == ("/login", {"next": DELETE, "reauth": "1"})
        again = login(client, path=stale.location)
        assert again.status_code == 303 and again.location == DELETE

        page = client.get(DELETE)
        assert page.status_code == 200 and "14 days from now" in page.text
        wrong = client.post(DELETE, data={"csrf_token": csrf_token(page.text),
                                          "confirmation": "delete"})
        assert wrong.status_code == 400
        assert "Type DELETE, in capital letters, to confirm." in html.unescape(wrong.text)
        assert deletion_state(app, customer_id) == ("active", None, None)

        done = client.post(DELETE, data={"csrf_token": csrf_token(page.text),
                                         "confirmation": " DELETE "})

        assert done.status_code == 303 and done.location == "/account"
        now = START + timedelta(minutes=6)
        assert deletion_state(app, customer_id) == ("active", now, now + timedelta(days=14))
        assert event_names(app, customer_id)[-1] == "deletion.requested"
        [scheduled] = notices(app, "Your account will be deleted")
        assert scheduled["to"] == EMAIL and "21 January 2030" in scheduled["body"]
        account = client.get("/account")
        assert account.status_code == 200
        assert 'id="deletion-banner"' in account.text
        assert "deleted on 21 January 2030" in account.text
        assert 'action="/account/delete/cancel"' in account.text
        # Asking twice changes nothing.
        assert client.get(DELETE).location == "/account"

        # The customer keeps logging in during the grace period.
        clock.shift(timedelta(days=3))
        other_browser = app.test_client()
        assert login(other_browser).status_code == 303
        assert other_browser.get("/account").status_code == 200

        cancelled = other_browser.post(CANCEL, data={
            "csrf_token": csrf_token(other_browser.get("/account").text)})

        assert cancelled.status_code == 303 and cancelled.location == "/account"
        assert deletion_state(app, customer_id) == ("active", None, None)
        assert event_names(app, customer_id)[-1] == "deletion.cancelled"
        assert len(notices(app, "Your account will not be deleted")) == 1
        assert 'id="deletion-banner"' not in other_browser.get("/account").text


def test_cancelling_without_a_csrf_token_changes_nothing(app):
    client, customer_id = logged_in(app)
    request_deletion(client)
    pending = deletion_state(app, customer_id)

    response = client.post(CANCEL, data={})

    assert response.status_code == 400
    assert deletion_state(app, customer_id) == pending
    assert "deletion.cancelled" not in event_names(app, customer_id)


def test_cancelling_with_nothing_pending_says_so(app):
    client, customer_id = logged_in(app)
    response = client.post(CANCEL, data={"csrf_token": csrf_token(client.get("/account").text)})
    assert response.status_code == 303
    assert "not scheduled for deletion" in client.get("/account").text
    assert "deletion.cancelled" not in event_names(app, customer_id)


def test_the_grace_period_is_configurable(make_app):
    app = make_app(ACCOUNT_DELETION_GRACE_DAYS=3)
    with time_machine.travel(START, tick=False):
        client, customer_id = logged_in(app)
        request_deletion(client)
        _, requested, due = deletion_state(app, customer_id)
        assert due - requested == timedelta(days=3)


def test_past_the_date_erase_due_erases_the_account(app, runner):
    with time_machine.travel(START, tick=False) as clock:
        client, customer_id = logged_in(app)
        request_deletion(client)
        clock.shift(timedelta(days=1))
        later_client, later_id = logged_in(app, "grace@example.com")
        request_deletion(later_client)

        clock.shift(timedelta(days=13, minutes=-1))
        early = runner.invoke(args=["customers", "erase-due", "--json"])
        assert early.exit_code == 0 and json.loads(early.stdout) == {"erased": []}
        assert deletion_state(app, customer_id)[0] == "active"

        clock.shift(timedelta(minutes=2))
        result = runner.invoke(args=["customers", "erase-due", "--json"])

        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"erased": [customer_id]}
        assert deletion_state(app, customer_id) == ("erased", None, None)
        assert deletion_state(app, later_id)[0] == "active"
        # The old session is dead and the email no longer logs in.
        gone = client.get("/account")
        assert gone.status_code == 303 and redirect_target(gone)[0] == "/login"
        assert login(app.test_client()).status_code == 401
        with app.app_context():
            assert db.session.scalar(select(Identifier.id).where(
                Identifier.value == EMAIL)) is None
        [erased] = notices(app, "Your account was deleted")
        assert erased["to"] == EMAIL
        assert event_names(app, customer_id)[-1] == "customer.erased"


def test_the_pages_have_no_inline_script_and_every_field_is_labelled(app):
    client, _ = logged_in(app)
    pages = {path: client.get(path) for path in (DATA, EXPORT, DELETE)}
    pages["delete (errors)"] = client.post(DELETE, data={
        "csrf_token": csrf_token(pages[DELETE].text), "confirmation": ""})
    request_deletion(client)
    pages["account with the banner"] = client.get("/account")
    pages["data with the deletion pending"] = client.get(DATA)
    assert 'id="deletion-pending"' in pages["data with the deletion pending"].text

    for name, response in pages.items():
        assert response.status_code in (200, 400), name
        assert "<script" not in response.text.lower() and "style=" not in response.text, name
        markup = FormMarkup()
        markup.feed(response.text)
        for input_id in markup.input_ids:
            assert input_id in markup.label_targets, f"{name}: #{input_id} has no label"
    assert pages["delete (errors)"].status_code == 400
