"""The page behind a recovery link (/recover/link/<token>) through the Flask test client:
opening it never consumes it, a refused password leaves it usable, using it sets the
password, signs the customer out everywhere and logs nobody in, and a used, expired,
unknown or locked-out link gets the same 400 page. The token never leaves by Referer or
a cache. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app import phone_bindings
from app.auth import recovery_links, support
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.login import LoginRefused, check_password
from app.auth.sessions import load_session, start_session
from app.extensions import db
from app.models import AuditEvent, Customer, RecoveryLink, utcnow
from app.oidc import tokens
from app.oidc.clients import get_client
from tests.conftest import csrf_token, read_outbox
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.oidc.helpers import make_client

PHONE = "+447400123456"
NEW_PASSWORD = "quartz-lantern-meadow-58"


# ---- helpers -----------------------------------------------------------------------------

@pytest.fixture
def ada(app):
    """A customer with a phone on an SMS hold, pending required actions, a live session
    and tokens, and a handover link: (customer pk, link path, session token, client id,
    token response)."""
    with app.app_context():
        customer = make_customer(phone=PHONE)
        phone_bindings.hold_sms(phone_bindings.bindings_of(customer)[0],
                                utcnow() + timedelta(days=3), "SIM swap")
        support.add_required_action(customer, support.UPDATE_PASSWORD)
        support.add_required_action(customer, support.CONFIGURE_TOTP)
        session_token = start_session(customer, ["pwd"], ACR_SINGLE_FACTOR, TEST_ORIGIN)
        db.session.commit()
        pk = customer.id
    client_id, _ = make_client(app, public=True)
    with app.app_context():
        customer = db.session.get(Customer, pk)
        issued = tokens.issue(get_client(client_id), "authorization_code", "openid",
                              customer=customer, include_refresh_token=True)
        _, url = recovery_links.issue(customer, "handover", TEST_ORIGIN)
        db.session.commit()
    return pk, url.removeprefix(app.config["ISSUER"]), session_token, client_id, issued


def link_row(app, pk: int) -> RecoveryLink:
    with app.app_context():
        row = db.session.scalars(select(RecoveryLink).where(
            RecoveryLink.customer_pk == pk)).one()
        db.session.expunge(row)
        return row


def submit(client, path: str, password: str = NEW_PASSWORD, page=None):
    page = page or client.get(path)
    return client.post(path, data={"csrf_token": csrf_token(page.text), "password": password})


def password_works(app, password: str) -> bool:
    with app.app_context():
        try:
            check_password("ada@example.com", password, TEST_ORIGIN)
        except LoginRefused:
            return False
        finally:
            db.session.rollback()
        return True


# ---- opening -----------------------------------------------------------------------------

def test_opening_the_link_shows_the_form_and_consumes_nothing(app, ada):
    pk, path, *_ = ada
    client = app.test_client()
    for _ in range(3):  # a mail scanner, a preview, the customer
        page = client.get(path)
        assert page.status_code == 200
        assert 'type="password"' in page.text and 'name="csrf_token"' in page.text
    assert link_row(app, pk).used_at is None
    assert password_works(app, STRONG_PASSWORD)


def test_the_token_never_leaves_by_referer_or_cache(app, ada):
    _, path, *_ = ada
    client = app.test_client()
    for response in (client.get(path), submit(client, path, "short"),
                     client.get("/recover/link/not-a-real-token")):
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script" not in response.text
        # Nothing is loaded from elsewhere: every src and href is local.
        assert 'src="http' not in response.text and 'href="http' not in response.text


# ---- using -------------------------------------------------------------------------------

def test_using_the_link_sets_the_password_and_signs_out_everywhere(app, ada):
    pk, path, session_token, client_id, issued = ada
    client = app.test_client()
    client.set_cookie("tessera_session", session_token)

    response = submit(client, path)

    assert response.status_code == 303 and response.location == "/login"
    login_page = client.get("/login")
    assert "Log in with your new password" in login_page.text
    assert client.get("/account").status_code == 303  # nobody is logged in
    assert link_row(app, pk).used_at is not None
    assert password_works(app, NEW_PASSWORD) and not password_works(app, STRONG_PASSWORD)
    with app.app_context():
        customer = db.session.get(Customer, pk)
        assert load_session(session_token) is None
        assert customer.tokens_not_before is not None
        # Only the password: the app is still to set up, the phone still held.
        assert customer.required_actions == ["configure_totp"]
        binding = phone_bindings.bindings_of(customer)[0]
        assert binding.sms_hold_until > utcnow() and binding.status == "active"
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "recovery_link.used")).all()
        assert event.customer_id == customer.customer_id and event.details["sessions_ended"] == 1
    http = app.test_client()
    assert http.get("/userinfo", headers={
        "Authorization": f"Bearer {issued['access_token']}"}).status_code == 401
    assert http.post("/token", data={"grant_type": "refresh_token", "client_id": client_id,
                                     "refresh_token": issued["refresh_token"]}
                     ).json["error"] == "invalid_grant"
    [notice] = [m for m in read_outbox(app) if m.get("subject") == "Your password was changed"]
    assert notice["to"] == "ada@example.com"


@pytest.mark.parametrize("password, message", [
    ("short", "at least"), ("password123", "common"), ("", "Choose a new password")])
def test_a_refused_password_is_a_form_error_and_keeps_the_link(app, ada, password, message):
    pk, path, *_ = ada
    client = app.test_client()
    response = submit(client, path, password)
    assert response.status_code == 400 and message in response.text
    assert 'aria-invalid="true"' in response.text
    assert link_row(app, pk).used_at is None
    assert password_works(app, STRONG_PASSWORD)
    assert submit(client, path).status_code == 303  # still usable


def test_a_post_without_a_csrf_token_consumes_nothing(app, ada):
    pk, path, *_ = ada
    response = app.test_client().post(path, data={"password": NEW_PASSWORD})
    assert response.status_code == 400 and "This form expired" in response.text
    assert link_row(app, pk).used_at is None and password_works(app, STRONG_PASSWORD)


# ---- one answer for every unusable link --------------------------------------------------

def unusable(response) -> bool:
    return response.status_code == 400 and "This link cannot be used" in response.text


def test_a_link_works_once(app, ada):
    _, path, *_ = ada
    client = app.test_client()
    page = client.get(path)
    assert submit(client, path, page=page).status_code == 303
    assert unusable(submit(client, path, "another-fine-passphrase-77", page=page))
    assert unusable(client.get(path))
    assert password_works(app, NEW_PASSWORD)


def test_an_expired_link_is_refused(app, ada):
    _, path, *_ = ada
    client = app.test_client()
    page = client.get(path)
    later = utcnow() + timedelta(seconds=int(app.config["RECOVERY_LINK_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        assert unusable(client.get(path))
        assert unusable(submit(client, path, page=page))
    assert password_works(app, STRONG_PASSWORD)


@pytest.mark.parametrize("token", ["unknown-token", "x" * 500, "%00"])
def test_unknown_links_get_the_same_page(app, ada, token):
    client = app.test_client()
    assert unusable(client.get(f"/recover/link/{token}"))
    page = client.get(ada[1])
    response = client.post(f"/recover/link/{token}", data={
        "csrf_token": csrf_token(page.text), "password": NEW_PASSWORD})
    assert unusable(response)
    assert password_works(app, STRONG_PASSWORD)


def test_a_locked_customers_link_is_refused(app, ada):
    pk, path, *_ = ada
    client = app.test_client()
    page = client.get(path)
    with app.app_context():
        support.lock(db.session.get(Customer, pk), "fraud", TEST_ORIGIN)
        db.session.commit()
    assert unusable(client.get(path)) and unusable(submit(client, path, page=page))
    with app.app_context():
        support.unlock(db.session.get(Customer, pk), TEST_ORIGIN)
        db.session.commit()
    assert unusable(client.get(path))  # the lock killed it for good


def test_concurrent_uses_of_one_link_set_one_password(app, ada):
    _, path, *_ = ada
    token = path.rsplit("/", 1)[1]
    results, barrier = [], threading.Barrier(4, timeout=30)

    def use(password: str):
        with app.app_context():
            try:
                barrier.wait()
                recovery_links.use(token, password, TEST_ORIGIN)
                results.append(password)
            except recovery_links.LinkInvalid:
                results.append(None)
            except Exception as error:  # surfaced by the assertion below
                results.append(error)
            finally:
                db.session.remove()

    passwords = [f"orchid-harbour-{n}-lantern-{n * 7}" for n in range(4)]
    threads = [threading.Thread(target=use, args=(p,)) for p in passwords]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r for r in results if isinstance(r, Exception)] == []
    [winner] = [r for r in results if r]
    assert password_works(app, winner)
    assert [p for p in passwords if p != winner and password_works(app, p)] == []
