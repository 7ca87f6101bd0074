"""Phone trust, one scenario per rule, end to end: the login flow, the phone bindings and
the sweep, with Twilio Lookup v2 answered by the fake Twilio on 127.0.0.1 through the real
twilio SDK. Time moves with time_machine, never with sleeps."""
from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from app.auth import flow
from app.auth.levels import ACR_MULTI_FACTOR, ACR_PHONE_UNCHECKED, ACR_SINGLE_FACTOR
from app.auth.login import LoginRefused
from app.auth.sms_codes import SmsCodeError
from app.extensions import db
from app.models import AuditEvent, LoginSession, utcnow
from app.models.phone import RECYCLED
from app.phones import bindings, trust
from app.risk.phone_policy import ALLOW
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer, make_totp
from tests.fakes.twilio_server import lookup_json
from tests.helpers import LOOKUP_FIELDS as FIELDS, last_code, read_outbox

PHONE = "+14155552671"


@pytest.fixture
def app(app_with_twilio_lookup):
    """Tessera with Twilio Lookup (through the fake) and console SMS."""
    return app_with_twilio_lookup


def answer(fake, **packages) -> None:
    """The next Lookup answer: the documented defaults with these packages replaced."""
    body = lookup_json(PHONE, FIELDS)
    for name, changes in packages.items():
        body[name] = None if changes is None else {**body[name], **changes}
    fake.reply(200, body)


def texted(app) -> list[dict]:
    return [m for m in read_outbox(app) if m["to"] == PHONE]


def sms_login(app):
    """Start a passwordless login to PHONE; return the flow."""
    started = flow.begin(TEST_ORIGIN)
    flow.start_sms_login(started.flow, PHONE, TEST_ORIGIN)
    return started.flow


def with_totp(customer) -> str:
    secret, _codes = make_totp(customer)
    db.session.commit()
    return secret


def age_binding(customer, days: int) -> None:
    binding = bindings.binding_of(customer, PHONE)
    binding.last_verified_at = utcnow() - timedelta(days=days)
    binding.first_verified_at = binding.last_verified_at
    db.session.commit()


def test_a_clean_number_logs_in_by_sms(app, fake_twilio):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        login = sms_login(app)
        assert flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN).step == flow.DONE
        token = flow.finish(login, TEST_ORIGIN)
        session = db.session.scalar(select(LoginSession))
        assert session.risk == [{"purpose": "login", "action": ALLOW,
                                 "signals": session.risk[0]["signals"], "unchecked": False}]
        assert session.acr == ACR_SINGLE_FACTOR
        assert token
    # One lookup for the carrier snapshot when the phone was bound, one for the login.
    lookups = [r for r in fake_twilio.requests if r.path.startswith("/v2/PhoneNumbers/")]
    assert len(lookups) == 2 and lookups[-1].query["Fields"] == FIELDS
    assert customer


def test_sim_swapped_yesterday(app, fake_twilio):
    """SMS refused (nothing texted), TOTP still works, the hold ends after 7 days."""
    with app.app_context():
        customer = make_customer(phone=PHONE)
        secret = with_totp(customer)
        yesterday = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer(fake_twilio, sim_swap={"last_sim_swap": {
            "last_sim_swap_date": yesterday, "swapped_period": "PT168H",
            "swapped_in_period": True}})
        login = sms_login(app)
        assert texted(app) == []
        with pytest.raises(SmsCodeError):
            flow.prove_sms(login, "123456", TEST_ORIGIN)
        binding = bindings.binding_of(customer, PHONE)
        hold = binding.sms_hold_until
        assert timedelta(days=5) < hold - utcnow() <= timedelta(days=7, minutes=1)
        assert trust.paused_reason(customer)  # the account page explains it

        # The customer still gets in with the password and the authenticator app, and
        # SMS is not offered as the second factor while held.
        started = flow.begin(TEST_ORIGIN)
        state = flow.prove_password(started.flow, "ada@example.com", STRONG_PASSWORD,
                                    TEST_ORIGIN)
        assert flow.METHOD_SMS not in state.methods
        assert flow.prove_totp(started.flow, pyotp.TOTP(secret).now(),
                               TEST_ORIGIN).step == flow.DONE

    with time_machine.travel(hold + timedelta(minutes=1), tick=False):
        with app.app_context():
            sms_login(app)  # the fake now answers with the old, 2020 swap
            assert len(texted(app)) == 1
            customer = db.session.merge(customer)
            assert trust.paused_reason(customer) == []


def test_number_reassigned_after_our_last_verification(app, fake_twilio):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        age_binding(customer, 60)
        answer(fake_twilio, reassigned_number={"is_number_reassigned": "yes"})
        sms_login(app)
        assert texted(app) == []
        [binding] = bindings.bindings_of(customer)
        assert binding.status == RECYCLED
        lookup = [r for r in fake_twilio.requests if r.path.startswith("/v2/PhoneNumbers/")][-1]
        assert lookup.query["LastVerifiedDate"] == \
            (utcnow() - timedelta(days=60)).strftime("%Y%m%d")
        # From now on SMS never opens this account through the number.
        with time_machine.travel(utcnow() + timedelta(minutes=1), tick=False):
            sms_login(app)
        assert texted(app) == []


def test_dormant_number_asks_for_a_second_factor(app, fake_twilio):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        secret = with_totp(customer)
        age_binding(customer, 120)
        login = sms_login(app)
        assert len(texted(app)) == 1
        state = flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN)
        assert state.step == flow.SECOND and flow.METHOD_TOTP in state.methods
        assert flow.prove_totp(login, pyotp.TOTP(secret).now(), TEST_ORIGIN).step == flow.DONE


@pytest.mark.parametrize("line_type, texted_count", [("nonFixedVoip", 1), ("landline", 0)])
def test_line_type_changed_to_voip_or_landline(app, fake_twilio, line_type, texted_count):
    """VoIP: a second factor is asked; landline: the number is refused for SMS."""
    with app.app_context():
        make_customer(phone=PHONE)
        answer(fake_twilio, line_type_intelligence={"type": line_type})
        login = sms_login(app)
        assert len(texted(app)) == texted_count
        if texted_count:
            state = flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN)
            assert state.step == flow.SECOND
        decisions = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "phone.decision")).all()
        assert decisions[-1].details["action"] == ("step_up" if texted_count else "reject")


def test_a_new_holder_takes_the_number_and_the_old_account_is_closed_to_sms(app, fake_twilio):
    from app.directory.customers import normalize_identifier, take_over_phone
    with app.app_context():
        old = make_customer(email="old@example.com", phone=PHONE)
        new = make_customer(email="new@example.com")
        take_over_phone(new, normalize_identifier("phone", PHONE), TEST_ORIGIN)
        db.session.commit()
        login = sms_login(app)
        flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN)
        assert login.customer_pk == new.id != old.id
        assert all("old@example.com" not in m["body"] for m in texted(app))


@pytest.mark.parametrize("trouble", ["no-coverage", "down"])
def test_no_sms_only_recovery_when_the_provider_cannot_tell(app, fake_twilio, trouble):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        if trouble == "no-coverage":
            answer(fake_twilio, sim_swap={"last_sim_swap": None, "error_code": 60620})
        else:
            fake_twilio.error(503)
            fake_twilio.error(503)
        decision = trust.assess(customer, PHONE, "recovery", TEST_ORIGIN)
        assert decision.action != ALLOW
        assert "sim_swap_unknown" in decision.signals


def recycled_notices(app) -> list[dict]:
    return [m for m in read_outbox(app)
            if m.get("subject") == "A phone number no longer opens your account"]


def test_a_number_found_recycled_at_login_tells_the_customer_by_email(app, fake_twilio):
    """Issue 12, item 15: the login path, like the sweep and "add a phone", tells the old
    customer on their other channel (never the number itself), once, after the commit."""
    with app.app_context():
        customer = make_customer(phone=PHONE)
        age_binding(customer, 60)
        answer(fake_twilio, reassigned_number={"is_number_reassigned": "yes"})
        sms_login(app)
        [notice] = recycled_notices(app)
        assert notice["to"] == "ada@example.com" and PHONE in notice["body"]
        assert texted(app) == []


def test_a_recycled_mark_that_rolls_back_tells_nobody(app):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        binding = bindings.binding_of(customer, PHONE)
        with pytest.raises(RuntimeError), db.session.begin_nested():
            bindings.mark_recycled(binding, "test", TEST_ORIGIN)
            raise RuntimeError("the savepoint rolls back")
        db.session.commit()
        assert recycled_notices(app) == []
        bindings.mark_recycled(bindings.binding_of(customer, PHONE), "test",
                               TEST_ORIGIN)
        assert recycled_notices(app) == []  # not before the commit
        db.session.commit()
        assert len(recycled_notices(app)) == 1


def lookup_fails(fake, trouble: str) -> None:
    """The next lookup cannot answer: the provider is down (a 503, then its retry), or
    answers garbage."""
    if trouble == "down":
        fake.error(503)
        fake.error(503)
    else:
        fake.reply_raw(200, "<html>not json</html>")


@pytest.mark.parametrize("trouble", ["down", "garbage"])
def test_an_unchecked_number_steps_up_to_another_factor(app, fake_twilio, trouble):
    """Issue 12, item 16: when the lookup cannot answer, the code alone does not open an
    account that has another factor."""
    with app.app_context():
        make_customer(phone=PHONE)  # with a password
        lookup_fails(fake_twilio, trouble)
        login = sms_login(app)
        assert len(texted(app)) == 1  # a step up, not a refusal: the code is sent
        state = flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN)
        assert state.step == flow.SECOND and flow.METHOD_PASSWORD in state.methods
        with pytest.raises(LoginRefused):
            flow.finish(login, TEST_ORIGIN)
        state = flow.prove_password(login, "", STRONG_PASSWORD, TEST_ORIGIN)
        assert state.step == flow.DONE
        flow.finish(login, TEST_ORIGIN)
        assert db.session.scalar(select(LoginSession)).acr == ACR_MULTI_FACTOR


@pytest.mark.parametrize("trouble", ["down", "garbage"])
def test_an_unchecked_number_with_nothing_else_gets_a_weaker_session_and_an_email(
        app, fake_twilio, trouble):
    """Issue 12, item 16: a customer with no other factor is let in, to a session marked
    weaker (acr) that no sensitive change accepts, and is told by email."""
    from app.web.reauth import is_fresh
    with app.app_context():
        make_customer(phone=PHONE, password=None)
        lookup_fails(fake_twilio, trouble)
        login = sms_login(app)
        assert flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN).step == flow.DONE
        flow.finish(login, TEST_ORIGIN)
        db.session.commit()
        session = db.session.scalar(select(LoginSession))
        assert session.amr == ["sms"] and session.acr == ACR_PHONE_UNCHECKED
        assert session.risk[-1]["unchecked"] is True
        assert not is_fresh(session) and not is_fresh(session, second_factor=True)
        [notice] = [m for m in read_outbox(app) if m["to"] == "ada@example.com"
                    and m.get("subject") == "A login we could not fully check"]
        assert "+14•••••••71" in notice["body"]
        succeeded = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "login.succeeded")).one()
        assert succeeded.details["acr"] == ACR_PHONE_UNCHECKED


def test_the_sweep_marks_a_recycled_binding(app, fake_twilio, runner):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        age_binding(customer, 200)
        fresh = make_customer(email="bob@example.com", phone="+14155552672")
        answer(fake_twilio, reassigned_number={"is_number_reassigned": "yes"})
    result = app.test_cli_runner().invoke(args=["phones", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"checked": 1, "recycled": 1, "unknown": 0}
    with app.app_context():
        assert bindings.bindings_of(db.session.merge(customer))[0].status == RECYCLED
        assert bindings.bindings_of(db.session.merge(fresh))[0].status == "active"
    [notice] = [m for m in read_outbox(app) if m["to"] == "ada@example.com"]
    assert "no longer" in notice["subject"]


# ---- account recovery by SMS ---------------------------------------------------------------

def recover(app, phone=PHONE):
    from app.auth import recovery
    started, _ = recovery.start(phone, TEST_ORIGIN)
    return started.flow


def test_recovery_by_sms_on_a_clean_number_resets_the_password_everywhere(app, fake_twilio):
    from app.auth import recovery
    from app.auth.flow import password_login
    from app.auth.sessions import start_session
    with app.app_context():
        customer = make_customer(phone=PHONE)
        old_session = start_session(customer, ["pwd"], "urn:tessera:acr:1fa", TEST_ORIGIN)
        db.session.commit()
        flow_row = recover(app)
        state = recovery.prove_code(flow_row, last_code(app, PHONE), TEST_ORIGIN)
        assert state.step == recovery.NEW_PASSWORD
        recovery.set_new_password(flow_row, "a-brand-new-passphrase-42", TEST_ORIGIN)
        from app.auth.sessions import load_session
        assert load_session(old_session) is None
        assert db.session.merge(customer).tokens_not_before is not None
        assert password_login("ada@example.com", "a-brand-new-passphrase-42", TEST_ORIGIN)
    assert any("password" in m.get("subject", "").lower() for m in read_outbox(app)
               if m["to"] == "ada@example.com")


@pytest.mark.parametrize("has_totp", [False, True])
def test_recovery_when_the_provider_is_down_is_never_sms_only(app, fake_twilio, has_totp):
    from app.auth import recovery
    with app.app_context():
        customer = make_customer(phone=PHONE)
        secret = with_totp(customer) if has_totp else None
        fake_twilio.error(503)
        fake_twilio.error(503)
        flow_row = recover(app)
        if not has_totp:
            # Nothing to step up to: no code, which could only end in "contact support"
            # (issue 14); the owner is told why by email.
            assert texted(app) == []
            with pytest.raises(SmsCodeError):
                recovery.prove_code(flow_row, "123456", TEST_ORIGIN)
            return
        assert len(texted(app)) == 1  # a step up, not a refusal: the code is sent
        state = recovery.prove_code(flow_row, last_code(app, PHONE), TEST_ORIGIN)
        assert state.step == recovery.SECOND and "totp" in state.methods
        state = recovery.prove_second(flow_row, "totp", pyotp.TOTP(secret).now(), TEST_ORIGIN)
        assert state.step == recovery.NEW_PASSWORD


def test_recovery_after_a_sim_swap_texts_nothing_and_holds_for_14_days(app, fake_twilio):
    with app.app_context():
        customer = make_customer(phone=PHONE)
        yesterday = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer(fake_twilio, sim_swap={"last_sim_swap": {
            "last_sim_swap_date": yesterday, "swapped_period": "PT168H",
            "swapped_in_period": True}})
        flow_row = recover(app)
        assert texted(app) == []
        with pytest.raises(SmsCodeError):
            from app.auth import recovery
            recovery.prove_code(flow_row, "123456", TEST_ORIGIN)
        hold = bindings.binding_of(customer, PHONE).sms_hold_until
        assert timedelta(days=12) < hold - utcnow() <= timedelta(days=14, minutes=1)


def test_a_decision_that_cannot_be_made_asks_for_a_step_up_and_never_crashes(app):
    """A setting broken at run time makes deciding fail: the login goes on, with a step up
    instead of SMS alone (never "allow because we could not check")."""
    with app.app_context():
        make_customer(phone=PHONE)
        app.config["RISK_STEP_UP_SCORE"] = 0  # refused by RiskSettings when deciding
        login = sms_login(app)
        state = flow.prove_sms(login, last_code(app, PHONE), TEST_ORIGIN)
        assert state.step == flow.SECOND
        [decision] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "phone.decision")).all()
        assert decision.details["signals"] == ["check_failed"]


def test_risk_settings_are_checked_at_start_up(make_app):
    from app.config import ConfigError
    with pytest.raises(ConfigError, match="RISK_STEP_UP_SCORE"):
        make_app(RISK_STEP_UP_SCORE=90, RISK_BLOCK_SCORE=60)


def test_a_suspect_number_is_confirmed_again_with_a_fresh_code(app, fake_twilio):
    """Re-verification: SMS is paused until the customer, logged in another way, proves the
    number again; then it works again. The binding keeps the carrier snapshot."""
    from tests.helpers import csrf_token
    with app.app_context():
        customer = make_customer(phone=PHONE)
        binding = bindings.binding_of(customer, PHONE)
        assert binding.carrier_snapshot["carrier_name"] == "T-Mobile USA, Inc."
        bindings.mark_suspect(binding, "test: too many signals")
        db.session.commit()
        sms_login(app)
        assert texted(app) == []
        assert "confirm the number again" in trust.paused_reason(customer)[0]
    client = app.test_client()
    # A minute later (the refused login attempt counted against the 30 s send gap).
    with time_machine.travel(utcnow() + timedelta(minutes=1), tick=False):
        page = client.get("/login")
        client.post("/login", data={"csrf_token": csrf_token(page.text),
                                    "identifier": "ada@example.com",
                                    "password": STRONG_PASSWORD})
        page = client.get("/account/phones/add")
        sent = client.post("/account/phones/add", data={"csrf_token": csrf_token(page.text),
                                                        "phone": PHONE})
        assert sent.status_code == 303, sent.text
        page = client.get("/account/phones/verify")
        done = client.post("/account/phones/verify", data={
            "csrf_token": csrf_token(page.text), "code": last_code(app, PHONE)})
        assert done.status_code == 303
    with app.app_context():
        assert bindings.binding_of(db.session.merge(customer), PHONE).status == "active"
