"""Account recovery by email (app/auth/recovery.py, app/auth/email_recovery.py), and the
rule that a recovery by text that cannot succeed sends no code (issue 14, items 1 and 2).
The SMS channel's phone-risk cases are in tests/phones/test_trust.py."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from app.auth import email_codes, email_recovery, recovery
from app.auth.email_codes import EmailCodeError
from app.auth.flow import password_login
from app.auth.login import LoginRefused
from app.auth.passwords import PasswordRejected
from app.auth.sessions import load_session, start_session
from app.extensions import db
from app.models import AuditEvent, VerificationCode, utcnow
from app.phones import bindings
from tests.factories import STRONG_PASSWORD, TEST_ORIGIN, make_customer, make_totp
from tests.helpers import last_code, read_outbox

EMAIL = "ada@example.com"
PHONE = "+447400123456"
NEW_PASSWORD = "a-brand-new-passphrase-42"


def with_totp(customer) -> str:
    """Give the customer an authenticator app (and recovery codes); its secret."""
    secret, _codes = make_totp(customer)
    db.session.commit()
    return secret


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


REFUSED_SUBJECT = "We did not text a code to reset your password"


def sent_to(app, to: str) -> list[dict]:
    return [message for message in read_outbox(app) if message["to"] == to]


def refusals(app) -> list[dict]:
    return [message for message in read_outbox(app)
            if message.get("subject") == REFUSED_SUBJECT]


def test_an_email_reset_ends_every_session_and_tells_both_channels(app):
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE)
        old_session = start_session(customer, ["pwd"], "urn:tessera:acr:1fa", TEST_ORIGIN)
        db.session.commit()
        started, sent = recovery.start(" ada@Example.COM ", TEST_ORIGIN)
        assert sent.destination == EMAIL
        assert recovery.destination_hint(sent) == "a•••@example.com"
        flow = started.flow
        state = recovery.prove_code(flow, last_code(app, EMAIL), TEST_ORIGIN)
        assert state.step == recovery.NEW_PASSWORD
        recovery.set_new_password(flow, NEW_PASSWORD, TEST_ORIGIN)
        db.session.commit()
        assert load_session(old_session) is None
        assert db.session.merge(customer).tokens_not_before is not None
        assert password_login(EMAIL, NEW_PASSWORD, TEST_ORIGIN)
        [done] = events("recovery.completed")
        assert done.details["factors"] == ["email"] and done.details["sessions_ended"] == 1
        with pytest.raises(LoginRefused):  # a finished recovery cannot set it again
            recovery.set_new_password(flow, "another-brand-new-pass-43", TEST_ORIGIN)
    [code, notice] = sent_to(app, EMAIL)
    assert "reset" in code["subject"] and notice["subject"] == "Your password was changed"
    [text] = sent_to(app, PHONE)
    assert "password was changed" in text["body"]


def test_an_unknown_address_is_sent_nothing_and_gets_the_same_shape(app):
    with app.app_context():
        make_customer(email=EMAIL)
        known_started, known = recovery.start(EMAIL, TEST_ORIGIN)
        unknown_started, unknown = recovery.start("nobody@example.com", TEST_ORIGIN)
        assert type(known) is type(unknown) and known.verification_id != unknown.verification_id
        assert recovery.state(unknown_started.flow) == recovery.state(known_started.flow)
        rows = {row.destination: row for row in db.session.scalars(select(VerificationCode))}
        assert rows["nobody@example.com"].customer_pk is None
        assert rows["nobody@example.com"].purpose == email_recovery.RECOVERY
        # No code was ever sent for it, so no typed code can prove it.
        with pytest.raises(EmailCodeError):
            recovery.prove_code(unknown_started.flow, "123456", TEST_ORIGIN)
        assert unknown_started.flow.customer_pk is None
    assert [m["to"] for m in read_outbox(app)] == [EMAIL]


@pytest.mark.parametrize("situation", ["unverified", "locked"])
def test_no_code_for_an_address_that_cannot_open_an_account(app, situation):
    with app.app_context():
        customer = make_customer(email=None, phone=PHONE)
        if situation == "unverified":
            from app.directory.customers import add_identifier, normalize_identifier
            add_identifier(customer, normalize_identifier("email", EMAIL), TEST_ORIGIN,
                           verified=False)
        else:
            customer.status = "locked"
        db.session.commit()
        recovery.start(EMAIL, TEST_ORIGIN)
    assert read_outbox(app) == []


def test_email_codes_share_the_sign_up_limits_per_address(app):
    with app.app_context():
        make_customer(email=EMAIL)
        recovery.start(EMAIL, TEST_ORIGIN)
        with pytest.raises(EmailCodeError, match="Wait a moment"):
            recovery.start("ADA@example.com", TEST_ORIGIN)  # the same address, spelt again
        recovery.start("nobody@example.com", TEST_ORIGIN)
        with pytest.raises(EmailCodeError, match="Wait a moment"):  # strangers' alike
            recovery.start("nobody@example.com", TEST_ORIGIN)
        assert [e.details["limit"] for e in events("email.limited")] == \
            [email_codes.EMAIL_ADDRESS_GAP] * 2
    assert len(sent_to(app, EMAIL)) == 1


def test_wrong_codes_count_and_the_code_dies(app):
    with app.app_context():
        make_customer(email=EMAIL)
        started, _ = recovery.start(EMAIL, TEST_ORIGIN)
        right = last_code(app, EMAIL)
        wrong = "000000" if right != "000000" else "111111"
        limit = app.config["VERIFICATION_CODE_MAX_ATTEMPTS"]
        for _ in range(limit):
            with pytest.raises(EmailCodeError):
                recovery.prove_code(started.flow, wrong, TEST_ORIGIN)
        with pytest.raises(EmailCodeError):
            recovery.prove_code(started.flow, right, TEST_ORIGIN)
        assert len(events("email.code_failed")) == limit
        assert recovery.state(started.flow).step == recovery.CODE


def test_a_customer_with_an_authenticator_app_needs_it_after_the_email_code(app):
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE)
        secret = with_totp(customer)
        started, _ = recovery.start(EMAIL, TEST_ORIGIN)
        flow = started.flow
        state = recovery.prove_code(flow, last_code(app, EMAIL), TEST_ORIGIN)
        # A text to the phone is the email's peer, not its second factor.
        assert state == recovery.RecoveryState(recovery.SECOND, ("totp", "recovery"))
        with pytest.raises(LoginRefused):
            recovery.set_new_password(flow, NEW_PASSWORD, TEST_ORIGIN)
        with pytest.raises(LoginRefused):
            recovery.prove_second(flow, "totp", "000000", TEST_ORIGIN)
        state = recovery.prove_second(flow, "totp", pyotp.TOTP(secret).now(), TEST_ORIGIN)
        assert state.step == recovery.NEW_PASSWORD
        with pytest.raises(PasswordRejected):
            recovery.set_new_password(flow, "password", TEST_ORIGIN)
        recovery.set_new_password(flow, NEW_PASSWORD, TEST_ORIGIN)
        db.session.commit()
        # The new password is right (a wrong one reads "not right"), and still asks for the app.
        with pytest.raises(LoginRefused, match="second factor"):
            password_login(EMAIL, NEW_PASSWORD, TEST_ORIGIN)


def test_a_code_for_an_address_removed_since_proves_nothing(app):
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE)
        started, _ = recovery.start(EMAIL, TEST_ORIGIN)
        code = last_code(app, EMAIL)
        [address] = [i for i in customer.identifiers if i.kind == "email"]
        db.session.delete(address)
        db.session.commit()
        with pytest.raises(EmailCodeError):
            recovery.prove_code(started.flow, code, TEST_ORIGIN)
        assert started.flow.customer_pk is None


# ---- item 2: no code that cannot succeed ---------------------------------------------------

@pytest.mark.parametrize("situation", ["held", "unchecked_without_totp"])
def test_a_recovery_by_text_that_cannot_succeed_sends_no_code_and_emails_why(app, situation):
    """The offline phone lookup cannot say whether the SIM changed: a step up. Without an
    authenticator app its code could only end in "contact support", so none is sent."""
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE)
        if situation == "held":
            with_totp(customer)  # a hold stops the text even with an app to step up to
            bindings.hold_sms(bindings.binding_of(customer, PHONE),
                              utcnow() + timedelta(days=2), "SIM swap")
            db.session.commit()
        started, _ = recovery.start(PHONE, TEST_ORIGIN)
        assert db.session.scalar(select(func.count()).select_from(VerificationCode).where(
            VerificationCode.expires_at > utcnow())) == 0
        assert len(events("recovery.text_refused")) == 1
        assert recovery.state(started.flow).step == recovery.CODE
    assert sent_to(app, PHONE) == []
    [notice] = refusals(app)
    assert notice["to"] == EMAIL
    assert "+44" in notice["body"] and PHONE not in notice["body"]


def test_an_unchecked_number_with_an_authenticator_app_is_texted_and_steps_up(app):
    with app.app_context():
        customer = make_customer(email=EMAIL, phone=PHONE, password=STRONG_PASSWORD)
        with_totp(customer)
        started, _ = recovery.start(PHONE, TEST_ORIGIN)
        state = recovery.prove_code(started.flow, last_code(app, PHONE), TEST_ORIGIN)
        assert state.step == recovery.SECOND
    assert refusals(app) == []
