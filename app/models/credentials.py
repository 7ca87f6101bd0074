"""Login secrets bound to a customer. Only hashes are stored."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class PasswordCredential(Base):
    """A customer's password as an argon2id hash (at most one per customer)."""

    __tablename__ = "password_credentials"

    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TotpCredential(Base):
    """A customer's TOTP authenticator (at most one). The secret is sealed (app/platform/crypto.py)
    with the customer as context. `confirmed_at` is set once a first code proved the app
    holds it; until then it is not a factor. `last_used_step` is the last accepted time
    step: a code is accepted only for a later step, compared and set in one UPDATE."""

    __tablename__ = "totp_credentials"

    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """One single-use recovery code, as a keyed hash. A set is replaced as a whole."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("customer_pk", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]


class PasskeyCredential(Base):
    """A customer's passkey (a WebAuthn public-key credential). Nothing here is secret:
    the private key never leaves the authenticator. `user_handle` is the WebAuthn user.id
    the authenticator holds for this credential (random, never the email); it stays with
    the credential when a merge moves it to another customer. `sign_count` is the last
    counter the authenticator reported (0 for most synced passkeys, which keep none);
    `backup_eligible` marks a synced passkey ("swk"), else it is bound to one device
    ("hwk")."""

    __tablename__ = "passkey_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # base64url of the authenticator's credential ID (at most 1023 bytes: WebAuthn L3).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    user_handle: Mapped[str] = mapped_column(String(128))
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list] = mapped_column(JSON, default=list)
    aaguid: Mapped[str] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backed_up: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class PasskeyChallenge(Base):
    """A WebAuthn challenge handed to a browser: single use, short-lived, and bound to
    what asked for it: a login flow (a passkey login) or a login session (registering a
    passkey). Only its keyed hash is stored; `used_at` is set by the one conditional
    UPDATE that spends it."""

    __tablename__ = "passkey_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    login_flow_pk: Mapped[int | None] = mapped_column(
        ForeignKey("login_flows.id", ondelete="CASCADE"), index=True
    )
    login_session_pk: Mapped[int | None] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    # Registration: the user.id handed to the authenticator with this challenge.
    user_handle: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
