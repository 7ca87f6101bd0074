"""Login secrets bound to a customer. Only hashes are stored."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
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
