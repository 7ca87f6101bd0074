"""Support's recovery actions through the admin API (scope admin:recovery): for each
action, its effect in the database, its audit events (the service's, and the admin call's
with client, operator and reason), the notice the customer gets, and the version and
ETag; then the refusals every action shares (stale If-Match, unknown or malformed
customer ID, the wrong state, bad bodies), each changing nothing. Recovery links: each
channel, the phone-trust rules an SMS link must pass, and delivery failures. Every test
runs on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app.auth import totp
from app.auth.sessions import start_session
from app.directory.customers import add_identifier, get_by_customer_id, normalize_identifier
from app.extensions import db
from app.identity import customer_ids
from app.identity.customer_ids import format_for_people
from app.models import (AuditEvent, Customer, PasswordCredential, PhoneBinding, RecoveryLink,
                        utcnow)
from app.phones import bindings
from app.platform.keyed_hash import keyed_hash
from tests.admin.helpers import admin_token, assert_problem, auth, read_customer
from tests.factories import TEST_ORIGIN, make_customer, make_totp
from tests.fakes.twilio_server import lookup_json
from tests.helpers import LOOKUP_FIELDS as FIELDS, read_outbox

PHONE = "+447400123456"
US_PHONE = "+14155552671"
EMAIL = "ada@example.com"
SCOPE = "admin:recovery"
AUDIT_HEADERS = {"X-Operator": "agent.smith", "X-Reason": "ticket 4711"}
LINK_RE = re.compile(r"https?://\S+/recover/link/([A-Za-z0-9_-]+)")


# ---- helpers -----------------------------------------------------------------------------

@pytest.fixture
def ada(app):
    """A customer with email, phone, username, password and an authenticator app."""
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE, username="ada_l")
        make_totp(customer)
        db.session.commit()
        return customer.customer_id


@pytest.fixture
def token(app):
    return admin_token(app, SCOPE)


def post(app, path: str, token: str, body=None, **headers):
    kwargs = {} if body is None else {"json": body}
    return app.test_client().post(f"/admin/api/customers/{path}", headers=auth(token, **headers),
                                  **kwargs)


def customer_row(app, customer_id: str) -> Customer:
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        db.session.expunge(customer)
        return customer


def binding_id(app, customer_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(PhoneBinding.id).where(
            PhoneBinding.customer_pk == get_by_customer_id(customer_id).id))


def identifier_id(app, customer_id: str, kind: str) -> int:
    with app.app_context():
        return next(i.id for i in get_by_customer_id(customer_id).identifiers if i.kind == kind)


def state(app, customer_id: str) -> tuple:
    """Everything a refused call must leave as it was."""
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        binding_statuses = tuple(b.status for b in bindings.bindings_of(customer))
        return (customer.version, customer.status, tuple(customer.required_actions),
                customer.tokens_not_before, totp.has_totp(customer), binding_statuses,
                len(customer.identifiers),
                db.session.scalar(select(func.count()).select_from(AuditEvent)),
                db.session.scalar(select(func.count()).select_from(RecoveryLink)))


def event_details(app, event: str) -> list[dict]:
    with app.app_context():
        return [{"customer_id": e.customer_id, "actor": e.actor, **e.details}
                for e in db.session.scalars(select(AuditEvent).where(
                    AuditEvent.event == event).order_by(AuditEvent.id))]


def lock_directly(app, customer_id: str) -> None:
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        customer.status, customer.locked_at, customer.lock_reason = "locked", utcnow(), "x"
        db.session.commit()


def erase_directly(app, customer_id: str) -> None:
    with app.app_context():
        customer = get_by_customer_id(customer_id)
        customer.status, customer.erased_at = "erased", utcnow()
        db.session.commit()


# ---- each action -------------------------------------------------------------------------

def _locked(app, customer_id):
    lock_directly(app, customer_id)


ACTIONS = {
    # name: (path suffix, body, setup, admin event, service event, notice subject)
    "lock": ("lock", {"reason": "Fraud report 77"}, None, "admin.account_locked",
             "account.locked", "Your account was locked"),
    "unlock": ("unlock", None, _locked, "admin.account_unlocked", "account.unlocked",
               "Your account was unlocked"),
    "password-reset": ("password-reset", None, None, "admin.password_reset_required",
                       "password.reset_required", "You must choose a new password"),
    "mfa-reset": ("mfa-reset", None, None, "admin.mfa_reset", "mfa.reset",
                  "Your second factor was reset"),
    "release": ("phone-bindings/{binding}/release", None, None, "admin.phone_released",
                "phone.released", "A phone number no longer opens your account"),
    "recycled": ("phone-bindings/{binding}/recycled", None, None, "admin.phone_recycled",
                 "phone.recycled", "A phone number no longer opens your account"),
    "sessions-revoke": ("sessions/revoke", None, None, "admin.sessions_revoked",
                        "sessions.revoked", "You were logged out everywhere"),
}


def action_path(app, customer_id: str, name: str) -> str:
    suffix = ACTIONS[name][0].replace("{binding}", str(binding_id(app, customer_id)))
    return f"{customer_id}/{suffix}"


def check_effect(name: str, customer: Customer, view: dict) -> None:
    """What each action must have done, in the database and in the view returned."""
    if name == "lock":
        assert customer.status == "locked" and customer.lock_reason == "Fraud report 77"
        assert view["lock"]["reason"] == "Fraud report 77" and view["status"] == "locked"
    elif name == "unlock":
        assert customer.status == "active" and customer.locked_at is None
        assert view["lock"] is None and view["status"] == "active"
    elif name == "password-reset":
        assert customer.required_actions == ["update_password"]
        assert view["required_actions"] == ["update_password"]
    elif name == "mfa-reset":
        assert customer.required_actions == ["configure_totp"]
        assert view["factors"]["totp"] is False
        assert view["factors"]["recovery_codes_remaining"] == 0
    elif name == "release":
        assert view["phone_bindings"][0]["status"] == "released"
        assert {(i["kind"], i["verified"]) for i in view["identifiers"]} >= {("phone", False)}
    elif name == "recycled":
        assert view["phone_bindings"][0]["status"] == "recycled"
        assert "phone" not in {i["kind"] for i in view["identifiers"]}
    if name in ("lock", "password-reset", "mfa-reset", "sessions-revoke"):
        assert customer.tokens_not_before is not None and view["sessions"] == []


@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_action_changes_audits_notifies_and_bumps_the_version(app, ada, token, name):
    path_suffix, body, setup, admin_event, service_event, subject = ACTIONS[name]
    if setup:
        setup(app, ada)
    with app.app_context():
        start_session(get_by_customer_id(ada), ["pwd", "otp", "mfa"], "2fa", TEST_ORIGIN)
        db.session.commit()
    _, etag = read_customer(app, admin_token(app, "admin:read"), ada)
    outbox_before = len(read_outbox(app))

    response = post(app, action_path(app, ada, name), token, body, **{"If-Match": etag},
                    **AUDIT_HEADERS)

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    customer = customer_row(app, ada)
    view = response.json
    assert view["customer_id"] == ada and view["version"] == customer.version
    assert response.headers["ETag"] == f'"{ada}.{customer.version}"' != etag
    check_effect(name, customer, view)
    [admin] = event_details(app, admin_event)
    assert admin["customer_id"] == ada and admin["actor"].startswith("admin:")
    assert admin["operator"] == "agent.smith" and admin["reason"] == "ticket 4711"
    assert admin["client_id"] and admin["actor"].endswith(":agent.smith")
    assert [e["customer_id"] for e in event_details(app, service_event)] == [ada]
    notices = read_outbox(app)[outbox_before:]
    emails = [m for m in notices if m["channel"] == "email"]
    assert [(m["to"], m["subject"]) for m in emails] == [(EMAIL, subject)]
    assert format_for_people(ada) in emails[0]["body"]
    texts = [m for m in notices if m["channel"] == "sms"]
    if name in ("release", "recycled"):
        assert texts == []  # never to the number that was let go
    else:
        assert [m["to"] for m in texts] == [PHONE] and subject in texts[0]["body"]


@pytest.mark.parametrize("name", list(ACTIONS))
def test_without_if_match_the_action_applies_to_the_customer_as_now(app, ada, token, name):
    if ACTIONS[name][2]:
        ACTIONS[name][2](app, ada)
    response = post(app, action_path(app, ada, name), token, ACTIONS[name][1])
    assert response.status_code == 200, response.text
    check_effect(name, customer_row(app, ada), response.json)


# ---- refusals every action shares --------------------------------------------------------

ALL = [*ACTIONS, "recovery-link"]


def any_path(app, customer_id: str, name: str) -> tuple[str, dict | None]:
    if name == "recovery-link":
        return f"{customer_id}/recovery-links", {"channel": "handover"}
    return action_path(app, customer_id, name), ACTIONS[name][1]


@pytest.mark.parametrize("name", ALL)
def test_a_stale_if_match_is_412_and_changes_nothing(app, ada, token, name):
    if name == "unlock":
        lock_directly(app, ada)
    _, etag = read_customer(app, admin_token(app, "admin:read"), ada)
    stale = etag.replace(".", ".9")  # another version of this customer
    path, body = any_path(app, ada, name)
    before = state(app, ada)
    outbox = len(read_outbox(app))
    for header in (stale, '"ABCDEFGHJKMNP.1"', "W/" + etag):
        assert_problem(post(app, path, token, body, **{"If-Match": header}), 412, "stale-etag")
    assert state(app, ada) == before
    assert len(read_outbox(app)) == outbox


@pytest.mark.parametrize("name", ALL)
def test_unknown_and_malformed_customer_ids(app, ada, token, name):
    path, body = any_path(app, ada, name)
    suffix = path.split("/", 1)[1]
    unknown = customer_ids.generate()
    typo = ada[:-1] + ("0" if ada[-1] != "0" else "1")
    before = state(app, ada)
    assert_problem(post(app, f"{unknown}/{suffix}", token, body), 404, "unknown-customer")
    assert_problem(post(app, f"{typo}/{suffix}", token, body), 400, "invalid-customer-id")
    assert state(app, ada) == before


@pytest.mark.parametrize("name", ALL)
def test_an_erased_customer_is_409(app, ada, token, name):
    path, body = any_path(app, ada, name)
    erase_directly(app, ada)
    before = state(app, ada)
    assert_problem(post(app, path, token, body), 409, "customer-erased")
    assert state(app, ada) == before


def _reset_once(app, customer_id, token):
    assert post(app, f"{customer_id}/password-reset", token).status_code == 200


def _mfa_reset_once(app, customer_id, token):
    assert post(app, f"{customer_id}/mfa-reset", token).status_code == 200


def _release_once(app, customer_id, token):
    path = action_path(app, customer_id, "release")
    assert post(app, path, token).status_code == 200


def _recycle_once(app, customer_id, token):
    path = action_path(app, customer_id, "recycled")
    assert post(app, path, token).status_code == 200


def _lock(app, customer_id, token):
    lock_directly(app, customer_id)


def _no_password(app, customer_id, token):
    with app.app_context():
        db.session.delete(db.session.get(PasswordCredential,
                                         get_by_customer_id(customer_id).id))
        db.session.commit()


@pytest.mark.parametrize("name, setup, kind", [
    ("lock", _lock, "not-active"),
    ("unlock", None, "not-locked"),
    ("password-reset", _reset_once, "already-pending"),
    ("password-reset", _no_password, "no-password"),
    ("mfa-reset", _mfa_reset_once, "no-second-factor"),
    ("release", _release_once, "binding-released"),
    ("release", _recycle_once, "binding-recycled"),
    ("recycled", _recycle_once, "binding-recycled"),
    ("recovery-link", _lock, "recovery-link-refused"),
])
def test_the_wrong_state_is_409_and_changes_nothing(app, ada, token, name, setup, kind):
    path, body = any_path(app, ada, name)
    if setup:
        setup(app, ada, token)
    before = state(app, ada)
    outbox = len(read_outbox(app))
    assert_problem(post(app, path, token, body), 409, kind)
    assert state(app, ada) == before
    assert len(read_outbox(app)) == outbox


@pytest.mark.parametrize("name", ["release", "recycled"])
def test_phone_binding_ids_must_be_this_customers(app, ada, token, name):
    with app.app_context():
        other = make_customer(email="grace@example.com", phone=US_PHONE)
        other_binding = bindings.bindings_of(other)[0].id
    suffix = "release" if name == "release" else "recycled"
    before = state(app, ada)
    for binding, status, kind in ((other_binding, 404, "unknown-phone-binding"),
                                  (0, 404, "unknown-phone-binding"),
                                  (2**31, 404, "unknown-phone-binding"),
                                  ("abc", 400, "invalid-binding-id"),
                                  ("-1", 400, "invalid-binding-id"),
                                  ("9" * 40, 400, "invalid-binding-id")):
        response = post(app, f"{ada}/phone-bindings/{binding}/{suffix}", token)
        assert_problem(response, status, kind)
    assert state(app, ada) == before


def test_body_less_actions_ignore_a_body(app, ada, token):
    response = app.test_client().post(f"/admin/api/customers/{ada}/sessions/revoke",
                                      headers=auth(token, **{"Content-Type": "text/plain"}),
                                      data="whatever")
    assert response.status_code == 200, response.text


# ---- bad bodies --------------------------------------------------------------------------

LOCK_BODIES = [
    ({}, 400), ({"reason": ""}, 400), ({"reason": "   "}, 400), ({"reason": None}, 400),
    ({"reason": 7}, 400), ({"reason": "x" * 201}, 400), ({"reason": "nul\x00"}, 400),
    ({"reason": "ok", "until": "never"}, 400), ([], 400), ("fraud", 400),
]


@pytest.mark.parametrize("body, status", LOCK_BODIES)
def test_bad_lock_bodies_are_refused_and_change_nothing(app, ada, token, body, status):
    before = state(app, ada)
    assert_problem(post(app, f"{ada}/lock", token, body), status)
    assert state(app, ada) == before


@pytest.mark.parametrize("raw, content_type, status", [
    (b'{"reason": "x"}', "text/plain", 415), (b"", None, 415),
    (b"{not json", "application/json", 400), (b"\xff\xfe", "application/json", 400),
])
def test_lock_needs_a_json_body(app, ada, token, raw, content_type, status):
    headers = auth(token) | ({"Content-Type": content_type} if content_type else {})
    before = state(app, ada)
    response = app.test_client().post(f"/admin/api/customers/{ada}/lock", data=raw,
                                      headers=headers)
    assert_problem(response, status)
    assert state(app, ada) == before


def test_a_lock_reason_is_trimmed_and_kept(app, ada, token):
    response = post(app, f"{ada}/lock", token, {"reason": "  Card fraud, ticket 12  "})
    assert response.status_code == 200
    assert response.json["lock"]["reason"] == "Card fraud, ticket 12"
    [event] = event_details(app, "account.locked")
    assert event["lock_reason"] == "Card fraud, ticket 12"


def link_bodies(email_id: int, phone_id: int, username_id: int) -> list:
    return [
        ({}, 400), ({"channel": "post"}, 400), ({"channel": None}, 400), ({"channel": 1}, 400),
        ({"channel": "email"}, 400), ({"channel": "sms"}, 400),
        ({"channel": "email", "identifier_id": "1"}, 400),
        ({"channel": "email", "identifier_id": True}, 400),
        ({"channel": "email", "identifier_id": None}, 400),
        ({"channel": "email", "identifier_id": 0}, 400),
        ({"channel": "email", "identifier_id": 2**31}, 400),
        ({"channel": "email", "identifier_id": 1.5}, 400),
        ({"channel": "handover", "identifier_id": email_id}, 400),
        ({"channel": "handover", "identifier_id": None}, 400),
        ({"channel": "handover", "note": "x"}, 400),
        ({"channel": "email", "identifier_id": phone_id}, 422),
        ({"channel": "sms", "identifier_id": email_id}, 422),
        ({"channel": "email", "identifier_id": username_id}, 422),
        ({"channel": "email", "identifier_id": 2**31 - 1}, 422),
        ([{"channel": "handover"}], 400),
    ]


@pytest.mark.parametrize("case", range(20))
def test_bad_recovery_link_bodies_are_refused_and_change_nothing(app, ada, token, case):
    body, status = link_bodies(identifier_id(app, ada, "email"),
                               identifier_id(app, ada, "phone"),
                               identifier_id(app, ada, "username"))[case]
    before = state(app, ada)
    outbox = len(read_outbox(app))
    assert_problem(post(app, f"{ada}/recovery-links", token, body), status)
    assert state(app, ada) == before
    assert len(read_outbox(app)) == outbox


def test_recovery_links_need_a_json_body(app, ada, token):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    before = state(app, ada)
    response = app.test_client().post(f"/admin/api/customers/{ada}/recovery-links",
                                      data="channel=handover", headers=auth(token, **form))
    assert_problem(response, 415)
    assert state(app, ada) == before


# ---- recovery links ----------------------------------------------------------------------

def links(app, customer_id: str) -> list[RecoveryLink]:
    with app.app_context():
        rows = db.session.scalars(select(RecoveryLink).where(
            RecoveryLink.customer_pk == get_by_customer_id(customer_id).id)
            .order_by(RecoveryLink.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_link_by_email(app, ada, token):
    email_id = identifier_id(app, ada, "email")
    _, etag = read_customer(app, admin_token(app, "admin:read"), ada)
    response = post(app, f"{ada}/recovery-links", token,
                    {"channel": "email", "identifier_id": email_id}, **AUDIT_HEADERS)
    assert response.status_code == 201, response.text
    issued = response.json["recovery_link"]
    assert issued["channel"] == "email" and issued["destination"] == "a•••@example.com"
    assert "url" not in issued
    customer = customer_row(app, ada)
    assert response.headers["ETag"] == f'"{ada}.{customer.version}"' != etag

    [link] = links(app, ada)
    assert link.channel == "email" and link.used_at is None
    assert link.issued_by.startswith("admin:") and link.issued_by.endswith(":agent.smith")
    assert timedelta(minutes=14) < link.expires_at - link.created_at <= timedelta(minutes=15)
    assert issued["expires_at"] == link.expires_at.isoformat()
    [mail] = [m for m in read_outbox(app) if m.get("subject") ==
              "Set a new password for your account"]
    assert mail["to"] == EMAIL
    token_in_mail = LINK_RE.search(mail["body"]).group(1)
    assert len(token_in_mail) >= 43
    with app.app_context():
        assert link.token_hash == keyed_hash("recovery-link", token_in_mail)
        assert token_in_mail not in json.dumps([e.details for e in db.session.scalars(
            select(AuditEvent))])
    assert token_in_mail not in response.text
    # The notice goes by the other channel only: a text, not a second email.
    notices = [m for m in read_outbox(app) if "recovery link was issued" in
               (m.get("subject") or m["body"])]
    assert [(m["channel"], m["to"]) for m in notices] == [("sms", PHONE)]
    assert "a•••@example.com" in notices[0]["body"]
    [admin] = event_details(app, "admin.recovery_link_issued")
    assert admin["operator"] == "agent.smith" and admin["channel"] == "email"
    assert [e["channel"] for e in event_details(app, "recovery_link.issued")] == ["email"]


def test_a_handover_link_is_shown_once_and_sent_nowhere(app, ada, token):
    outbox = len(read_outbox(app))
    response = post(app, f"{ada}/recovery-links", token, {"channel": "handover"})
    assert response.status_code == 201, response.text
    issued = response.json["recovery_link"]
    assert issued["destination"] is None
    url = issued["url"]
    assert urlsplit(url).path.startswith("/recover/link/")
    link_token = url.rsplit("/", 1)[1]
    sent = read_outbox(app)[outbox:]
    assert all(link_token not in m["body"] for m in sent)
    assert sorted((m["channel"], m["to"]) for m in sent) == [("email", EMAIL), ("sms", PHONE)]
    assert all("support, in person" in m["body"] for m in sent)
    [link] = links(app, ada)
    assert link.destination_hint is None and link_token not in link.token_hash
    # The page behind it opens.
    assert app.test_client().get(urlsplit(url).path, follow_redirects=True).status_code == 200


def test_a_new_link_kills_the_older_unused_ones(app, ada, token):
    first = post(app, f"{ada}/recovery-links", token, {"channel": "handover"}).json
    second = post(app, f"{ada}/recovery-links", token, {"channel": "handover"}).json
    client = app.test_client()
    assert client.get(urlsplit(first["recovery_link"]["url"]).path).status_code == 400
    assert client.get(urlsplit(second["recovery_link"]["url"]).path,
                      follow_redirects=True).status_code == 200
    old, new = links(app, ada)
    assert old.expires_at <= new.created_at and new.expires_at > utcnow()


def test_an_unverified_or_foreign_identifier_gets_no_link(app, ada, token):
    with app.app_context():
        customer = get_by_customer_id(ada)
        unverified = add_identifier(customer, normalize_identifier("email", "old@example.com"),
                                    TEST_ORIGIN, verified=False)
        other = make_customer(email="grace@example.com")
        db.session.commit()
        ids = [unverified.id, other.identifiers[0].id]
    before = state(app, ada)
    for foreign in ids:
        body = {"channel": "email", "identifier_id": foreign}
        assert_problem(post(app, f"{ada}/recovery-links", token, body), 422, "unprocessable")
    assert state(app, ada) == before
    assert not [m for m in read_outbox(app) if m["to"] in ("old@example.com",
                                                            "grace@example.com")]


def test_a_provider_failure_is_502_and_keeps_no_link(make_app, tmp_path):
    app = make_app(OUTBOX_PATH=str(tmp_path / "missing" / "outbox.jsonl"))
    with app.app_context():
        customer_id = make_customer(email=EMAIL).customer_id
    token = admin_token(app, SCOPE)
    before = state(app, customer_id)
    response = post(app, f"{customer_id}/recovery-links", token,
                    {"channel": "email", "identifier_id": identifier_id(app, customer_id,
                                                                        "email")})
    assert_problem(response, 502, "delivery-failed")
    assert state(app, customer_id) == before
    assert links(app, customer_id) == []


def test_sms_links_follow_the_phone_policy_offline_too(app, ada, token):
    """With the offline lookup a SIM swap cannot be ruled out: no link by text."""
    before = state(app, ada)
    response = post(app, f"{ada}/recovery-links", token,
                    {"channel": "sms", "identifier_id": identifier_id(app, ada, "phone")})
    body = assert_problem(response, 409, "recovery-link-refused")
    assert "phone-risk" in body["detail"]
    assert state(app, ada) == before
    assert [m for m in read_outbox(app) if m["to"] == PHONE] == []


# ---- SMS links against Twilio Lookup (the fake on 127.0.0.1) -----------------------------

@pytest.fixture
def looked_up(app_with_twilio_lookup):
    """Tessera with Twilio Lookup (the fake), a customer with a US phone, and a token."""
    app = app_with_twilio_lookup
    with app.app_context():
        customer_id = make_customer(email=EMAIL, phone=US_PHONE).customer_id
    return app, customer_id, admin_token(app, SCOPE)


def sms_link(app, customer_id: str, token: str):
    return post(app, f"{customer_id}/recovery-links", token,
                {"channel": "sms", "identifier_id": identifier_id(app, customer_id, "phone")})


def test_a_link_by_sms_to_a_trusted_phone(looked_up):
    app, customer_id, token = looked_up
    response = sms_link(app, customer_id, token)
    assert response.status_code == 201, response.text
    assert response.json["recovery_link"]["destination"] == "+14•••••••71"
    [text] = [m for m in read_outbox(app) if m["to"] == US_PHONE]
    assert LINK_RE.search(text["body"])
    # The notice goes by email, not to the phone the link went to.
    [notice] = [m for m in read_outbox(app) if m.get("subject") ==
                "A recovery link was issued for your account"]
    assert notice["to"] == EMAIL and "+14•••••••71" in notice["body"]


def hold(app, customer_id: str) -> None:
    with app.app_context():
        binding = bindings.bindings_of(get_by_customer_id(customer_id))[0]
        bindings.hold_sms(binding, utcnow() + timedelta(days=3), "SIM swap reported")
        db.session.commit()


def suspect(app, customer_id: str) -> None:
    with app.app_context():
        binding = bindings.bindings_of(get_by_customer_id(customer_id))[0]
        bindings.mark_suspect(binding, "carrier changed")
        db.session.commit()


def sim_swapped(fake_twilio) -> None:
    yesterday = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = lookup_json(US_PHONE, FIELDS)
    body["sim_swap"] = {**body["sim_swap"], "last_sim_swap": {
        "last_sim_swap_date": yesterday, "swapped_period": "PT168H",
        "swapped_in_period": True}}
    fake_twilio.reply(200, body)


@pytest.mark.parametrize("trouble", ["hold", "suspect", "sim_swap"])
def test_no_sms_link_while_the_phone_is_held_or_suspect(looked_up, fake_twilio, trouble):
    app, customer_id, token = looked_up
    if trouble == "hold":
        hold(app, customer_id)
    elif trouble == "suspect":
        suspect(app, customer_id)
    else:
        sim_swapped(fake_twilio)
    before = state(app, customer_id)
    body = assert_problem(sms_link(app, customer_id, token), 409, "recovery-link-refused")
    assert body["detail"]
    assert state(app, customer_id) == before
    assert links(app, customer_id) == []
    assert [m for m in read_outbox(app) if m["to"] == US_PHONE] == []
    # Email still works: support is not stuck.
    email = {"channel": "email", "identifier_id": identifier_id(app, customer_id, "email")}
    assert post(app, f"{customer_id}/recovery-links", token, email).status_code == 201
