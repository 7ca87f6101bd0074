"""Phone bindings: the history of a phone number on a customer, and what we learn about
numbers. A customer ID is permanent; a phone number is only a binding that can go stale
(recycled to a new subscriber, moved to another SIM), so bindings are never deleted and
every change is a PhoneEvent."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.customer import Customer

#: PhoneBinding.status values.
PENDING, ACTIVE, SUSPECT, RECYCLED, RELEASED = (
    "pending", "active", "suspect", "recycled", "released")
#: PhoneBinding.usage values: "login" opens the account (first factor, MFA, recovery);
#: "contact" only receives messages.
LOGIN, MFA, RECOVERY, CONTACT = "login", "mfa", "recovery", "contact"


class PhoneBinding(Base):
    """One customer's relationship with one phone number, from binding to release.

    At most one active login binding per number, enforced by a partial unique index: the
    number can open one account only. A released or recycled binding stays as history.
    """

    __tablename__ = "phone_bindings"
    __table_args__ = (
        Index("uq_phone_bindings_active_login", "e164", unique=True,
              postgresql_where=text("status = 'active' AND usage = 'login'"),
              sqlite_where=text("status = 'active' AND usage = 'login'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    usage: Mapped[str] = mapped_column(String(16), default=LOGIN)
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_verified_at: Mapped[datetime | None]
    last_verified_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # How the last proof was made: "sms_code", "signup", "admin", "import".
    verified_by: Mapped[str | None] = mapped_column(String(32))
    number_type: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(8))
    # What a lookup provider said when the number was bound or last verified: line type,
    # carrier, mobile country and network codes.
    carrier_snapshot: Mapped[dict | None] = mapped_column(JSON)
    # SMS on this binding is held (after a SIM swap, a failed check ...) until then.
    sms_hold_until: Mapped[datetime | None]
    hold_reason: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[datetime | None]
    # "customer", "admin", "recycled", "erasure", "replaced".
    release_reason: Mapped[str | None] = mapped_column(String(32))
    last_checked_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()


class PhoneEvent(Base):
    """An append-only log of what happened to phone bindings and why."""

    __tablename__ = "phone_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    binding_id: Mapped[int | None] = mapped_column(
        ForeignKey("phone_bindings.id", ondelete="SET NULL"), index=True)
    customer_pk: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    e164: Mapped[str] = mapped_column(String(20), index=True)
    # bound, verified, used, decision, hold, released, recycled, checked ...
    event: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PhoneLookup(Base):
    """A cached answer of a phone intelligence provider (PhoneFacts as JSON)."""

    __tablename__ = "phone_lookups"
    __table_args__ = (Index("ix_phone_lookups_e164_provider", "e164", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(32))
    facts: Mapped[dict] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class KnownDevice(Base):
    """A browser that logged in to a customer before, recognised by a long-lived random
    device cookie whose keyed hash is stored here."""

    __tablename__ = "known_devices"
    __table_args__ = (UniqueConstraint("customer_pk", "token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str | None] = mapped_column(String(512))
