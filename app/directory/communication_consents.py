"""Communication consents: may we send this customer messages on a channel (email, SMS)
for a purpose (marketing, service notices)? Each decision is kept with when it was made,
where (sign-up page, account page, support on the customer's request) and the version of
the wording the customer saw, so we can show what was agreed to, and when.

Security notices (a new phone, a password change...) are not covered: they always go out.
Nothing is granted by default; withdrawing takes one click, like giving.

The history is append-only: the newest row per (channel, purpose) is the choice now, the
older ones prove what was agreed when. Rows are ordered by `recorded_at`, then by id, so
decisions made in one instant (one save) keep the order they were made in.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.directory.customers import CustomerError, bump_version
from app.extensions import db
from app.models import CommunicationConsent, Customer
from app.platform.audit import Origin, record_event

CHANNELS = ("email", "sms")
PURPOSES = ("marketing", "service")
SOURCES = ("signup", "account", "admin")
#: Longest wording version (the column's length).
WORDING_VERSION_MAX = 32
# A merged customer's choices live on the survivor; an erased one has none left.
_CLOSED_STATUSES = ("erased", "merged")


class OutdatedWording(CustomerError):
    """A decision names a wording version that is not the current one: we keep only the
    words we show now, so an agreement to other words cannot be recorded."""


@dataclass(frozen=True)
class Wording:
    version: str
    #: The words, in the language of the page that shows them (lazy: str() it where a
    #: plain string is needed). A translation says the same: it is the same version.
    text: str


#: What the customer is asked, per (channel, purpose). Change the text, change the
#: version: a consent is to the words the customer saw.
WORDINGS = {
    ("email", "marketing"): Wording("2026-11-01",
                                    _l("Email me offers and news about products.")),
    ("sms", "marketing"): Wording("2026-11-01", _l("Text me offers and news about products.")),
    ("email", "service"): Wording("2026-11-01", _l("Email me about changes to the service, "
                                                   "such as new features and planned "
                                                   "downtime.")),
    ("sms", "service"): Wording("2026-11-01", _l("Text me about changes to the service, such "
                                                 "as planned downtime.")),
}


def wordings_tag() -> str:
    """Names the wordings in force (every pair's version): a form carries it from the
    page that showed the words to the POST that records them, so an agreement recorded
    is always to the words on the page, even across a deploy that changed them."""
    return ",".join(f"{channel}.{purpose}={wording.version}"
                    for (channel, purpose), wording in sorted(WORDINGS.items()))


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
    """Record a decision (the caller commits). Unchanged choices record nothing (None); a
    grant given again after the wording changed records the grant of the new words.
    `wording_version` defaults to the current wording; another one raises OutdatedWording,
    since the customer must have seen the words we keep. CustomerError for unknown values
    or an erased or merged customer; nothing is written then."""
    wording = _wording(channel, purpose)
    _check_decision(customer, granted, source)
    if wording_version is not None:
        if not isinstance(wording_version, str):
            raise CustomerError("The wording version must be a string.")
        if wording_version != wording.version:
            raise OutdatedWording(f"The current wording for {channel} {purpose} is version "
                                  f"{wording.version}; the customer must agree to that one.")
    now_state = _state_of(customer, channel, purpose)
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


def save_choices(customer: Customer, wanted: Mapping[tuple[str, str], bool], source: str,
                 origin: Origin) -> list[CommunicationConsent]:
    """Record each (channel, purpose) -> granted choice in `wanted` that differs from the
    customer's choice now, and return the rows recorded (the caller commits); a form
    saved unchanged records nothing. A box left ticked is not a new agreement: a grant
    under an older wording stays as it was (record() is how to agree to new words).

    Every pair is checked before anything is written, and the customer row is locked
    (on PostgreSQL) so two saves at once cannot both record the same change."""
    for (channel, purpose), granted in wanted.items():
        _wording(channel, purpose)
        _check_decision(customer, granted, source)
    db.session.refresh(customer, with_for_update=True)
    now = {(s.channel, s.purpose): s.granted for s in current(customer)}
    recorded = []
    for (channel, purpose), granted in wanted.items():
        if now[(channel, purpose)] != granted:
            recorded.append(record(customer, channel, purpose, granted, source, origin))
    return recorded


def _wording(channel: str, purpose: str) -> Wording:
    """The current wording of a known channel and purpose; CustomerError otherwise."""
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise CustomerError(f"Unknown channel {channel!r}: use one of {', '.join(CHANNELS)}.")
    if not isinstance(purpose, str) or purpose not in PURPOSES:
        raise CustomerError(f"Unknown purpose {purpose!r}: use one of {', '.join(PURPOSES)}.")
    return WORDINGS[(channel, purpose)]


def _check_decision(customer: Customer, granted: bool, source: str) -> None:
    if not isinstance(granted, bool):
        raise CustomerError("A consent is given or withdrawn: granted must be true or false.")
    if not isinstance(source, str) or source not in SOURCES:
        raise CustomerError(f"Unknown source {source!r}.")
    if customer.status in _CLOSED_STATUSES:
        raise CustomerError(f"This customer is {customer.status}: their choices cannot "
                            "change.")


def _state_of(customer: Customer, channel: str, purpose: str) -> ConsentState:
    return next(s for s in current(customer) if (s.channel, s.purpose) == (channel, purpose))
