"""Passkeys (app/auth/passkeys.py and the login flow): the checks a relying party makes,
against answers from a software authenticator (tests/fakes/authenticator.py)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from app.auth import flow as login_flow
from app.auth import passkeys
from app.auth.levels import (ACR_MULTI_FACTOR, ACR_PHISHING_RESISTANT, ACR_SINGLE_FACTOR,
                             levels_of)
from app.auth.login import LoginRefused
from app.extensions import db
from app.models import AuditEvent, PasskeyChallenge, PasskeyCredential, utcnow
from app.platform.audit import Origin
from tests.factories import (PASSKEY_ORIGIN, STRONG_PASSWORD, make_customer, make_login_session,
                             make_passkey)
from tests.fakes import authenticator

ISSUER = PASSKEY_ORIGIN
ORIGIN = Origin(actor="customer", ip="127.0.0.1", user_agent="Mozilla/5.0 (X11; Linux x86_64)")


@pytest.fixture
def rp_app(make_app):
    """The app on an issuer that can be an RP ID (localhost)."""
    return make_app(ISSUER=ISSUER)


@pytest.fixture
def ctx(rp_app):
    with rp_app.app_context():
        yield rp_app


def _events(name):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)).all()


def _first_factor(soft, **answer):
    """A new login flow answered by `soft`: (flow, FlowState or LoginRefused)."""
    flow = login_flow.begin(ORIGIN).flow
    db.session.flush()
    options = login_flow.passkey_options(flow)
    db.session.commit()
    response = authenticator.get(soft, options, answer.pop("origin", ISSUER), **answer)
    try:
        return flow, login_flow.prove_passkey(flow, response, ORIGIN)
    except LoginRefused as refusal:
        return flow, refusal


def test_registration_stores_the_credential_and_its_flags(ctx):
    customer = make_customer()
    session_pk = make_login_session(customer)
    options = json.loads(passkeys.registration_options(customer, session_pk))
    db.session.commit()
    assert options["rp"] == {"id": "localhost", "name": "Tessera"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    user_id = authenticator.unb64url(options["user"]["id"])
    assert len(user_id) == 32 and b"ada" not in user_id
    assert customer.customer_id.encode() not in user_id

    soft, response = authenticator.create(json.dumps(options), ISSUER, synced=True)
    passkeys.register(customer, session_pk, response, "  Phone\n ", ORIGIN)
    db.session.commit()
    [stored] = passkeys.passkeys_of(customer)
    assert stored.name == "Phone" and stored.backup_eligible and stored.backed_up
    assert stored.aaguid == authenticator.AAGUID
    assert stored.transports == ["internal", "hybrid"]
    assert stored.credential_id == authenticator.b64url(soft.credential_id)
    assert [e.details["passkey_id"] for e in _events("passkey.added")] == [stored.id]

    # The same authenticator again: excluded in the options, refused if answered anyway.
    again = json.loads(passkeys.registration_options(customer, session_pk))
    db.session.commit()
    assert [c["id"] for c in again["excludeCredentials"]] == [stored.credential_id]
    assert again["user"]["id"] == options["user"]["id"]  # one handle per customer


def test_a_registration_answer_for_another_site_or_challenge_is_refused(ctx):
    customer = make_customer()
    session_pk = make_login_session(customer)
    cases = [dict(origin="https://evil.example"), dict(rp_id="evil.example")]
    for case in cases:
        options = passkeys.registration_options(customer, session_pk)
        db.session.commit()
        _soft, response = authenticator.create(options, case.get("origin", ISSUER),
                                               rp_id=case.get("rp_id"))
        with pytest.raises(passkeys.PasskeyError):
            passkeys.register(customer, session_pk, response, None, ORIGIN)
        db.session.commit()
    # A challenge of another session is not this one's.
    options = passkeys.registration_options(customer, session_pk)
    db.session.commit()
    _soft, response = authenticator.create(options, ISSUER)
    other_pk = make_login_session(make_customer("eve@example.com"))
    with pytest.raises(passkeys.PasskeyError, match="expired or was already used"):
        passkeys.register(customer, other_pk, response, None, ORIGIN)
    assert passkeys.passkeys_of(customer) == []
    assert len(_events("passkey.refused")) == 2


def test_a_passkey_with_user_verification_is_two_factors(ctx):
    customer = make_customer()
    soft = make_passkey(customer)
    flow, state = _first_factor(soft)
    assert state.step == login_flow.DONE
    assert flow.factors == ["hwk", "user"]
    assert levels_of(flow.factors) == (["hwk", "user", "mfa"], ACR_PHISHING_RESISTANT)
    synced = make_passkey(make_customer("bob@example.com"), synced=True)
    flow, state = _first_factor(synced)
    assert levels_of(flow.factors)[0] == ["swk", "user", "mfa"]
    stored = db.session.scalar(select(PasskeyCredential).where(
        PasskeyCredential.credential_id == authenticator.b64url(synced.credential_id)))
    assert stored.last_used_at is not None and stored.sign_count == 0


def test_a_passkey_without_user_verification_is_one_factor(ctx):
    customer = make_customer()
    soft = make_passkey(customer, user_verified=False)
    flow, state = _first_factor(soft, user_verified=False)
    assert state.step == login_flow.DONE
    assert levels_of(flow.factors) == (["hwk"], ACR_SINGLE_FACTOR)
    # An app asking for two factors: the passkey alone is not enough.
    flow = login_flow.begin(ORIGIN, required_acr=ACR_MULTI_FACTOR).flow
    db.session.flush()
    options = login_flow.passkey_options(flow)
    db.session.commit()
    state = login_flow.prove_passkey(flow, authenticator.get(soft, options, ISSUER,
                                                             user_verified=False), ORIGIN)
    assert state.step == login_flow.SECOND and login_flow.METHOD_PASSKEY not in state.methods


def test_every_failure_reads_like_a_wrong_password_and_is_audited(ctx):
    customer = make_customer()
    soft = make_passkey(customer)
    stranger = authenticator.SoftPasskey(rp_id="localhost", user_handle=soft.user_handle)
    cases = {
        "wrong origin": (soft, dict(origin="http://localhost:5001")),
        "wrong RP ID": (soft, dict(rp_id="example.com")),
        "unknown credential": (stranger, {}),
    }
    for case, (key, answer) in cases.items():
        flow, refusal = _first_factor(key, **answer)
        assert isinstance(refusal, LoginRefused), case
        assert refusal.message == str(passkeys.PASSKEY_FAILURE), case
        assert flow.factors == [], case
    reasons = [e.details["reason"] for e in _events("login.failed")]
    assert reasons == ["bad_assertion", "bad_assertion", "unknown_credential"]


def test_a_challenge_is_spent_once_and_expires(ctx):
    customer = make_customer()
    soft = make_passkey(customer)
    flow = login_flow.begin(ORIGIN).flow
    db.session.flush()
    options = login_flow.passkey_options(flow)
    db.session.commit()
    response = authenticator.get(soft, options, ISSUER)
    login_flow.prove_passkey(flow, response, ORIGIN)
    db.session.commit()
    replay = login_flow.begin(ORIGIN).flow  # the same answer in another flow, or again
    db.session.commit()
    for target in (flow, replay):
        with pytest.raises(LoginRefused):
            login_flow.prove_passkey(target, response, ORIGIN)

    late = login_flow.begin(ORIGIN).flow
    db.session.flush()
    options = login_flow.passkey_options(late)
    db.session.commit()
    with time_machine.travel(utcnow().timestamp() + passkeys.CHALLENGE_SECONDS + 1):
        with pytest.raises(LoginRefused, match="expired or was already used"):
            login_flow.prove_passkey(late, authenticator.get(soft, options, ISSUER), ORIGIN)
    assert late.factors == []


def test_a_counter_that_goes_back_is_refused_for_a_device_bound_key(ctx):
    customer = make_customer()
    soft = make_passkey(customer)
    _flow, state = _first_factor(soft, sign_count=5)
    assert state.step == login_flow.DONE
    _flow, refusal = _first_factor(soft, sign_count=3)
    assert isinstance(refusal, LoginRefused)
    [flagged] = _events("passkey.sign_count_regressed")
    assert (flagged.details["stored"], flagged.details["reported"]) == (5, 3)
    # A synced passkey that keeps no counter (0 every time) is not a clone.
    synced = make_passkey(make_customer("bob@example.com"), synced=True)
    for _ in range(2):
        _flow, state = _first_factor(synced)
        assert state.step == login_flow.DONE
    assert len(_events("passkey.sign_count_regressed")) == 1


def test_a_passkey_of_another_customer_cannot_be_the_second_factor(ctx):
    ada, eve = make_customer(), make_customer("eve@example.com")
    make_passkey(ada)
    eve_key = make_passkey(eve)
    flow = login_flow.begin(ORIGIN, required_acr=ACR_MULTI_FACTOR, customer=ada).flow
    db.session.flush()
    options = json.loads(login_flow.passkey_options(flow))
    db.session.commit()
    assert [c["id"] for c in options["allowCredentials"]] == \
        [p.credential_id for p in passkeys.passkeys_of(ada)]
    with pytest.raises(LoginRefused):
        login_flow.prove_passkey(flow, authenticator.get(eve_key, json.dumps(options),
                                                         ISSUER), ORIGIN)
    assert flow.factors == []
    assert _events("login.failed")[-1].details["reason"] == "another_customer"


def test_phishing_resistant_needs_a_passkey(ctx):
    customer = make_customer()
    flow = login_flow.begin(ORIGIN, required_acr=ACR_PHISHING_RESISTANT).flow
    state = login_flow.prove_password(flow, "ada@example.com", STRONG_PASSWORD,
                                      ORIGIN)
    assert state.step == login_flow.SECOND and state.methods == ()  # no passkey yet
    soft = make_passkey(customer, user_verified=False)
    flow = login_flow.begin(ORIGIN, required_acr=ACR_PHISHING_RESISTANT).flow
    state = login_flow.prove_password(flow, "ada@example.com", STRONG_PASSWORD,
                                      ORIGIN)
    assert state.methods == (login_flow.METHOD_PASSKEY,)
    options = login_flow.passkey_options(flow)
    db.session.commit()
    state = login_flow.prove_passkey(flow, authenticator.get(soft, options, ISSUER,
                                                             user_verified=False), ORIGIN)
    assert state.step == login_flow.DONE
    assert levels_of(flow.factors) == (["pwd", "hwk", "mfa"], ACR_PHISHING_RESISTANT)


def test_an_ip_address_issuer_turns_passkeys_off(make_app):
    assert passkeys.unavailable_reason("http://127.0.0.1:5000").startswith(
        "the issuer's host 127.0.0.1 is an IP address")
    assert "secure context" in passkeys.unavailable_reason("http://id.example.com")
    for issuer in ("http://localhost:5000", "https://id.example.com", "http://app.localhost"):
        assert passkeys.unavailable_reason(issuer) is None
    app = make_app(ISSUER="http://127.0.0.1:5000")
    with app.app_context():
        assert not passkeys.available()
        with pytest.raises(passkeys.PasskeyError):
            passkeys.registration_options(make_customer(), 1)


def test_an_allow_list_of_authenticators_refuses_an_unattested_passkey(make_app):
    app = make_app(ISSUER=ISSUER, PASSKEY_AAGUIDS="ee882879-721c-4913-9775-3dfcce97072a")
    with app.app_context():
        customer = make_customer()
        session_pk = make_login_session(customer)
        options = passkeys.registration_options(customer, session_pk)
        db.session.commit()
        assert json.loads(options)["attestation"] == "direct"
        _soft, response = authenticator.create(options, ISSUER)  # attestation "none"
        with pytest.raises(passkeys.PasskeyError, match="not accepted here"):
            passkeys.register(customer, session_pk, response, None, ORIGIN)
        assert passkeys.passkeys_of(customer) == []
        assert _events("passkey.refused")[0].details["reason"] == "aaguid_not_allowed"


@pytest.mark.parametrize(("settings", "named"), [
    ({"PASSKEY_AAGUIDS": "yubikey"}, "TESSERA_PASSKEY_AAGUIDS"),
    ({"PASSKEY_RP_ID": "example.org"}, "TESSERA_PASSKEY_RP_ID"),
    ({"PASSKEY_RP_ID": "com"}, "TESSERA_PASSKEY_RP_ID"),
    ({"PASSKEY_ATTESTATION_ROOTS": "/nonexistent.pem",
      "PASSKEY_AAGUIDS": authenticator.AAGUID}, "TESSERA_PASSKEY_ATTESTATION_ROOTS"),
    ({"PASSKEY_ATTESTATION_ROOTS": __file__}, "TESSERA_PASSKEY_ATTESTATION_ROOTS"),
])
def test_bad_passkey_settings_are_refused_at_start_up(make_app, settings, named):
    from app.config import ConfigError
    with pytest.raises(ConfigError, match=named):
        make_app(ISSUER="https://id.example.com", **settings)


def test_a_parent_domain_may_be_the_rp_id(make_app):
    app = make_app(ISSUER="https://id.example.com", PASSKEY_RP_ID="example.com")
    with app.app_context():
        assert passkeys.relying_party() == passkeys.RelyingParty(
            id="example.com", origin="https://id.example.com")


# ---- answers recorded from Chromium's virtual authenticator ----------------------------------

RECORDED = json.loads((Path(__file__).parents[1] / "fakes" / "recorded_passkey.json").read_text())


def _recorded_challenge(step: str, **binding) -> None:
    """Stand in for the options request: keep the recorded answer's challenge as the one
    handed to this flow or session (the recording fixed it; ours are random)."""
    challenge = authenticator.unb64url(RECORDED[step]["challenge"])
    now = utcnow()
    db.session.add(PasskeyChallenge(
        challenge_hash=passkeys._challenge_hash(challenge),
        purpose=passkeys.REGISTER if step == "registration" else passkeys.AUTHENTICATE,
        user_handle=RECORDED["user_handle"] if step == "registration" else None,
        created_at=now, expires_at=now + timedelta(seconds=60), **binding))
    db.session.commit()


@pytest.mark.parametrize(("issuer", "accepted"), [
    (RECORDED["origin"], True),
    ("http://localhost:5988", False),  # another origin (port) on the same RP ID
    ("https://localhost:5987", False),  # another scheme
])
def test_a_recorded_chromium_passkey_registers_and_logs_in_at_its_origin_only(
        make_app, issuer, accepted):
    app = make_app(ISSUER=issuer)
    with app.app_context():
        customer = make_customer()
        session_pk = make_login_session(customer)
        _recorded_challenge("registration", login_session_pk=session_pk)
        registration = json.dumps(RECORDED["registration"]["response"])
        if not accepted:
            with pytest.raises(passkeys.PasskeyError):
                passkeys.register(customer, session_pk, registration, "Chromium", ORIGIN)
            assert passkeys.passkeys_of(customer) == []
            return
        passkeys.register(customer, session_pk, registration, "Chromium", ORIGIN)
        db.session.commit()
        [stored] = passkeys.passkeys_of(customer)
        assert stored.user_handle == RECORDED["user_handle"] and not stored.backup_eligible
        registered_count = stored.sign_count

        flow = login_flow.begin(ORIGIN).flow
        db.session.commit()
        _recorded_challenge("authentication", login_flow_pk=flow.id)
        assertion = json.dumps(RECORDED["authentication"]["response"])
        state = login_flow.prove_passkey(flow, assertion, ORIGIN)
        assert state.step == login_flow.DONE and flow.factors == ["hwk", "user"]
        assert stored.sign_count > registered_count  # Chromium's counter moved on
        db.session.commit()
        again = login_flow.begin(ORIGIN).flow  # the same recorded answer, replayed
        db.session.commit()
        with pytest.raises(LoginRefused, match="expired or was already used"):
            login_flow.prove_passkey(again, assertion, ORIGIN)
