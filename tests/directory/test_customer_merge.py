"""POST /admin/api/customers/<id>/merge: the absorbed customer's identifiers, linked
accounts, phone bindings and devices move to the survivor; factors follow "the survivor's
factor wins, a missing one is taken from the absorbed"; consents, profile, required
actions and locks follow their documented rules; both customers are logged out
everywhere; the absorbed ID finds the survivor forever. Refusals change nothing, and a
failure half-way through leaves both customers as they were."""
from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from sqlalchemy import select, text, update

from app.auth import flow as login_flow
from app.auth import passkeys, recovery_codes, totp
from app.auth.devices import remember
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.sessions import start_session
from app.directory import communication_consents, customer_merge
from app.directory.customer_merge import MergeConflict, merge
from app.directory.customers import find_customer, get_by_customer_id, link_account
from app.extensions import db
from app.identity import customer_ids
from app.identity.customer_ids import format_for_people
from app.models import (AuditEvent, CommunicationConsent, Consent, Customer, Identifier,
                        IssuedToken, KnownDevice, LinkedAccount, LoginSession, PasskeyCredential,
                        PasswordCredential, PhoneBinding, RecoveryCode, TotpCredential)
from app.platform.crypto import unseal
from tests.admin.helpers import admin_token, assert_problem, auth, read_customer
from tests.directory.helpers import count, database_state, issue_tokens, merge_via_api, post
from tests.factories import PASSKEY_ORIGIN, TEST_ORIGIN, make_customer, make_passkey
from tests.fakes import authenticator
from tests.helpers import read_outbox
from tests.oidc.helpers import make_client

GB_MOBILE = "+447400123456"
US_PHONE = "+14155552671"
# A TOTP step boundary on a fixed Monday morning.
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


# ---- helpers of this module (the ones erasure and export share are in helpers.py) --------

def customer_pk(customer_id: str) -> int:
    return get_by_customer_id(customer_id).id


def merge_to_every_factor(app, token: str, survivor_id: str, absorbed_id: str) -> None:
    """Merge through the API; the survivor answers with a password, an authenticator app
    and all ten recovery codes."""
    response = merge_via_api(app, token, survivor_id, absorbed_id)
    assert response.status_code == 200, response.text
    assert response.json["factors"] == {"password": True, "totp": True,
                                        "recovery_codes_remaining": 10, "passkeys": []}


def assert_no_factors_left(customer_pk: int) -> None:
    """No password, authenticator app or recovery code row is left on this customer."""
    for model in (PasswordCredential, TotpCredential, RecoveryCode):
        assert count(model, model.customer_pk == customer_pk) == 0, model


def enrol_totp(customer) -> tuple[str, list[str]]:
    """Enrol an authenticator app now (a frozen clock); the secret and recovery codes."""
    secret = totp.begin_enrolment(customer).secret
    codes = totp.confirm_enrolment(customer, pyotp.TOTP(secret).now(), TEST_ORIGIN)
    db.session.commit()
    return secret, codes


@pytest.fixture
def token(app):
    return admin_token(app, "admin:read admin:write")


@pytest.fixture
def pair(app):
    """Two customers of one person: (survivor ID, absorbed ID)."""
    with app.app_context():
        survivor = make_customer(email="ada@example.com", given_name="Ada", family_name=None)
        absorbed = make_customer(email="ada.work@example.com", phone=GB_MOBILE,
                                 username="ada_l", given_name="Augusta",
                                 family_name="Lovelace")
        link_account(absorbed, "billing", "B-2002", TEST_ORIGIN)
        db.session.commit()
        return survivor.customer_id, absorbed.customer_id


# ---- what moves -----------------------------------------------------------------------------

def test_a_merge_moves_the_ways_to_find_the_person_and_keeps_the_absorbed_id(app, token,
                                                                               pair):
    survivor_id, absorbed_id = pair
    with app.app_context():
        remember(get_by_customer_id(absorbed_id), "device-token-1", "Firefox on Linux")
        db.session.commit()

    response = merge_via_api(app, token, survivor_id, absorbed_id)

    assert response.status_code == 200, response.text
    view = response.json
    assert view["customer_id"] == survivor_id
    assert response.headers["ETag"] == read_customer(app, token, survivor_id)[1]
    assert {(i["kind"], i["value"]) for i in view["identifiers"]} == {
        ("email", "ada@example.com"), ("email", "ada.work@example.com"),
        ("phone", GB_MOBILE), ("username", "ada_l")}
    assert view["linked_accounts"] == [{"system": "billing", "account_number": "B-2002"}]
    assert [b["e164"] for b in view["phone_bindings"]] == [GB_MOBILE]
    assert view["aliases"] == [absorbed_id]
    # Names: the survivor's stand, blanks are filled.
    assert (view["given_name"], view["family_name"]) == ("Ada", "Lovelace")
    with app.app_context():
        survivor_pk, absorbed = customer_pk(survivor_id), get_by_customer_id(absorbed_id)
        assert absorbed.status == "merged" and absorbed.merged_into_pk == survivor_pk
        assert absorbed.merged_at is not None
        assert (absorbed.given_name, absorbed.family_name) == (None, None)
        assert count(KnownDevice, KnownDevice.customer_pk == survivor_pk) == 1
        for model in (Identifier, LinkedAccount, PhoneBinding, KnownDevice):
            assert count(model, model.customer_pk == absorbed.id) == 0, model
        for query in ("ada.work@example.com", "+44 7400 123456", "ada_l",
                      "billing:B-2002", absorbed_id, format_for_people(absorbed_id)):
            assert find_customer(query).customer_id == survivor_id, query
        merged_events = db.session.execute(select(AuditEvent.customer_id, AuditEvent.details)
                                           .where(AuditEvent.event == "customer.merged")).all()
        assert {row.customer_id for row in merged_events} == {survivor_id, absorbed_id}
        assert count(AuditEvent, AuditEvent.event == "admin.customer_merged",
                     AuditEvent.customer_id == survivor_id) == 1
    # The absorbed ID finds the survivor forever.
    found, _ = read_customer(app, token, absorbed_id)
    assert found["customer_id"] == survivor_id and found["resolved_from"] == absorbed_id
    # The survivor hears of it, at every verified address it now has.
    notices = [m for m in read_outbox(app) if "merged" in m.get("subject", "")]
    assert {m["to"] for m in notices} >= {"ada@example.com", "ada.work@example.com"}
    assert all(format_for_people(absorbed_id) in m["body"] for m in notices)


def test_the_survivors_history_shows_the_absorbed_customers_events(app, token, pair):
    survivor_id, absorbed_id = pair
    assert merge_via_api(app, token, survivor_id, absorbed_id).status_code == 200
    view, _ = read_customer(app, token, survivor_id)
    shown = {(e["customer_id"], e["event"]) for e in view["recent_events"]}
    assert (absorbed_id, "linked_account.added") in shown
    assert (survivor_id, "customer.merged") in shown
    with app.app_context():
        # Audit rows are never rewritten by a merge: the absorbed's stay under its ID.
        assert count(AuditEvent, AuditEvent.customer_id == absorbed_id,
                     AuditEvent.event == "identifier.added") == 3


# ---- factors: the survivor's wins, a missing one is taken ----------------------------------

def test_factor_conflict_the_survivors_password_and_app_win(app, token, pair):
    survivor_id, absorbed_id = pair
    with time_machine.travel(START, tick=False), app.app_context():
        survivor, absorbed = get_by_customer_id(survivor_id), get_by_customer_id(absorbed_id)
        survivor_secret, _ = enrol_totp(survivor)
        enrol_totp(absorbed)
        kept_hash = db.session.get(PasswordCredential, survivor.id).password_hash
        kept_sealed = db.session.get(TotpCredential, survivor.id).secret_sealed
        kept_codes = set(db.session.scalars(select(RecoveryCode.code_hash).where(
            RecoveryCode.customer_pk == survivor.id)))
        survivor_pk, absorbed_pk = survivor.id, absorbed.id

    merge_to_every_factor(app, token, survivor_id, absorbed_id)

    with app.app_context():
        assert db.session.get(PasswordCredential, survivor_pk).password_hash == kept_hash
        assert db.session.get(TotpCredential, survivor_pk).secret_sealed == kept_sealed
        assert set(db.session.scalars(select(RecoveryCode.code_hash).where(
            RecoveryCode.customer_pk == survivor_pk))) == kept_codes
        assert_no_factors_left(absorbed_pk)
        details = db.session.scalar(select(AuditEvent.details).where(
            AuditEvent.event == "customer.merged", AuditEvent.customer_id == survivor_id))
        assert (details["password_from"], details["totp_from"]) == ("survivor", "survivor")
        assert unseal(kept_sealed, f"totp:{survivor_pk}").decode() == survivor_secret


def test_factor_conflict_a_factor_the_survivor_lacks_is_taken_from_the_absorbed(app, token):
    with time_machine.travel(START, tick=False), app.app_context():
        survivor = make_customer(email="ada@example.com", password=None)
        absorbed = make_customer(email="ada.work@example.com")
        secret, codes = enrol_totp(absorbed)
        moved_hash = db.session.get(PasswordCredential, absorbed.id).password_hash
        survivor_id, absorbed_id = survivor.customer_id, absorbed.customer_id
        survivor_pk, absorbed_pk = survivor.id, absorbed.id

    merge_to_every_factor(app, token, survivor_id, absorbed_id)

    with app.app_context():
        assert db.session.get(PasswordCredential, survivor_pk).password_hash == moved_hash
        sealed = db.session.get(TotpCredential, survivor_pk).secret_sealed
        # Sealed again for the survivor: it opens with the survivor as context only.
        assert unseal(sealed, f"totp:{survivor_pk}").decode() == secret
        assert_no_factors_left(absorbed_pk)
        survivor = get_by_customer_id(survivor_id)
        with time_machine.travel(START.replace(minute=2), tick=False):
            assert totp.verify_totp(survivor, pyotp.TOTP(secret).now())
        assert recovery_codes.use(survivor, codes[0], TEST_ORIGIN)
        details = db.session.scalar(select(AuditEvent.details).where(
            AuditEvent.event == "customer.merged", AuditEvent.customer_id == survivor_id))
        assert (details["password_from"], details["totp_from"]) == ("absorbed", "absorbed")


def test_passkeys_of_both_are_kept_and_the_absorbed_ones_still_log_in(make_app):
    """A person may hold many passkeys: none has to lose. The absorbed's move with their
    user handles (their authenticators hold them), so they log in to the survivor."""
    app = make_app(ISSUER=PASSKEY_ORIGIN)
    token = admin_token(app, "admin:read admin:write")
    with app.app_context():
        survivor = make_customer(email="ada@example.com")
        absorbed = make_customer(email="ada.work@example.com")
        make_passkey(survivor, name="Laptop")
        phone = make_passkey(absorbed, synced=True, name="Phone")
        make_passkey(absorbed, name="Key")
        handles = dict(db.session.execute(select(PasskeyCredential.name,
                                                 PasskeyCredential.user_handle)).all())
        survivor_id, absorbed_id, absorbed_pk = (survivor.customer_id, absorbed.customer_id,
                                                 absorbed.id)

    response = merge_via_api(app, token, survivor_id, absorbed_id)

    assert response.status_code == 200, response.text
    assert [p["name"] for p in response.json["factors"]["passkeys"]] == ["Laptop", "Phone",
                                                                         "Key"]
    with app.app_context():
        assert count(PasskeyCredential, PasskeyCredential.customer_pk == absorbed_pk) == 0
        assert dict(db.session.execute(select(PasskeyCredential.name,
                                              PasskeyCredential.user_handle)).all()) == handles
        details = db.session.scalar(select(AuditEvent.details).where(
            AuditEvent.event == "customer.merged", AuditEvent.customer_id == survivor_id))
        assert details["passkeys_moved"] == 2
        flow = login_flow.begin(TEST_ORIGIN).flow
        db.session.flush()
        options = passkeys.authentication_options(flow.id)
        db.session.commit()
        answer = authenticator.get(phone, options, PASSKEY_ORIGIN)
        proof = passkeys.authenticate(flow.id, answer, TEST_ORIGIN)
        assert proof.customer.customer_id == survivor_id


# ---- consents, profile, required actions, locks --------------------------------------------

def test_consents_follow_their_rules(app, token, pair):
    survivor_id, absorbed_id = pair
    shared, only_absorbed = make_client(app, name="Shared")[0], make_client(app, name="Other")[0]
    with app.app_context():
        survivor, absorbed = get_by_customer_id(survivor_id), get_by_customer_id(absorbed_id)
        db.session.add_all([
            Consent(customer_pk=survivor.id, client_id=shared, scopes=["openid"]),
            Consent(customer_pk=absorbed.id, client_id=shared, scopes=["openid", "email"]),
            Consent(customer_pk=absorbed.id, client_id=only_absorbed, scopes=["openid"])])
        communication_consents.record(survivor, "email", "marketing", True, "account",
                                      TEST_ORIGIN)
        communication_consents.record(absorbed, "email", "marketing", False, "account",
                                      TEST_ORIGIN)
        communication_consents.record(absorbed, "email", "marketing", True, "account",
                                      TEST_ORIGIN)
        communication_consents.record(absorbed, "email", "marketing", False, "account",
                                      TEST_ORIGIN)
        communication_consents.record(absorbed, "sms", "service", True, "signup", TEST_ORIGIN)
        db.session.commit()

    assert merge_via_api(app, token, survivor_id, absorbed_id).status_code == 200

    with app.app_context():
        survivor, absorbed = get_by_customer_id(survivor_id), get_by_customer_id(absorbed_id)
        grants = dict(db.session.execute(select(Consent.client_id, Consent.scopes).where(
            Consent.customer_pk == survivor.id)).all())
        assert grants == {shared: ["openid"], only_absorbed: ["openid"]}
        states = {(s.channel, s.purpose): s for s in communication_consents.current(survivor)}
        assert states[("email", "marketing")].granted is True  # the survivor decided
        assert states[("sms", "service")].granted is True  # moved: the survivor never decided
        assert states[("sms", "service")].source == "signup"
        assert len(communication_consents.history(survivor)) == 2
        for model in (Consent, CommunicationConsent):
            assert count(model, model.customer_pk == absorbed.id) == 0, model


def test_profile_blanks_are_filled_required_actions_united_and_a_lock_wins(app, token, pair):
    survivor_id, absorbed_id = pair
    with app.app_context():
        survivor, absorbed = get_by_customer_id(survivor_id), get_by_customer_id(absorbed_id)
        survivor.required_actions = ["update_password"]
        survivor.locale = "en-GB"
        absorbed.required_actions = ["configure_totp", "update_password"]
        absorbed.nickname, absorbed.locale = "Countess", "fr-FR"
        absorbed.status, absorbed.lock_reason = "locked", "fraud check 12"
        absorbed.locked_at = START
        db.session.commit()

    response = merge_via_api(app, token, survivor_id, absorbed_id)

    assert response.status_code == 200, response.text
    view = response.json
    assert view["required_actions"] == ["update_password", "configure_totp"]
    assert (view["nickname"], view["locale"]) == ("Countess", "en-GB")
    assert view["status"] == "locked"
    assert view["lock"] == {"locked_at": START.isoformat(), "reason": "fraud check 12"}
    with app.app_context():
        absorbed = get_by_customer_id(absorbed_id)
        assert (absorbed.nickname, absorbed.locale, absorbed.lock_reason) == (None, None, None)
        assert absorbed.required_actions == []


def test_a_locked_survivor_stays_locked(app, token, pair):
    survivor_id, absorbed_id = pair
    with app.app_context():
        survivor = get_by_customer_id(survivor_id)
        survivor.status, survivor.lock_reason, survivor.locked_at = "locked", "support", START
        db.session.commit()
    response = merge_via_api(app, token, survivor_id, absorbed_id)
    assert response.status_code == 200, response.text
    assert response.json["status"] == "locked"
    assert response.json["lock"]["reason"] == "support"


def test_a_browser_known_to_both_keeps_one_row_with_both_times(app, token, pair):
    survivor_id, absorbed_id = pair
    early, late = datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC)
    with app.app_context():
        with time_machine.travel(late, tick=False):
            remember(get_by_customer_id(survivor_id), "shared-browser", "Safari")
            db.session.flush()
        with time_machine.travel(early, tick=False):
            remember(get_by_customer_id(absorbed_id), "shared-browser", "Safari")
            db.session.flush()
        db.session.commit()
    assert merge_via_api(app, token, survivor_id, absorbed_id).status_code == 200
    with app.app_context():
        [device] = db.session.scalars(select(KnownDevice)).all()
        assert device.customer_pk == customer_pk(survivor_id)
        assert (device.first_seen_at, device.last_seen_at) == (early, late)


def test_customers_merged_into_the_absorbed_are_repointed_never_a_chain(app, token, pair):
    survivor_id, absorbed_id = pair
    with app.app_context():
        older_id = make_customer(email="ada.old@example.com").customer_id
    assert merge_via_api(app, token, absorbed_id, older_id).status_code == 200
    assert merge_via_api(app, token, survivor_id, absorbed_id).status_code == 200
    with app.app_context():
        older = get_by_customer_id(older_id)
        assert older.merged_into_pk == customer_pk(survivor_id)
        assert find_customer("ada.old@example.com").customer_id == survivor_id
    view, _ = read_customer(app, token, older_id)
    assert view["customer_id"] == survivor_id and view["resolved_from"] == older_id
    assert set(view["aliases"]) == {absorbed_id, older_id}


# ---- logged out everywhere ------------------------------------------------------------------

def test_both_customers_are_logged_out_and_their_tokens_revoked(app, token, pair):
    survivor_id, absorbed_id = pair
    rp, rp_secret = make_client(app, scope="openid")
    resource_server = (rp, rp_secret)  # the token's own client may introspect it
    issued = {cid: issue_tokens(app, rp, cid) for cid in pair}
    with app.app_context():
        for cid in pair:
            start_session(get_by_customer_id(cid), ["pwd"], ACR_SINGLE_FACTOR, TEST_ORIGIN)
        db.session.commit()
    client = app.test_client()
    for grant in issued.values():
        assert client.post("/introspect", data={"token": grant["access_token"]},
                           auth=resource_server).json["active"] is True

    assert merge_via_api(app, token, survivor_id, absorbed_id).status_code == 200

    for grant in issued.values():
        for kind in ("access_token", "refresh_token"):
            answer = client.post("/introspect", data={"token": grant[kind]},
                                 auth=resource_server)
            assert answer.json == {"active": False}, kind
    with app.app_context():
        assert count(IssuedToken, IssuedToken.customer_pk.is_not(None),
                     IssuedToken.revoked_at.is_(None)) == 0
        assert count(LoginSession, LoginSession.ended_at.is_(None)) == 0
        for cid in pair:
            assert get_by_customer_id(cid).tokens_not_before is not None
        details = db.session.scalar(select(AuditEvent.details).where(
            AuditEvent.event == "customer.merged", AuditEvent.customer_id == survivor_id))
        assert (details["sessions_ended"], details["tokens_revoked"]) == (2, 2)


# ---- refusals change nothing -----------------------------------------------------------------

def _absorbed(ids, case):
    """The absorbed_customer_id of each refusal case."""
    survivor_id, absorbed_id, alias_id, erased_id = ids
    typo = absorbed_id[:-1] + ("0" if absorbed_id[-1] != "0" else "1")
    return {"typo": typo, "unknown": customer_ids.generate(), "same": survivor_id,
            "alias": alias_id, "erased": erased_id}.get(case, absorbed_id)


@pytest.mark.parametrize("case, status, kind", [
    ("typo", 400, "invalid-body"),
    ("unknown", 404, "unknown-absorbed-customer"),
    ("same", 409, "same-customer"),
    ("alias", 409, "already-merged"),
    ("erased", 409, "customer-erased"),
    ("deletion_pending", 409, "merge-conflict"),
    ("no_if_match", 428, "if-match-required"),
    ("stale_if_match", 412, "stale-etag"),
    ("stale_absorbed_etag", 412, "stale-absorbed-etag"),
    ("unknown_field", 400, "invalid-body"),
    ("missing_id", 400, "invalid-body"),
    ("null_etag", 400, "invalid-body"),
    ("number_id", 400, "invalid-body"),
])
def test_refusals_change_nothing(app, token, pair, case, status, kind):
    survivor_id, absorbed_id = pair
    with app.app_context():
        alias = make_customer(email="ada.alias@example.com")
        alias.status, alias.merged_into_pk = "merged", customer_pk(survivor_id)
        erased = make_customer(email=None, phone=US_PHONE)
        erased.status = "erased"
        if case == "deletion_pending":
            get_by_customer_id(absorbed_id).deletion_due_at = START
        db.session.commit()
        ids = (survivor_id, absorbed_id, alias.customer_id, erased.customer_id)
    _, etag = read_customer(app, token, survivor_id)
    _, absorbed_etag = read_customer(app, token, absorbed_id)
    body = {"absorbed_customer_id": _absorbed(ids, case)}
    headers = {"If-Match": etag}
    if case == "no_if_match":
        headers = {}
    elif case == "stale_if_match":
        headers = {"If-Match": etag.replace(".", ".9")}
    elif case == "stale_absorbed_etag":
        body["absorbed_etag"] = absorbed_etag.replace(".", ".9")
    elif case == "unknown_field":
        body["absorbed"] = absorbed_id
    elif case == "missing_id":
        body = {}
    elif case == "null_etag":
        body["absorbed_etag"] = None
    elif case == "number_id":
        body["absorbed_customer_id"] = 42
    before = database_state(app)

    response = post(app, f"/customers/{survivor_id}/merge", token, body, **headers)

    assert_problem(response, status, kind)
    assert database_state(app) == before


def test_a_current_absorbed_etag_is_accepted(app, token, pair):
    survivor_id, absorbed_id = pair
    _, absorbed_etag = read_customer(app, token, absorbed_id)
    response = merge_via_api(app, token, survivor_id, absorbed_id, absorbed_etag=absorbed_etag)
    assert response.status_code == 200, response.text


def test_merging_needs_the_write_scope(app, pair):
    survivor_id, absorbed_id = pair
    reader = admin_token(app, "admin:read admin:gdpr")
    before = database_state(app)
    response = post(app, f"/customers/{survivor_id}/merge", reader,
                    {"absorbed_customer_id": absorbed_id}, **{"If-Match": "*"})
    assert_problem(response, 403)
    assert database_state(app) == before


# ---- atomic -----------------------------------------------------------------------------------

def test_a_failure_half_way_leaves_both_customers_as_they_were(app, token, pair, monkeypatch):
    survivor_id, absorbed_id = pair
    _, etag = read_customer(app, token, survivor_id)

    def fail(*args):
        raise RuntimeError("the database went away half-way")

    # After identifiers, links, bindings, devices and factors have moved.
    monkeypatch.setattr(customer_merge, "_merge_app_consents", fail)
    before = database_state(app)

    response = post(app, f"/customers/{survivor_id}/merge", token,
                    {"absorbed_customer_id": absorbed_id}, **{"If-Match": etag})

    assert_problem(response, 500, "internal-error")
    assert database_state(app) == before
    assert [m for m in read_outbox(app) if "merged" in m.get("subject", "")] == []


def test_an_absorbed_customer_erased_meanwhile_is_refused_and_nothing_moves(app, pair):
    survivor_id, absorbed_id = pair
    before = database_state(app)
    with app.app_context():
        survivor, absorbed = get_by_customer_id(survivor_id), get_by_customer_id(absorbed_id)
        # Another transaction erased the absorbed customer after this one read it: the
        # objects in hand still say "active".
        db.session.execute(text("UPDATE customers SET status = 'erased' WHERE id = :pk"),
                           {"pk": absorbed.id})
        assert absorbed.status == "active"
        with pytest.raises(MergeConflict, match="meanwhile"):
            merge(survivor, absorbed, TEST_ORIGIN)
        assert count(Identifier, Identifier.customer_pk == survivor.id) == 1
        db.session.rollback()
    assert database_state(app) == before


def test_the_service_refuses_the_same_customer_and_merged_ones(app, pair):
    survivor_id, absorbed_id = pair
    with app.app_context():
        survivor, absorbed = get_by_customer_id(survivor_id), get_by_customer_id(absorbed_id)
        with pytest.raises(MergeConflict):
            merge(survivor, survivor, TEST_ORIGIN)
        db.session.execute(update(Customer).where(Customer.id == absorbed.id)
                           .values(status="merged", merged_into_pk=survivor.id))
        db.session.refresh(absorbed)
        with pytest.raises(MergeConflict, match="already merged"):
            merge(survivor, absorbed, TEST_ORIGIN)
        db.session.rollback()


def test_two_merges_of_one_pair_in_opposite_directions_one_wins(app, token, pair):
    first_id, second_id = pair
    etags = {cid: read_customer(app, token, cid)[1] for cid in pair}
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def merge_into(survivor_id: str, absorbed_id: str) -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        response = client.post(f"/admin/api/customers/{survivor_id}/merge",
                               json={"absorbed_customer_id": absorbed_id},
                               headers=auth(token, **{"If-Match": etags[survivor_id]}))
        answers[survivor_id] = response.status_code

    threads = [threading.Thread(target=merge_into, args=(first_id, second_id)),
               threading.Thread(target=merge_into, args=(second_id, first_id))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers.values()) in ([200, 409], [200, 412]), answers
    [winner] = [cid for cid, status in answers.items() if status == 200]
    loser = second_id if winner == first_id else first_id
    with app.app_context():
        assert get_by_customer_id(loser).status == "merged"
        assert get_by_customer_id(loser).merged_into_pk == customer_pk(winner)
        assert get_by_customer_id(winner).status == "active"
        assert count(Identifier, Identifier.customer_pk == customer_pk(winner)) == 4
