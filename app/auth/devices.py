"""Recognising a returning browser: a long-lived random device cookie, remembered per
customer (keyed hash) when a login finishes. A browser without a cookie we know for this
customer is a "new device" to the phone-risk policy (a small weight: a new phone is
normal, a new phone together with a fresh SIM is the SIM-swap pattern)."""
from __future__ import annotations

import secrets

from sqlalchemy import select

from app.extensions import db
from app.models import Customer, KnownDevice, utcnow
from app.platform.keyed_hash import keyed_hash

COOKIE_NAME = "tessera_device"
_PURPOSE = "device-cookie"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_known(customer: Customer, token: str | None) -> bool:
    """Whether this browser (its device cookie) logged in to `customer` before."""
    if not token or len(token) > 128:
        return False
    return db.session.scalar(select(KnownDevice.id).where(
        KnownDevice.customer_pk == customer.id,
        KnownDevice.token_hash == keyed_hash(_PURPOSE, token))) is not None


def remember(customer: Customer, token: str, user_agent: str | None) -> None:
    """Remember this browser for `customer` (the caller commits)."""
    token_hash = keyed_hash(_PURPOSE, token)
    row = db.session.scalar(select(KnownDevice).where(
        KnownDevice.customer_pk == customer.id, KnownDevice.token_hash == token_hash))
    if row is None:
        db.session.add(KnownDevice(customer_pk=customer.id, token_hash=token_hash,
                                   user_agent=(user_agent or "")[:512] or None))
    else:
        row.last_seen_at = utcnow()
