"""The page behind a recovery link (/recover/link/<token>) through the Flask test client:
opening it moves the token into a cookie and redirects to a URL without it, and never
consumes the link; a refused password leaves it usable, using it sets the password, signs
the customer out everywhere and logs nobody in, and a used, expired, unknown or
locked-out link gets the same 400 page. The token never leaves by URL, Referer or a
cache. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.auth import recovery_links, support
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.login import LoginRefused, check_password
from app.auth.sessions import load_session, start_session
from app.extensions import db
from app.models import AuditEvent, Customer, RecoveryLink, utcnow
from app.oidc import tokens
from app.oidc.clients import get_client
from app.phones import bindings
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, read_outbox
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
        bindings.hold_sms(bindings.bindings_of(customer)[0],
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


FORM = "/recover/link"


def open_link(client, path: str):
    """Open the link as a browser does: follow the redirect to the form."""
    return client.get(path, follow_redirects=True)


def submit(client, path: str, password: str = NEW_PASSWORD, page=None):
    page = page or open_link(client, path)
    return client.post(FORM, data={"csrf_token": csrf_token(page.text), "password": password})


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
    for _ in range(3):  # a mail scanner, a preview, the customer
        page = open_link(app.test_client(), path)
        assert page.status_code == 200
        assert 'type="password"' in page.text and 'name="csrf_token"' in page.text
    assert link_row(app, pk).used_at is None
    assert password_works(app, STRONG_PASSWORD)


def test_opening_the_link_moves_the_token_out_of_the_url(app, ada):
    """The token is exchanged for a short-lived cookie on the first GET; the form's URL,
    its page and the POST that uses the link carry no token."""
    _, path, *_ = ada
    token = path.rsplit("/", 1)[1]
    client = app.test_client()

    opened = client.get(path)

    assert opened.status_code == 303 and opened.location == FORM
    cookie = client.get_cookie("tessera_recovery_link", path=FORM)
    assert cookie.value == token and cookie.http_only and cookie.same_site == "Lax"
    assert 0 < cookie.max_age <= int(app.config["RECOVERY_LINK_SECONDS"])
    page = client.get(FORM)
    assert page.status_code == 200 and token not in page.text
    assert f'action="{FORM}"' in page.text
    done = submit(client, path, page=page)
    assert done.status_code == 303
    assert client.get_cookie("tessera_recovery_link", path=FORM) is None
    assert unusable(app.test_client().get(FORM))  # no cookie, no form


def test_on_an_https_issuer_the_cookie_is_host_prefixed(make_app):
    app = make_app(ISSUER="https://id.example.com")
    with app.app_context():
        _, url = recovery_links.issue(make_customer(), "handover", TEST_ORIGIN)
        db.session.commit()
    client = app.test_client()

    opened = client.get(url, base_url="https://id.example.com")

    [header] = opened.headers.getlist("Set-Cookie")
    assert header.startswith("__Host-tessera_recovery_link=")
    assert "Secure" in header and "Path=/;" in header and "Domain" not in header
    page = client.get(FORM, base_url="https://id.example.com")
    assert page.status_code == 200 and 'type="password"' in page.text


def test_the_token_never_leaves_by_referer_or_cache(app, ada):
    _, path, *_ = ada
    client = app.test_client()
    for response in (client.get(path), client.get(FORM), submit(client, path, "short"),
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
        binding = bindings.bindings_of(customer)[0]
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
    client = app.test_client()
    open_link(client, path)
    response = client.post(FORM, data={"password": NEW_PASSWORD})
    assert response.status_code == 400 and "This form expired" in response.text
    assert link_row(app, pk).used_at is None and password_works(app, STRONG_PASSWORD)


# ---- one answer for every unusable link --------------------------------------------------

def unusable(response) -> bool:
    return response.status_code == 400 and "This link cannot be used" in response.text


def test_a_link_works_once(app, ada):
    _, path, *_ = ada
    client = app.test_client()
    page = open_link(client, path)
    assert submit(client, path, page=page).status_code == 303
    assert unusable(submit(client, path, "another-fine-passphrase-77", page=page))
    assert unusable(client.get(path))
    assert password_works(app, NEW_PASSWORD)


def test_an_expired_link_is_refused(app, ada):
    _, path, *_ = ada
    client = app.test_client()
    page = open_link(client, path)
    later = utcnow() + timedelta(seconds=int(app.config["RECOVERY_LINK_SECONDS"]) + 1)
    with time_machine.travel(later, tick=False):
        assert unusable(client.get(path))
        assert unusable(submit(client, path, page=page))
    assert password_works(app, STRONG_PASSWORD)


@pytest.mark.parametrize("token", ["unknown-token", "x" * 500, "%00"])
def test_unknown_links_get_the_same_page(app, ada, token):
    client = app.test_client()
    assert unusable(client.get(f"/recover/link/{token}"))
    page = open_link(client, ada[1])
    client.set_cookie("tessera_recovery_link", token, path=FORM)  # a forged cookie
    response = client.post(FORM, data={"csrf_token": csrf_token(page.text),
                                        "password": NEW_PASSWORD})
    assert unusable(response)
    assert password_works(app, STRONG_PASSWORD)


def test_a_locked_customers_link_is_refused(app, ada):
    pk, path, *_ = ada
    client = app.test_client()
    page = open_link(client, path)
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
                db.session.commit()
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
