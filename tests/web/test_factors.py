"""The account pages for second factors through the Flask test client: adding an
authenticator app, removing it, renewing recovery codes, and the "Sign-in security"
partial. Each test checks the rows, audit events and outbox, not only the page. Every test
runs on SQLite and on PostgreSQL (the `app` fixture).

Login sessions are made directly with start_session (the login pages are covered by their
own tests): a password-only session, or one that used two factors.
"""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import time_machine
from flask import render_template_string
from sqlalchemy import func, select

from app.auth import recovery_codes, totp
from app.auth.levels import ACR_MULTI_FACTOR, ACR_SINGLE_FACTOR
from app.auth.sessions import start_session
from app.extensions import db
from app.identity.customer_ids import format_for_people
from app.models import AuditEvent, Customer, RecoveryCode, TotpCredential
from app.platform.crypto import unseal
from tests.factories import TEST_ORIGIN, make_customer
from tests.helpers import csrf_token, read_outbox

SESSION_COOKIE = "tessera_session"
ENROL = "/account/security/totp"
REMOVE = "/account/security/totp/remove"
RECOVERY = "/account/security/recovery-codes"
DOWNLOAD = "/account/security/recovery-codes/download"
CODE_RE = re.compile(r"<code>([2-9a-z]{5}-[2-9a-z]{5})</code>")
SECRET_RE = re.compile(r'id="totp-secret">\s*([A-Z2-7 ]+?)\s*<')
# A step boundary on a fixed Monday morning.
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


# ---- helpers -----------------------------------------------------------------------------

def logged_in(app, *, two_factor: bool = False, email: str = "ada@example.com"):
    """A new customer and a test client holding a login session that started now."""
    with app.app_context():
        customer = make_customer(email=email)
        amr, acr = (["pwd", "otp", "mfa"], ACR_MULTI_FACTOR) if two_factor else \
            (["pwd"], ACR_SINGLE_FACTOR)
        token = start_session(customer, amr, acr, TEST_ORIGIN)
        db.session.commit()
        pk = customer.id
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, token)
    return client, pk


def customer(pk: int) -> Customer:
    return db.session.get(Customer, pk)


def stored_secret(app, pk: int) -> str | None:
    with app.app_context():
        row = db.session.get(TotpCredential, pk)
        return unseal(row.secret_sealed, f"totp:{pk}").decode() if row else None


def credential_state(app, pk: int) -> tuple | None:
    """(sealed secret, confirmed?) of the customer's credential, or None."""
    with app.app_context():
        row = db.session.get(TotpCredential, pk)
        return (row.secret_sealed, row.confirmed_at is not None) if row else None


def code_count(app, pk: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RecoveryCode)
                                 .where(RecoveryCode.customer_pk == pk))


def event_names(app, pk: int) -> list[str]:
    with app.app_context():
        customer_id = customer(pk).customer_id
        return list(db.session.scalars(select(AuditEvent.event).where(
            AuditEvent.customer_id == customer_id).order_by(AuditEvent.id)))


def enrol_through_pages(app, client, pk: int) -> list[str]:
    """GET the enrol page, POST the current code; return the recovery codes shown."""
    page = client.get(ENROL)
    assert page.status_code == 200, page.text
    code = pyotp.TOTP(stored_secret(app, pk)).now()
    done = client.post(ENROL, data={"csrf_token": csrf_token(page.text), "code": code})
    assert done.status_code == 200, done.text
    return CODE_RE.findall(done.text)


def redirect_query(response) -> tuple[str, dict]:
    parts = urlsplit(response.location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


# ---- enrolment ---------------------------------------------------------------------------

def test_enrol_page_needs_a_login(app, client):
    response = client.get(ENROL)
    assert response.status_code == 303
    assert redirect_query(response) == ("/login", {"next": ENROL})


def test_enrol_page_needs_a_fresh_login(app):
    with time_machine.travel(START, tick=False) as clock:
        client, pk = logged_in(app)
        clock.shift(timedelta(minutes=5, seconds=1))

        stale = client.get(ENROL)

        assert stale.status_code == 303
        assert redirect_query(stale) == ("/login", {"next": ENROL, "reauth": "1"})
        assert credential_state(app, pk) is None, "a stale session started an enrolment"

        fresh_client, _ = logged_in(app, email="grace@example.com")
        assert fresh_client.get(ENROL).status_code == 200


def test_enrol_page_shows_a_qr_code_and_the_secret_in_groups_of_four(app):
    client, pk = logged_in(app)

    page = client.get(ENROL)

    assert page.status_code == 200
    assert "<svg" in page.text and "<?xml" not in page.text
    secret = stored_secret(app, pk)
    shown = SECRET_RE.search(page.text).group(1)
    assert shown == " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    assert html.escape(f"secret={secret}") in page.text  # the otpauth:// link
    assert page.headers["Cache-Control"] == "no-store"
    # A reload shows the same secret, so a half-finished scan still works.
    again = client.get(ENROL)
    assert SECRET_RE.search(again.text).group(1) == shown
    assert stored_secret(app, pk) == secret


def test_confirming_shows_ten_recovery_codes_once(app):
    client, pk = logged_in(app)
    page = client.get(ENROL)
    code = pyotp.TOTP(stored_secret(app, pk)).now()

    done = client.post(ENROL, data={"csrf_token": csrf_token(page.text), "code": code})

    assert done.status_code == 200
    codes = CODE_RE.findall(done.text)
    assert len(codes) == len(set(codes)) == 10
    assert "only time they are shown" in done.text
    assert done.headers["Cache-Control"] == "no-store"
    assert credential_state(app, pk)[1] is True
    assert "totp.enrolled" in event_names(app, pk)
    with app.app_context():
        assert recovery_codes.use(customer(pk), codes[3], TEST_ORIGIN) is True
    assert [m["subject"] for m in read_outbox(app)] == [
        "An authenticator app was added to your account"]
    # Enrolled: the page now sends the customer back to the account page.
    after = client.get(ENROL)
    assert (after.status_code, after.location) == (303, "/account")


def test_a_wrong_code_re_renders_with_the_error_and_changes_nothing(app):
    with time_machine.travel(START, tick=False):
        client, pk = logged_in(app)
        page = client.get(ENROL)
        secret = stored_secret(app, pk)
        window = {pyotp.TOTP(secret).at(START + timedelta(seconds=30 * d)) for d in (-1, 0, 1)}
        wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in window)
        before = credential_state(app, pk)

        response = client.post(ENROL, data={"csrf_token": csrf_token(page.text), "code": wrong})

    assert response.status_code == 400
    assert "That code is not right. Check the time on your phone" in html.unescape(response.text)
    assert 'aria-invalid="true"' in response.text
    assert credential_state(app, pk) == before and before[1] is False
    assert SECRET_RE.search(response.text).group(1).replace(" ", "") == secret
    assert code_count(app, pk) == 0
    assert read_outbox(app) == []


def test_an_empty_code_is_refused_with_400(app):
    client, pk = logged_in(app)
    page = client.get(ENROL)
    response = client.post(ENROL, data={"csrf_token": csrf_token(page.text), "code": ""})
    assert response.status_code == 400
    assert "Enter the 6-digit code" in response.text
    assert credential_state(app, pk)[1] is False


def test_confirming_without_a_csrf_token_is_refused_and_changes_nothing(app):
    client, pk = logged_in(app)
    client.get(ENROL)
    code = pyotp.TOTP(stored_secret(app, pk)).now()
    before = credential_state(app, pk)

    response = client.post(ENROL, data={"code": code})

    assert response.status_code == 400
    assert "Form expired" in response.text
    assert credential_state(app, pk) == before and before[1] is False
    assert code_count(app, pk) == 0


# ---- removal -----------------------------------------------------------------------------

def test_removal_needs_a_two_factor_session(app):
    client, pk = logged_in(app)
    enrol_through_pages(app, client, pk)
    token = csrf_token(client.get(RECOVERY).text)  # a valid token of this client's session

    for response in (client.get(REMOVE), client.post(REMOVE, data={"csrf_token": token})):
        assert response.status_code == 303
        assert redirect_query(response) == ("/login", {"next": REMOVE, "reauth": "mfa"})
    assert credential_state(app, pk)[1] is True
    assert code_count(app, pk) == 10


def test_removal_with_two_factors_deletes_the_app_and_codes_and_tells_the_customer(app):
    client, pk = logged_in(app, two_factor=True)
    enrol_through_pages(app, client, pk)

    confirm = client.get(REMOVE)
    assert confirm.status_code == 200
    assert "Remove the authenticator app?" in confirm.text
    response = client.post(REMOVE, data={"csrf_token": csrf_token(confirm.text)})

    assert (response.status_code, response.location) == (303, "/account")
    assert credential_state(app, pk) is None
    assert code_count(app, pk) == 0
    assert "totp.removed" in event_names(app, pk)
    assert read_outbox(app)[-1]["subject"] == \
        "The authenticator app was removed from your account"
    # Nothing left to remove: the confirmation page sends the customer back.
    assert client.get(REMOVE).location == "/account"


def test_removal_without_a_csrf_token_is_refused_and_changes_nothing(app):
    client, pk = logged_in(app, two_factor=True)
    enrol_through_pages(app, client, pk)

    response = client.post(REMOVE, data={})

    assert response.status_code == 400
    assert credential_state(app, pk)[1] is True
    assert code_count(app, pk) == 10
    assert "totp.removed" not in event_names(app, pk)


# ---- recovery codes ----------------------------------------------------------------------

def test_renewing_recovery_codes_shows_a_new_set_and_the_old_one_stops(app):
    client, pk = logged_in(app)
    old = enrol_through_pages(app, client, pk)
    page = client.get(RECOVERY)
    assert page.status_code == 200
    assert 'id="recovery-codes-remaining">10<' in page.text

    response = client.post(RECOVERY, data={"csrf_token": csrf_token(page.text)})

    assert response.status_code == 200
    new = CODE_RE.findall(response.text)
    assert len(set(new)) == 10 and not set(new) & set(old)
    with app.app_context():
        assert recovery_codes.use(customer(pk), old[0], TEST_ORIGIN) is False
        assert recovery_codes.use(customer(pk), new[0], TEST_ORIGIN) is True
    assert event_names(app, pk).count("recovery_codes.generated") == 2
    assert read_outbox(app)[-1]["subject"] == "New recovery codes were made for your account"


def test_the_renew_page_warns_the_old_codes_will_stop_and_changes_nothing(app):
    client, pk = logged_in(app)
    old = enrol_through_pages(app, client, pk)

    page = client.get(RECOVERY)

    assert "Your old codes will stop working" in page.text
    assert re.search(r'<form method="post" action="/account/security/recovery-codes">',
                     page.text)
    assert 'value="Yes, make new codes"' in page.text
    assert event_names(app, pk).count("recovery_codes.generated") == 1
    with app.app_context():
        assert recovery_codes.use(customer(pk), old[0], TEST_ORIGIN) is True


def download_token_of(page_html: str) -> str:
    """The signed set of codes in the download form of a page showing new codes."""
    return html.unescape(re.search(r'name="codes_token"[^>]*value="([^"]*)"',
                                   page_html).group(1))


def test_new_codes_download_as_a_text_file_from_the_page_that_shows_them(app):
    client, pk = logged_in(app)
    first = enrol_through_pages(app, client, pk)
    page = client.get(RECOVERY)
    renewed = client.post(RECOVERY, data={"csrf_token": csrf_token(page.text)})
    codes = CODE_RE.findall(renewed.text)
    assert 'data-copy="recovery-codes"' in renewed.text and "copy.js" in renewed.text

    response = client.post(DOWNLOAD, data={"csrf_token": csrf_token(renewed.text),
                                           "codes_token": download_token_of(renewed.text)})

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="recovery-codes.txt"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.text.splitlines()[-10:] == codes
    with app.app_context():
        shown_id = format_for_people(customer(pk).customer_id)
    assert f"customer ID {shown_id}" in response.text
    assert not set(first) & set(response.text.splitlines())


@pytest.mark.parametrize("case", ["no_token", "garbage", "other_customer", "expired",
                                  "replaced", "one_used", "no_csrf"])
def test_a_download_that_is_not_the_set_just_shown_gives_no_file_and_changes_nothing(
        app, case):
    with time_machine.travel(START, tick=False) as clock:
        client, pk = logged_in(app)
        enrol_through_pages(app, client, pk)
        confirmed = client.get(RECOVERY)
        renewed = client.post(RECOVERY, data={"csrf_token": csrf_token(confirmed.text)})
        token = download_token_of(renewed.text)
        data = {"csrf_token": csrf_token(confirmed.text), "codes_token": token}
        if case == "no_token":
            del data["codes_token"]
        elif case == "garbage":
            data["codes_token"] = token[:-4] + "AAAA"
        elif case == "other_customer":
            other, _ = logged_in(app, email="bob@example.com")
            client = other
            data["csrf_token"] = csrf_token(other.get(RECOVERY).text)
        elif case == "expired":
            clock.shift(timedelta(seconds=601))
        elif case == "replaced":
            page = client.get(RECOVERY)
            client.post(RECOVERY, data={"csrf_token": csrf_token(page.text)})
        elif case == "one_used":
            with app.app_context():
                assert recovery_codes.use(customer(pk), CODE_RE.findall(renewed.text)[0],
                                          TEST_ORIGIN)
        elif case == "no_csrf":
            del data["csrf_token"]
        before = (event_names(app, pk), code_count(app, pk))

        response = client.post(DOWNLOAD, data=data)
        # Inside the clock's travel: the flash cookie's signature is dated by it.
        follow = client.get(RECOVERY, follow_redirects=True).text

    if case == "no_csrf":
        assert response.status_code == 400 and "Form expired" in response.text
    else:
        assert response.status_code == 303 and response.location == RECOVERY
        assert "can no longer be downloaded" in follow
    assert response.mimetype == "text/html"
    assert "Content-Disposition" not in response.headers
    assert (event_names(app, pk), code_count(app, pk)) == before


def test_renewing_without_an_authenticator_app_is_refused(app):
    client, pk = logged_in(app)
    page = client.get(RECOVERY)
    assert "Set up an authenticator app first" in page.text

    response = client.post(RECOVERY, data={"csrf_token": csrf_token(
        client.get(ENROL).text)})

    assert response.status_code == 400
    assert "Set up an authenticator app first" in response.text
    assert CODE_RE.findall(response.text) == []
    assert code_count(app, pk) == 0


def test_renewing_without_a_csrf_token_is_refused_and_changes_nothing(app):
    client, pk = logged_in(app)
    old = enrol_through_pages(app, client, pk)

    response = client.post(RECOVERY, data={})

    assert response.status_code == 400
    assert event_names(app, pk).count("recovery_codes.generated") == 1
    with app.app_context():
        assert recovery_codes.use(customer(pk), old[0], TEST_ORIGIN) is True


def test_renewing_needs_a_fresh_login(app):
    with time_machine.travel(START, tick=False) as clock:
        client, pk = logged_in(app)
        with app.app_context():
            secret = totp.begin_enrolment(customer(pk)).secret
            totp.confirm_enrolment(customer(pk), pyotp.TOTP(secret).now(), TEST_ORIGIN)
            db.session.commit()
        page = client.get(RECOVERY)
        clock.shift(timedelta(minutes=6))

        response = client.post(RECOVERY, data={"csrf_token": csrf_token(page.text)})

    assert response.status_code == 303
    assert redirect_query(response) == ("/login", {"next": RECOVERY, "reauth": "1"})
    assert event_names(app, pk).count("recovery_codes.generated") == 1


# ---- the account page partial ------------------------------------------------------------

def test_sign_in_security_partial_shows_status_links_and_remaining_codes(app):
    client, pk = logged_in(app)
    template = '{% include "web/_factors.html" %}'
    with app.test_request_context("/account"):
        off = render_template_string(template, customer=customer(pk))
    assert "Sign-in security" in off
    assert 'class="badge muted">off<' in off and f'href="{ENROL}"' in off
    assert RECOVERY not in off

    codes = enrol_through_pages(app, client, pk)
    with app.app_context():
        recovery_codes.use(customer(pk), codes[0], TEST_ORIGIN)
    with app.test_request_context("/account"):
        on = render_template_string(template, customer=customer(pk))
    assert 'class="badge">on<' in on and f'href="{REMOVE}"' in on
    assert re.search(r"Recovery codes</span>\s*9 unused", on)
    # A link to the page that asks to confirm, never a button that renews at once.
    assert f'href="{RECOVERY}"' in on and f'action="{RECOVERY}"' not in on
