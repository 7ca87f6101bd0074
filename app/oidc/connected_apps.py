"""Connected apps: the clients a customer consented to or holds live tokens for, as the
account page, the admin API's customer view and the data export show them; granting
consent (the authorization endpoint's consent page) and withdrawing one app at once (its
consent, its tokens and its unredeemed codes)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update

from app.extensions import db
from app.models import AuthorizationCode, Consent, Customer, IssuedToken, utcnow
from app.oidc.clients import get_client
from app.platform.audit import Origin, record_event


@dataclass(frozen=True)
class ConnectedApp:
    """A client with access to a customer's account, as the account page shows it."""

    client_id: str
    name: str
    scopes: list[str]
    granted_at: datetime


def connected_apps(customer: Customer) -> list[ConnectedApp]:
    """Clients the customer has consented to or holds live tokens for, oldest first."""
    now = utcnow()
    found: dict[str, dict] = {}
    for consent in db.session.scalars(db.select(Consent).where(
            Consent.customer_pk == customer.id, Consent.revoked_at.is_(None))):
        found[consent.client_id] = {"scopes": set(consent.scopes),
                                    "granted_at": consent.granted_at}
    live = db.session.scalars(db.select(IssuedToken).where(
        IssuedToken.customer_pk == customer.id, IssuedToken.revoked_at.is_(None),
        or_(IssuedToken.access_expires_at > now,
            (IssuedToken.refresh_token_hash.is_not(None)) & IssuedToken.rotated_at.is_(None)
            & (IssuedToken.refresh_expires_at > now))))
    for grant in live:
        entry = found.setdefault(grant.client_id, {"scopes": set(),
                                                   "granted_at": grant.issued_at})
        entry["scopes"] |= set(grant.scope.split())
        entry["granted_at"] = min(entry["granted_at"], grant.issued_at)
    apps = []
    for client_id, entry in found.items():
        client = get_client(client_id)
        if client is not None:
            apps.append(ConnectedApp(client_id, client.name, sorted(entry["scopes"]),
                                     entry["granted_at"]))
    return sorted(apps, key=lambda app: (app.granted_at, app.name))


def consented_scopes(customer_pk: int, client_id: str) -> frozenset[str] | None:
    """The scopes the customer has agreed to share with this client, or None if they
    never agreed or withdrew."""
    row = db.session.execute(db.select(Consent).where(
        Consent.customer_pk == customer_pk,
        Consent.client_id == client_id)).scalar_one_or_none()
    return None if row is None or row.revoked_at is not None else frozenset(row.scopes)


def record_consent(customer: Customer, client_id: str, scopes: list[str],
                   origin: Origin) -> None:
    """Store (or widen) a customer's consent for a client, and audit it (the caller
    commits). A withdrawn consent is replaced, not widened."""
    row = db.session.execute(db.select(Consent).where(
        Consent.customer_pk == customer.id,
        Consent.client_id == client_id)).scalar_one_or_none()
    if row is None:
        row = Consent(customer_pk=customer.id, client_id=client_id, scopes=scopes)
        db.session.add(row)
    else:
        row.scopes = sorted(set(row.scopes if row.revoked_at is None else []) | set(scopes))
        row.revoked_at = None
    record_event("consent.granted", origin, customer.customer_id, client_id=client_id,
                 scopes=scopes)


def revoke_app(customer: Customer, client_id: str, origin: Origin) -> bool:
    """Withdraw a client's access: its consent, every token it holds for the customer
    (access tokens fail bearer validation at once), and any code not yet redeemed (a
    later redemption counts as a replay and is refused). The caller commits. False, with
    nothing changed, if the client had no consent and no live token to withdraw."""
    now = utcnow()
    consent = db.session.execute(db.select(Consent).where(
        Consent.customer_pk == customer.id, Consent.client_id == client_id,
        Consent.revoked_at.is_(None))).scalar_one_or_none()
    if consent is not None:
        consent.revoked_at = now
    revoked = db.session.execute(update(IssuedToken).where(
        IssuedToken.customer_pk == customer.id, IssuedToken.client_id == client_id,
        IssuedToken.revoked_at.is_(None)).values(revoked_at=now)).rowcount
    if consent is None and not revoked:
        return False  # nothing to withdraw: an unredeemed code alone is left as it is
    db.session.execute(update(AuthorizationCode).where(
        AuthorizationCode.customer_pk == customer.id, AuthorizationCode.client_id == client_id,
        AuthorizationCode.used_at.is_(None)).values(used_at=now))
    record_event("consent.revoked", origin, customer.customer_id, client_id=client_id,
                 tokens=revoked)
    return True
