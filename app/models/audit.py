"""The append-only audit log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AuditEvent(Base):
    """One security-relevant event: who did what to which customer, from where, when.

    Holds the public customer ID rather than a foreign key, so events outlive erasure and
    merges. Nothing in the application updates or deletes these rows.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_customer_id_occurred_at", "customer_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(13))
    actor: Mapped[str] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
