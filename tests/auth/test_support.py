"""Support's recovery actions as services (app/auth/support.py), called directly: what
each changes, what it refuses, and what "signed out everywhere" really stops (sessions,
access tokens at introspection, refresh tokens at the token endpoint). The phone-binding
actions are checked against every path by which SMS opens an account: the login flow,
the second-factor offer, self-service recovery and the notices. Every test runs on SQLite
and PostgreSQL."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from app.auth import flow, passkeys, recovery, support, totp
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.login import set_password
from app.auth.sessions import load_session, start_session
from app.directory.customers import (NotTheirs, add_identifier, normalize_identifier,
                                     verify_identifier)
from app.extensions import db
from app.models import (AuditEvent, Customer, IssuedToken, PhoneBinding, RecoveryCode, RecoveryLink,
                        TotpCredential, utcnow)
from app.models.phone import ACTIVE, RECYCLED, RELEASED
from app.oidc import tokens
from app.oidc.clients import get_client
from app.phones import support_actions
from app.platform.notifications import notify_support_action
from tests.factories import (PASSKEY_ORIGIN, STRONG_PASSWORD, TEST_ORIGIN, make_customer,
                             make_passkey, make_totp)
from tests.helpers import last_code, read_outbox
from tests.oidc.helpers import make_client

PHONE = "+447400123456"
NEW_PASSWORD = "quartz-lantern-meadow-58"


# ---- helpers -----------------------------------------------------------------------------

def events(customer_id: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.event).where(
        AuditEvent.customer_id == customer_id).order_by(AuditEvent.id)))


def with_totp(customer) -> str:
    return make_totp(customer)[0]


def signed_in(app, customer) -> tuple[str, str, dict]:
    """A live login session and tokens from a public client: (cookie token, client id,
    the token response with a refresh token)."""
    session_token = start_session(customer, ["pwd"], ACR_SINGLE_FACTOR, TEST_ORIGIN)
    db.session.commit()  # make_client has its own context: SQLite has one writer at a time
    client_id, _ = make_client(app, public=True)
    issued = tokens.issue(get_client(client_id), "authorization_code", "openid",
                          customer=customer, include_refresh_token=True)
    db.session.commit()
    return session_token, client_id, issued


def refresh(app, client_id: str, refresh_token: str):
    db.session.commit()  # end this context's transaction: SQLite has one writer at a time
    return app.test_client().post("/token", data={
        "grant_type": "refresh_token", "client_id": client_id,
        "refresh_token": refresh_token})


def userinfo(app, access_token: str):
    db.session.commit()
    return app.test_client().get("/userinfo",
                                 headers={"Authorization": f"Bearer {access_token}"})


def assert_signed_out(app, session_token: str, client_id: str, issued: dict) -> None:
    """The session, the access token and the refresh token are all dead."""
    assert load_session(session_token) is None
    assert userinfo(app, issued["access_token"]).status_code == 401
    response = refresh(app, client_id, issued["refresh_token"])
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def sms_login_texted(app, phone: str = PHONE) -> bool:
    """Start a passwordless login to `phone`: was a code texted?"""
    before = len([m for m in read_outbox(app) if m["to"] == phone])
    flow.start_sms_login(flow.begin(TEST_ORIGIN).flow, phone, TEST_ORIGIN)
    return len([m for m in read_outbox(app) if m["to"] == phone]) > before


def recovery_texted(app, phone: str = PHONE) -> bool:
    before = len([m for m in read_outbox(app) if m["to"] == phone])
    recovery.start(phone, TEST_ORIGIN)
    return len([m for m in read_outbox(app) if m["to"] == phone]) > before


def binding(customer) -> PhoneBinding:
    return db.session.scalars(select(PhoneBinding).where(
        PhoneBinding.customer_pk == customer.id).order_by(PhoneBinding.id.desc())).first()


# ---- required actions --------------------------------------------------------------------

def test_required_actions_keep_their_order_and_are_added_once(app_context):
    customer = make_customer()
    assert support.add_required_action(customer, support.CONFIGURE_TOTP)
    assert support.add_required_action(customer, support.UPDATE_PASSWORD)
    assert not support.add_required_action(customer, support.UPDATE_PASSWORD)
    db.session.commit()
    assert db.session.get(Customer, customer.id).required_actions == [
        "update_password", "configure_totp"]
    assert support.clear_required_action(customer, support.UPDATE_PASSWORD)
    assert not support.clear_required_action(customer, support.UPDATE_PASSWORD)
    db.session.commit()
    assert support.pending_actions(customer) == ["configure_totp"]
    with pytest.raises(ValueError):
        support.add_required_action(customer, "accept_terms")


def test_setting_a_password_clears_update_password_only(app_context):
    customer = make_customer()
    support.add_required_action(customer, support.UPDATE_PASSWORD)
    support.add_required_action(customer, support.CONFIGURE_TOTP)
    db.session.commit()
    version = customer.version
    set_password(customer, NEW_PASSWORD, TEST_ORIGIN)
    db.session.commit()
    assert customer.required_actions == ["configure_totp"]
    assert customer.version > version


def test_confirming_an_authenticator_app_clears_configure_totp(app_context):
    customer = make_customer()
    support.add_required_action(customer, support.CONFIGURE_TOTP)
    db.session.commit()
    with_totp(customer)
    assert db.session.get(Customer, customer.id).required_actions == []


# ---- lock and unlock ---------------------------------------------------------------------

def test_lock_stops_everything_and_unlock_brings_back_nothing_old(app):
    with app.app_context():
        customer = make_customer()
        session_token, client_id, issued = signed_in(app, customer)
        old_link = RecoveryLink(token_hash="0" * 64, customer_pk=customer.id, channel="handover",
                                issued_by="test", expires_at=utcnow().replace(year=2100))
        db.session.add(old_link)
        db.session.commit()

        signed_out = support.lock(customer, "  Fraud report 77  ", TEST_ORIGIN)
        db.session.commit()

        assert (signed_out.sessions, signed_out.grants) == (1, 1)
        assert customer.status == "locked" and customer.lock_reason == "Fraud report 77"
        assert customer.locked_at is not None and customer.tokens_not_before is not None
        assert db.session.get(RecoveryLink, old_link.id).expires_at <= utcnow()
        assert_signed_out(app, session_token, client_id, issued)
        assert "account.locked" in events(customer.customer_id)

        support.unlock(customer, TEST_ORIGIN)
        db.session.commit()
        assert (customer.status, customer.locked_at, customer.lock_reason) == (
            "active", None, None)
        # Unlocked: the tokens and the session from before the lock stay dead.
        assert_signed_out(app, session_token, client_id, issued)
        assert events(customer.customer_id)[-1] == "account.unlocked"


def test_lock_and_unlock_refuse_the_wrong_state(app_context):
    customer = make_customer()
    with pytest.raises(support.StateConflict):
        support.unlock(customer, TEST_ORIGIN)
    support.lock(customer, "fraud", TEST_ORIGIN)
    db.session.commit()
    with pytest.raises(support.StateConflict) as refused:
        support.lock(customer, "again", TEST_ORIGIN)
    assert refused.value.kind == "not-active"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201, "bad\x00byte", "line\nbreak", None])
def test_a_lock_needs_a_plain_reason(app_context, reason):
    customer = make_customer()
    with pytest.raises(support.CustomerError):
        support.lock(customer, reason, TEST_ORIGIN)
    db.session.rollback()
    assert db.session.get(Customer, customer.id).status == "active"


# ---- forced resets -----------------------------------------------------------------------

def test_a_forced_password_reset_signs_out_and_asks_for_a_new_password(app):
    with app.app_context():
        customer = make_customer()
        session_token, client_id, issued = signed_in(app, customer)
        support.require_password_reset(customer, TEST_ORIGIN)
        db.session.commit()
        assert customer.required_actions == ["update_password"]
        assert_signed_out(app, session_token, client_id, issued)
        assert "password.reset_required" in events(customer.customer_id)
        with pytest.raises(support.StateConflict) as again:
            support.require_password_reset(customer, TEST_ORIGIN)
        assert again.value.kind == "already-pending"


def test_after_a_forced_reset_the_old_password_never_logs_in_again(app):
    """Issue 12, item 1: the stolen password cannot finish the reset. It reads like a
    wrong password at login, as the first factor or the second."""
    with app.app_context():
        customer = make_customer(phone=PHONE)
        support.require_password_reset(customer, TEST_ORIGIN)
        db.session.commit()
        started = flow.begin(TEST_ORIGIN)
        with pytest.raises(flow.LoginRefused) as refused:
            flow.prove_password(started.flow, "ada@example.com", STRONG_PASSWORD, TEST_ORIGIN)
        assert refused.value.message == flow.GENERIC_FAILURE
        assert started.flow.factors == []
        failed = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "login.failed")).one()
        assert failed.details["reason"] == "password_reset_pending"
        # Nor as the second factor after an SMS code.
        assert flow.METHOD_PASSWORD not in flow._second_factor_methods(started.flow, customer)


def test_a_recovery_link_refuses_the_reset_password(app_context):
    from app.auth import recovery_links
    customer = make_customer()
    support.require_password_reset(customer, TEST_ORIGIN)
    link, url = recovery_links.issue(customer, recovery_links.HANDOVER, TEST_ORIGIN)
    db.session.commit()
    token = url.rsplit("/", 1)[1]
    with pytest.raises(support.passwords.PasswordRejected, match="not used"):
        recovery_links.use(token, STRONG_PASSWORD, TEST_ORIGIN)
    assert customer.required_actions == ["update_password"]
    recovery_links.use(token, NEW_PASSWORD, TEST_ORIGIN)
    assert customer.required_actions == []
    state = flow.prove_password(flow.begin(TEST_ORIGIN).flow, "ada@example.com",
                                NEW_PASSWORD, TEST_ORIGIN)
    assert state.step == flow.DONE


def test_after_an_mfa_reset_only_a_proved_channel_may_enrol_a_new_app(app_context):
    """Issue 12, item 1: a login with the password alone cannot put a new authenticator
    app in place of the one support reset; a texted code, or a password set after the
    reset (a recovery link), can."""
    from app.auth import recovery_links
    customer = make_customer()
    with_totp(customer)
    assert support.may_replace_second_factor(customer, ["pwd"])  # nothing was reset
    support.reset_mfa(customer, TEST_ORIGIN)
    db.session.commit()
    assert not support.may_replace_second_factor(customer, ["pwd"])
    assert support.may_replace_second_factor(customer, ["pwd", "sms", "mfa"])
    _, url = recovery_links.issue(customer, recovery_links.HANDOVER, TEST_ORIGIN)
    db.session.commit()
    recovery_links.use(url.rsplit("/", 1)[1], NEW_PASSWORD, TEST_ORIGIN)
    assert support.may_replace_second_factor(customer, ["pwd"])


def test_no_forced_reset_for_a_customer_without_a_password(app_context):
    customer = make_customer(password=None, phone=PHONE)
    with pytest.raises(support.StateConflict) as refused:
        support.require_password_reset(customer, TEST_ORIGIN)
    assert refused.value.kind == "no-password"


def test_an_mfa_reset_removes_the_app_and_codes_and_asks_for_a_new_app(app):
    with app.app_context():
        customer = make_customer()
        with_totp(customer)
        session_token, client_id, issued = signed_in(app, customer)
        support.reset_mfa(customer, TEST_ORIGIN)
        db.session.commit()
        assert not totp.has_totp(customer)
        assert db.session.scalar(select(func.count()).select_from(TotpCredential)) == 0
        assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
        assert customer.required_actions == ["configure_totp"]
        assert_signed_out(app, session_token, client_id, issued)
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "mfa.reset")).one()
        assert event.details["totp_removed"] is True
        assert event.details["recovery_codes_deleted"] == 10
        assert event.details["passkeys_removed"] == 0
        # A password login now needs no second factor; the required action asks for one.
        started = flow.begin(TEST_ORIGIN)
        state = flow.prove_password(started.flow, "ada@example.com", STRONG_PASSWORD,
                                    TEST_ORIGIN)
        assert state.step == flow.DONE


def test_an_mfa_reset_removes_every_passkey_even_without_an_app(make_app):
    """Passkeys alone are something to reset (a lost phone takes its passkeys with it);
    another customer's stay."""
    with make_app(ISSUER=PASSKEY_ORIGIN).app_context():
        customer, other = make_customer(), make_customer(email="grace@example.com")
        make_passkey(customer, name="Phone")
        make_passkey(customer, synced=True, name="Laptop")
        make_passkey(other, name="Grace's key")
        support.reset_mfa(customer, TEST_ORIGIN)
        db.session.commit()
        assert passkeys.passkeys_of(customer) == []
        assert [p.name for p in passkeys.passkeys_of(other)] == ["Grace's key"]
        assert customer.required_actions == ["configure_totp"]
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "mfa.reset")).one()
        assert (event.details["passkeys_removed"], event.details["totp_removed"]) == (2, False)


def test_an_mfa_reset_needs_something_to_reset(app_context):
    customer = make_customer()
    with pytest.raises(support.StateConflict) as refused:
        support.reset_mfa(customer, TEST_ORIGIN)
    assert refused.value.kind == "no-second-factor"


def test_revoke_everything_kills_sessions_access_and_refresh_tokens(app):
    with app.app_context():
        customer = make_customer()
        session_token, client_id, issued = signed_in(app, customer)
        other = make_customer(email="grace@example.com")
        other_session, other_client, other_issued = signed_in(app, other)
        signed_out = support.revoke_everything(customer, TEST_ORIGIN)
        db.session.commit()
        assert signed_out.sessions == 1 and signed_out.grants == 1
        assert_signed_out(app, session_token, client_id, issued)
        assert db.session.scalar(select(func.count()).select_from(IssuedToken).where(
            IssuedToken.customer_pk == customer.id, IssuedToken.revoked_at.is_(None))) == 0
        # Nobody else is touched.
        assert load_session(other_session) is not None
        assert refresh(app, other_client, other_issued["refresh_token"]).status_code == 200
        # Tokens issued afterwards work.
        _, new_client, fresh = signed_in(app, customer)
        assert userinfo(app, fresh["access_token"]).status_code == 200
        assert refresh(app, new_client, fresh["refresh_token"]).status_code == 200


# ---- phone bindings ----------------------------------------------------------------------

def test_a_released_binding_stops_every_sms_path_and_keeps_the_phone_unverified(make_app):
    app = make_app(SMS_MIN_SECONDS_BETWEEN_SENDS=0)  # several texts to one number here
    with app.app_context():
        customer = make_customer(phone=PHONE)
        assert sms_login_texted(app)  # works before
        bound = binding(customer)

        support_actions.release_binding(customer, bound.id, TEST_ORIGIN)
        db.session.commit()

        assert bound.status == RELEASED and bound.release_reason == "admin"
        [phone] = [i for i in customer.identifiers if i.kind == "phone"]
        assert phone.value == PHONE and phone.verified_at is None
        assert not sms_login_texted(app)
        assert not recovery_texted(app)
        assert flow._sms_phone(customer) is None  # not offered as a second factor
        sent = notify_support_action(customer, "sessions_revoked")
        assert sent == 1  # the email only: the released phone hears nothing
        assert "phone.released" in events(customer.customer_id)

        # The customer proves the number again (Add a phone): SMS works again.
        verify_identifier(phone, TEST_ORIGIN)
        db.session.commit()
        assert binding(customer).status == ACTIVE and binding(customer).id != bound.id
        assert sms_login_texted(app)


def test_a_recycled_binding_removes_the_phone_and_frees_the_number(make_app):
    app = make_app(SMS_MIN_SECONDS_BETWEEN_SENDS=0)
    with app.app_context():
        customer = make_customer(phone=PHONE)
        bound = binding(customer)
        support_actions.mark_binding_recycled(customer, bound.id, TEST_ORIGIN)
        db.session.commit()
        assert bound.status == RECYCLED
        assert [i.kind for i in customer.identifiers] == ["email"]
        assert not sms_login_texted(app)
        assert {"phone.recycled", "identifier.removed"} <= set(events(customer.customer_id))

        # The number is free for its new holder, whose SMS login opens only their account.
        holder = make_customer(email="holder@example.com", phone=PHONE)
        started = flow.begin(TEST_ORIGIN)
        flow.start_sms_login(started.flow, PHONE, TEST_ORIGIN)
        flow.prove_sms(started.flow, last_code(app, PHONE), TEST_ORIGIN)
        assert started.flow.customer_pk == holder.id


def test_a_released_binding_can_still_be_marked_recycled_but_not_twice(app_context):
    customer = make_customer(phone=PHONE)
    bound = binding(customer)
    support_actions.release_binding(customer, bound.id, TEST_ORIGIN)
    with pytest.raises(support.StateConflict):
        support_actions.release_binding(customer, bound.id, TEST_ORIGIN)
    support_actions.mark_binding_recycled(customer, bound.id, TEST_ORIGIN)
    with pytest.raises(support.StateConflict):
        support_actions.mark_binding_recycled(customer, bound.id, TEST_ORIGIN)
    with pytest.raises(support.StateConflict):
        support_actions.release_binding(customer, bound.id, TEST_ORIGIN)


def test_another_customers_binding_is_not_theirs(app_context):
    customer = make_customer(phone=PHONE)
    other = make_customer(email="grace@example.com")
    with pytest.raises(NotTheirs):
        support_actions.release_binding(other, binding(customer).id, TEST_ORIGIN)
    with pytest.raises(NotTheirs):
        support_actions.mark_binding_recycled(other, 10**6, TEST_ORIGIN)
    db.session.rollback()
    assert binding(customer).status == ACTIVE


def test_every_action_bumps_the_version(app_context):
    customer = make_customer(phone=PHONE)
    add_identifier(customer, normalize_identifier("username", "ada_l"), TEST_ORIGIN)
    with_totp(customer)
    db.session.commit()
    actions = [lambda: support.lock(customer, "fraud", TEST_ORIGIN),
               lambda: support.unlock(customer, TEST_ORIGIN),
               lambda: support.require_password_reset(customer, TEST_ORIGIN),
               lambda: support.reset_mfa(customer, TEST_ORIGIN),
               lambda: support.revoke_everything(customer, TEST_ORIGIN),
               lambda: support_actions.release_binding(customer, binding(customer).id,
                                                       TEST_ORIGIN),
               lambda: support_actions.mark_binding_recycled(customer, binding(customer).id,
                                                             TEST_ORIGIN)]
    for action in actions:
        before = db.session.get(Customer, customer.id).version
        action()
        db.session.commit()
        assert db.session.get(Customer, customer.id).version > before
