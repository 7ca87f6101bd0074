"""Customers, the identifiers that find them, and their accounts in other systems."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow

CUSTOMER_STATUSES = ("active", "locked", "erased", "merged")
IDENTIFIER_KINDS = ("email", "phone", "username")


class Customer(Base):
    """A person or organisation. `customer_id` is permanent: never changed, never reused.

    Rows are never deleted: erasure empties them and keeps the ID as a tombstone, so the
    unique index on customer_id also stops the generator from ever issuing it again.
    """

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(13), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    given_name: Mapped[str | None] = mapped_column(String(100))
    family_name: Mapped[str | None] = mapped_column(String(100))
    # Optional OpenID `profile` claims.
    middle_name: Mapped[str | None] = mapped_column(String(100))
    nickname: Mapped[str | None] = mapped_column(String(100))
    # BCP 47 language tag, e.g. "en-GB".
    locale: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Tokens issued before this instant stop working (logout everywhere, lock, erasure):
    # introspection and userinfo check it, since access tokens are self-contained.
    tokens_not_before: Mapped[datetime | None]

    identifiers: Mapped[list[Identifier]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Identifier.id"
    )
    linked_accounts: Mapped[list[LinkedAccount]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="LinkedAccount.id"
    )


class Identifier(Base):
    """An email, phone (E.164) or username that finds one customer.

    `value` is what we show and send to; `match_key` is what lookups and the unique index
    compare (case-folded email, E.164 phone, case-folded username). Removing an identifier
    deletes the row (the audit log keeps the history), which frees the value.
    """

    __tablename__ = "identifiers"
    __table_args__ = (UniqueConstraint("kind", "match_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    match_key: Mapped[str] = mapped_column(String(320))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identifiers")


class LinkedAccount(Base):
    """`(system, account_number)` in another system (billing, CRM...) tied to a customer."""

    __tablename__ = "linked_accounts"
    __table_args__ = (UniqueConstraint("system", "account_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(64))
    account_number: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="linked_accounts")
