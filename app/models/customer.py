"""Customers, the identifiers that find them, and their accounts in other systems."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow

CUSTOMER_STATUSES = ("active", "locked", "erased", "merged")
IDENTIFIER_KINDS = ("email", "phone", "username")
#: What a customer must do at their next login before the session opens anything else.
REQUIRED_ACTIONS = ("update_password", "configure_totp")


class Customer(Base):
    """A person or organisation. `customer_id` is permanent: never changed, never reused.

    Rows are never deleted: erasure empties them and keeps the ID as a tombstone, so the
    unique index on customer_id also stops the generator from ever issuing it again.
    """

    __tablename__ = "customers"
    # The admin listing pages newest first by (created_at, customer_id), also within one
    # status (bench/million.py shows both used at 1,000,000 customers).
    __table_args__ = (Index("ix_customers_created_at_customer_id", "created_at", "customer_id"),
                      Index("ix_customers_status_created_at_customer_id", "status",
                            "created_at", "customer_id"))

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
    # IANA time zone, e.g. "Europe/Paris" (the OpenID `zoneinfo` claim); the account
    # pages show times in it.
    zoneinfo: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Tokens issued before this instant stop working (logout everywhere, lock, erasure):
    # introspection and userinfo check it, since access tokens are self-contained.
    tokens_not_before: Mapped[datetime | None]
    # Bumped by every change an admin can see; the admin API's ETag. A write names the
    # version it read (If-Match) and claims the next one in one UPDATE (app/admin/etags.py).
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Support's lock: no login, no token, no session until unlocked.
    locked_at: Mapped[datetime | None]
    lock_reason: Mapped[str | None] = mapped_column(String(200))
    # REQUIRED_ACTIONS still to do (set by support: forced password reset, MFA reset).
    required_actions: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # A merged customer's row stays as the alias of the survivor (its customers.id) it was
    # merged into; a merge re-points older aliases, so this is never a chain. No foreign
    # key: customer rows are never deleted, and SQLite could add one only by rebuilding
    # the table every other table points at.
    merged_into_pk: Mapped[int | None] = mapped_column(index=True)
    merged_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    # Delete-my-account: asked for at `deletion_requested_at`, erased at `deletion_due_at`
    # unless the customer cancels before then.
    deletion_requested_at: Mapped[datetime | None]
    deletion_due_at: Mapped[datetime | None] = mapped_column(index=True)

    identifiers: Mapped[list[Identifier]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Identifier.id"
    )
    linked_accounts: Mapped[list[LinkedAccount]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="LinkedAccount.id"
    )


class Identifier(Base):
    """An email, phone (E.164) or username that finds one customer.

    `value` is what we show and send to; `match_key` is what lookups and the unique index
    compare (email with its local part lower-cased, E.164 phone, case-folded username).
    `skeleton` (usernames only) is the Unicode TS #39 confusable skeleton: its unique
    index refuses a username that looks like one in use. Removing an identifier deletes
    the row (the audit log keeps the history), which frees the value.
    """

    __tablename__ = "identifiers"
    __table_args__ = (UniqueConstraint("kind", "match_key"),
                      UniqueConstraint("kind", "skeleton"))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(320))
    match_key: Mapped[str] = mapped_column(String(320))
    # Up to 7 characters per character of a 64-character username (Hangul syllables).
    skeleton: Mapped[str | None] = mapped_column(String(512))
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


class CommunicationConsent(Base):
    """One decision by a customer about messages we may send: a channel ("email", "sms")
    and a purpose ("marketing", "service"), given or withdrawn, with where it was made
    ("signup", "account", "admin") and the version of the wording they were shown.

    Append-only: the newest row per (channel, purpose) is the customer's choice now; the
    older ones are the proof of what was agreed when.
    """

    __tablename__ = "communication_consents"
    __table_args__ = (Index("ix_communication_consents_customer", "customer_pk", "channel",
                            "purpose", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    wording_version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
