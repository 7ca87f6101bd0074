"""Communication consents: may we send this customer messages on a channel (email, SMS)
for a purpose (marketing, service notices)? Each decision is kept with when it was made,
where (sign-up page, account page, support on the customer's request) and the version of
the wording the customer saw, so we can show what was agreed to, and when.

Security notices (a new phone, a password change...) are not covered: they always go out.
Nothing is granted by default; withdrawing takes one click, like giving.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.audit import Origin, record_event
from app.customers import CustomerError, bump_version
from app.extensions import db
from app.models import CommunicationConsent, Customer

CHANNELS = ("email", "sms")
PURPOSES = ("marketing", "service")
SOURCES = ("signup", "account", "admin")


@dataclass(frozen=True)
class Wording:
    version: str
    text: str


#: What the customer is asked, per (channel, purpose). Change the text, change the
#: version: a consent is to the words the customer saw.
WORDINGS = {
    ("email", "marketing"): Wording("2026-11-01", "Email me offers and news about products."),
    ("sms", "marketing"): Wording("2026-11-01", "Text me offers and news about products."),
    ("email", "service"): Wording("2026-11-01", "Email me about changes to the service, "
                                                "such as new features and planned downtime."),
    ("sms", "service"): Wording("2026-11-01", "Text me about changes to the service, such "
                                              "as planned downtime."),
}


@dataclass(frozen=True)
class ConsentState:
    """The customer's choice now for one channel and purpose (never asked: not granted,
    no time)."""

    channel: str
    purpose: str
    granted: bool
    recorded_at: datetime | None
    source: str | None
    wording_version: str | None

    def as_dict(self) -> dict:
        return {"channel": self.channel, "purpose": self.purpose, "granted": self.granted,
                "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
                "source": self.source, "wording_version": self.wording_version}


def history(customer: Customer) -> list[CommunicationConsent]:
    """Every decision of the customer, oldest first."""
    return list(db.session.scalars(
        db.select(CommunicationConsent).where(CommunicationConsent.customer_pk == customer.id)
        .order_by(CommunicationConsent.recorded_at, CommunicationConsent.id)))


def current(customer: Customer) -> list[ConsentState]:
    """The choice now for every channel and purpose, in CHANNELS x PURPOSES order."""
    latest = {(row.channel, row.purpose): row for row in history(customer)}
    states = []
    for channel in CHANNELS:
        for purpose in PURPOSES:
            row = latest.get((channel, purpose))
            states.append(ConsentState(channel, purpose, bool(row and row.granted),
                                       row.recorded_at if row else None,
                                       row.source if row else None,
                                       row.wording_version if row else None))
    return states


def record(customer: Customer, channel: str, purpose: str, granted: bool, source: str,
           origin: Origin, *, wording_version: str | None = None) -> CommunicationConsent | None:
    """Record a decision (the caller commits). Unchanged choices record nothing (None).
    `wording_version` defaults to the current wording; an older one is refused, since the
    customer must have seen the words we keep. CustomerError for unknown values."""
    if channel not in CHANNELS:
        raise CustomerError(f"Unknown channel {channel!r}: use one of {', '.join(CHANNELS)}.")
    if purpose not in PURPOSES:
        raise CustomerError(f"Unknown purpose {purpose!r}: use one of {', '.join(PURPOSES)}.")
    if source not in SOURCES:
        raise CustomerError(f"Unknown source {source!r}.")
    wording = WORDINGS[(channel, purpose)]
    if wording_version is not None and wording_version != wording.version:
        raise CustomerError(f"The current wording for {channel} {purpose} is version "
                            f"{wording.version}; the customer must agree to that one.")
    now_state = next(s for s in current(customer)
                     if (s.channel, s.purpose) == (channel, purpose))
    if now_state.granted == granted and (not granted or
                                         now_state.wording_version == wording.version):
        return None
    row = CommunicationConsent(customer_pk=customer.id, channel=channel, purpose=purpose,
                               granted=granted, wording_version=wording.version,
                               source=source, actor=origin.actor[:128])
    db.session.add(row)
    bump_version(customer)
    record_event("communication_consent.given" if granted else
                 "communication_consent.withdrawn", origin, customer.customer_id,
                 channel=channel, purpose=purpose, source=source,
                 wording_version=wording.version)
    return row
