"""Small factories for test data, built through the real services."""
from __future__ import annotations

import time

import pyotp
from sqlalchemy import select

from app.auth import passkeys, totp
from app.auth.levels import ACR_SINGLE_FACTOR
from app.auth.login import set_password
from app.auth.sessions import start_session
from app.directory.customers import add_identifier, create_customer, normalize_identifier
from app.extensions import db
from app.models import LoginSession, PasskeyCredential
from app.platform.audit import Origin
from tests.fakes import authenticator

TEST_ORIGIN = Origin(actor="test", ip="127.0.0.1", user_agent="pytest")
STRONG_PASSWORD = "violet-harbour-candle-91"
#: The tests' issuer (app/config.py's default), so the passkeys' origin.
PASSKEY_ORIGIN = "http://localhost:5000"


def make_customer(email: str | None = "ada@example.com", phone: str | None = None,
                  username: str | None = None, password: str | None = STRONG_PASSWORD,
                  given_name: str | None = "Ada", family_name: str | None = "Lovelace"):
    """Create and commit a customer with verified identifiers and a password."""
    customer = create_customer(TEST_ORIGIN, given_name, family_name)
    for kind, text in (("email", email), ("phone", phone), ("username", username)):
        if text:
            add_identifier(customer, normalize_identifier(kind, text), TEST_ORIGIN, verified=True)
    if password:
        set_password(customer, password, TEST_ORIGIN)
    db.session.commit()
    return customer


def make_login_session(customer) -> int:
    """A password login session of `customer` (flushed, not committed); its row id."""
    start_session(customer, ["pwd"], ACR_SINGLE_FACTOR, TEST_ORIGIN)
    db.session.flush()
    return db.session.scalars(select(LoginSession.id).where(
        LoginSession.customer_pk == customer.id).order_by(LoginSession.id.desc())).first()


def make_passkey(customer, *, synced: bool = False, user_verified: bool = True,
                 name: str = "My key") -> authenticator.SoftPasskey:
    """Register a passkey of a software authenticator for `customer` through the real
    ceremony (app/auth/passkeys.py) and commit; returns the authenticator's key."""
    session_pk = make_login_session(customer)
    options = passkeys.registration_options(customer, session_pk)
    db.session.commit()
    soft, response = authenticator.create(options, PASSKEY_ORIGIN, synced=synced,
                                          user_verified=user_verified)
    passkeys.register(customer, session_pk, response, name, TEST_ORIGIN)
    db.session.commit()
    return soft


def store_passkey(customer, soft: authenticator.SoftPasskey, *,
                  name: str = "Laptop") -> int:
    """Keep `soft` as a passkey of `customer` directly (no ceremony: for a browser test
    whose authenticator gets the private key by other means) and commit; its row id."""
    row = PasskeyCredential(
        customer_pk=customer.id, credential_id=authenticator.b64url(soft.credential_id),
        public_key=soft.cose_key(), user_handle=authenticator.b64url(soft.user_handle),
        sign_count=0, transports=["internal"], aaguid=authenticator.AAGUID,
        backup_eligible=soft.synced, backed_up=soft.synced, name=name)
    db.session.add(row)
    db.session.commit()
    return row.id


def make_totp(customer) -> tuple[str, list[str]]:
    """Give `customer` a confirmed authenticator app (not committed): (its secret, the
    recovery codes made with it). It is confirmed with the code of the previous time step,
    so the current step's code is still new for a login. A code made just before a step
    boundary and checked just after it is two steps old, which the window refuses; it is
    made again once then (a wrong code writes nothing)."""
    secret = totp.begin_enrolment(customer).secret
    try:
        codes = totp.confirm_enrolment(customer, pyotp.TOTP(secret).at(time.time() - 30),
                                       TEST_ORIGIN)
    except totp.TotpError:
        codes = totp.confirm_enrolment(customer, pyotp.TOTP(secret).at(time.time() - 30),
                                       TEST_ORIGIN)
    return secret, codes
