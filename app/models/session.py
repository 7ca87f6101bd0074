"""Login sessions (server side), login throttles and verification codes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.customer import Customer


class LoginSession(Base):
    """The single sign-on session of one browser.

    The cookie carries a random token; only its keyed hash is stored, so a copy of the
    database does not let anyone ride a session. Ending a session sets `ended_at`.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    auth_time: Mapped[datetime]
    amr: Mapped[list] = mapped_column(JSON, default=list)
    acr: Mapped[str] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ended_at: Mapped[datetime | None]
    # The phone-risk decisions taken during this login (action, reasons, signals).
    risk: Mapped[list | None] = mapped_column(JSON)

    customer: Mapped[Customer] = relationship()


class LoginThrottle(Base):
    """Consecutive login failures for one identifier, known to us or not.

    Keyed by a keyed hash of the normalised identifier, so unknown identifiers are throttled
    exactly like known ones (no enumeration) and the table holds no plain identifiers.
    """

    __tablename__ = "login_throttles"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class VerificationCode(Base):
    """A one-time code sent to prove possession of an email or phone.

    The code is stored as a keyed hash; `attempts` counts wrong guesses and the code dies
    at the limit. `payload` carries what the purpose needs once the code is proved (for
    sign-up: the argon2 password hash and names, never the password itself).
    """

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(320))
    match_key: Mapped[str] = mapped_column(String(320), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]
    payload: Mapped[dict | None] = mapped_column(JSON)
    customer_pk: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set only once a provider accepted the message: a failed send is never "sent".
    sent_at: Mapped[datetime | None]
    # The provider's id for the verification when the provider holds the code
    # (Twilio Verify); then code_hash is of a random value nobody knows.
    provider_ref: Mapped[str | None] = mapped_column(String(64))


class LoginFlow(Base):
    """A login in progress: the factors proved so far, before a session exists.

    The browser holds a random token (in its signed flow cookie); only its keyed hash is
    stored. `customer_pk` is unknown (None) while an SMS code to a number we may not know
    is pending, so nothing reveals whether the number has an account. `factors` are the
    amr values proved, in order; `required_acr` is what this login must reach.
    """

    __tablename__ = "login_flows"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_pk: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    factors: Mapped[list] = mapped_column(JSON, default=list)
    required_acr: Mapped[str] = mapped_column(String(32))
    # The SMS code this flow is waiting for, if any.
    verification_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("verification_codes.id", ondelete="SET NULL"))
    next_path: Mapped[str | None] = mapped_column(String(2048))
    # The phone-risk decisions taken so far (copied to the login session at the end).
    risk: Mapped[list | None] = mapped_column(JSON)
    # "login", or "reauth": a logged-in customer confirming it is them before changing
    # how the account is opened (stricter phone-risk thresholds apply).
    purpose: Mapped[str] = mapped_column(String(16), default="login")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    customer: Mapped[Customer | None] = relationship()


class RateEvent(Base):
    """One counted event (an SMS sent) under a limit key, for sliding-window limits kept
    in the database. Keys are keyed hashes: no numbers or addresses in this table."""

    __tablename__ = "rate_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    reservation: Mapped[str] = mapped_column(String(32), index=True)


class RateLock(Base):
    """A row per limit key, updated first so concurrent reservations on one key queue up
    (a row lock on PostgreSQL; SQLite serialises all writers anyway)."""

    __tablename__ = "rate_locks"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    touched_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryLink(Base):
    """A single-use link support issues to a customer who is locked out: it lets them set
    a new password, nothing more. The token is stored as a keyed hash; `channel` says how
    it reached the customer ("email", "sms", or "handover": given to support to pass on in
    person) and `destination_hint` where, masked."""

    __tablename__ = "recovery_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_pk: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    destination_hint: Mapped[str | None] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship()
