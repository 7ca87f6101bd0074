"""Signing keys: stored in the database, private parts encrypted, rotated without a gap.

One active key per algorithm signs. `flask keys rotate` (rotate_keys) retires the active
key, promotes the key that was published as `next` at the previous rotation, and publishes
a fresh `next`: so relying parties have had the new key in /jwks.json for a whole rotation
period before anything is signed with it, and a retired key stays in /jwks.json until every
token it signed has expired (its `publish_until`).

Private keys are sealed by app/platform/crypto.py (AES-256-GCM under KEY_ENCRYPTION_KEY), with the
kid as associated data so a ciphertext cannot be moved to another key's row.

Each process (each app) keeps the keys it has read: the unsealed active keys and the
published key set (`_Snapshot`), under the registry version they were read at
(app/oidc/registry_version.py: one row, rewritten by every change to a key or a client,
read once per request). When the version differs, the snapshot is rebuilt from the rows,
so `flask keys rotate` on one worker or instance is seen by every other on its next
request; no timer, no notification. Which keys are published right now (publish_until) is
decided at each read, never cached.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from sqlalchemy import select

from app.extensions import db
from app.models import SigningKey, utcnow
from app.oidc import registry_version
from app.platform import crypto
from app.platform.audit import Origin, record_event

#: Algorithms we sign with; each has its own key. "EdDSA" and "Ed25519" (RFC 9864's
#: fully-specified name) share one Ed25519 key type but are separate keys.
SIGNING_ALGORITHMS = ("RS256", "ES256", "EdDSA", "Ed25519")
ACCESS_TOKEN_ALG = "ES256"
DEFAULT_ID_TOKEN_ALG = "RS256"


class SigningKeyError(RuntimeError):
    """A signing key cannot be used (e.g. it cannot be decrypted with this secret)."""


def _generate(alg: str):
    if alg == "RS256":
        return RSAKey.generate_key(2048)
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    return OKPKey.generate_key("Ed25519")


def _encryption_key() -> bytes:
    try:
        return crypto.encryption_key()
    except crypto.DecryptionError as error:
        raise SigningKeyError(str(error)) from None


def _encrypt(private_jwk: dict, kid: str) -> str:
    return crypto.seal(json.dumps(private_jwk).encode(), kid)


def _decrypt(blob: str, kid: str) -> dict:
    try:
        return json.loads(crypto.unseal(blob, kid))
    except crypto.DecryptionError:
        raise SigningKeyError(f"signing key {kid} cannot be decrypted: was the secret changed? "
                              "Run `flask keys rotate`.") from None


def create_key(alg: str, status: str) -> SigningKey:
    """Generate a key for `alg` in `status` (caller commits)."""
    key = _generate(alg)
    public = key.as_dict(private=False)
    kid = key.thumbprint()
    public.update(kid=kid, alg=alg, use="sig")
    row = SigningKey(kid=kid, alg=alg, status=status, public_jwk=public,
                     private_key_encrypted=_encrypt(key.as_dict(private=True), kid),
                     activated_at=utcnow() if status == "active" else None)
    db.session.add(row)
    return row


def ensure_keys() -> None:
    """Make sure every algorithm has an active and a next key (first start, new alg).

    Commits the keys it makes, whatever request it runs in: a key that has been published
    in /jwks.json (a GET that commits nothing) or has signed a token must not vanish with
    that request's rollback, or what it signed could never be verified.
    """
    created = False
    for alg in SIGNING_ALGORITHMS:
        statuses = set(db.session.scalars(
            select(SigningKey.status).where(SigningKey.alg == alg,
                                            SigningKey.status.in_(("active", "next")))))
        if "active" not in statuses:
            create_key(alg, "active")
            created = True
        if "next" not in statuses:
            create_key(alg, "next")
            created = True
    if created:
        db.session.commit()


def rotate_keys(origin: Origin, algorithms: tuple[str, ...] = SIGNING_ALGORITHMS) -> list[dict]:
    """Retire each active key, promote the published `next` key, publish a new `next`.

    Returns what changed, per algorithm. The retired key stays published for the longest
    token lifetime, so every token it signed can still be verified until it expires.
    The caller (`flask keys rotate`) commits.
    """
    ensure_keys()
    now = utcnow()
    lifetime = max(int(current_app.config[k]) for k in (
        "ACCESS_TOKEN_SECONDS", "ID_TOKEN_SECONDS"))
    changes = []
    for alg in algorithms:
        active = _one(alg, "active")
        upcoming = _one(alg, "next")
        active.status, active.retired_at = "retired", now
        active.publish_until = now + timedelta(seconds=lifetime)
        db.session.flush()
        upcoming.status, upcoming.activated_at = "active", now
        fresh = create_key(alg, "next")
        changes.append({"alg": alg, "retired": active.kid, "active": upcoming.kid,
                        "next": fresh.kid})
        record_event("signing_key.rotated", origin, None, alg=alg, retired=active.kid,
                     active=upcoming.kid, next=fresh.kid)
    db.session.flush()  # the registry version changes: this process signs with the new key, too
    return changes


def _one(alg: str, status: str) -> SigningKey:
    return db.session.scalars(select(SigningKey).where(
        SigningKey.alg == alg, SigningKey.status == status).order_by(SigningKey.id)).first()


def published_keys() -> list[SigningKey]:
    """Keys in /jwks.json: next, active, and retired ones still within publish_until
    (the rows, read now; the token path uses the cached `jwks()` instead)."""
    ensure_keys()
    now = utcnow()
    rows = db.session.scalars(select(SigningKey).order_by(SigningKey.id))
    return [row for row in rows if row.status in ("active", "next")
            or (row.publish_until is not None and row.publish_until > now)]


def jwks() -> dict:
    """The public key set: next, active, and retired keys still within publish_until."""
    return {"keys": [entry.public_jwk for entry in _snapshot().published(utcnow())]}


def key_set() -> KeySet:
    """jwks() as a joserfc KeySet, to verify our own tokens with (built once per set)."""
    return _snapshot().key_set(utcnow())


def active_key(alg: str):
    """(kid, key): the one key that signs with `alg`, unsealed once per process."""
    return _snapshot().active[alg]


@lru_cache(maxsize=64)
def _load_private(kid: str, blob: str, encryption_key: bytes):
    # encryption_key is part of the cache key so a test app with another secret never
    # reuses a key decrypted under a different one.
    data = _decrypt(blob, kid)
    kinds = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}
    return kinds[data["kty"]].import_key(data)


def sign(claims: dict, alg: str, typ: str = "JWT") -> str:
    """Sign `claims` with the active key of `alg`; the header names its kid."""
    kid, key = active_key(alg)
    header = {"alg": alg, "kid": kid, "typ": typ}
    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as deprecated by RFC 9864; clients still ask for it.
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        return jwt.encode(header, claims, key, algorithms=[alg])


# ---- the per-process cache ------------------------------------------------------------------

_CACHE_KEY = "tessera_signing_keys"


@dataclass(frozen=True)
class _Published:
    public_jwk: dict
    until: datetime | None  # None: active or next, published whatever the time


@dataclass
class _Snapshot:
    """What this process knows of the keys table as of registry version `version`."""

    version: str | None
    active: dict[str, tuple[str, object]]
    entries: list[_Published]
    _key_sets: dict = field(default_factory=dict)

    def published(self, now: datetime) -> list[_Published]:
        return [entry for entry in self.entries if entry.until is None or entry.until > now]

    def key_set(self, now: datetime) -> KeySet:
        published = self.published(now)
        kids = tuple(entry.public_jwk["kid"] for entry in published)
        found = self._key_sets.get(kids)
        if found is None:
            found = KeySet.import_key_set({"keys": [entry.public_jwk for entry in published]})
            self._key_sets = {kids: found}  # the set only ever shrinks with time
        return found


def _snapshot() -> _Snapshot:
    """The cached keys, if the registry version is still the one they were read at."""
    version = registry_version.current()
    cache = current_app.extensions
    snapshot: _Snapshot | None = cache.get(_CACHE_KEY)
    if version is not None and snapshot is not None and snapshot.version == version:
        return snapshot
    # No lock: two threads that both find the cache stale each build the same snapshot.
    snapshot = _load()
    if snapshot.version is not None:
        cache[_CACHE_KEY] = snapshot
    return snapshot


def _load() -> _Snapshot:
    # The version is read before the rows (read committed on PostgreSQL): a rotation
    # committed in between then leaves a snapshot under the old version, refilled on
    # the next request, never new rows' absence under the new one.
    version = registry_version.current()
    rows = list(db.session.scalars(select(SigningKey).order_by(SigningKey.id)))
    have = {(row.alg, row.status) for row in rows}
    if any((alg, status) not in have for alg in SIGNING_ALGORITHMS
           for status in ("active", "next")):
        ensure_keys()  # first start or a new algorithm: commits the keys it makes
        version = registry_version.current()
        rows = list(db.session.scalars(select(SigningKey).order_by(SigningKey.id)))
    encryption_key = _encryption_key()
    active = {}
    for row in rows:  # by id: the first active key of an algorithm signs, as _one() picks
        if row.status == "active" and row.alg not in active:
            active[row.alg] = (row.kid, _load_private(row.kid, row.private_key_encrypted,
                                                      encryption_key))
    entries = [_Published(dict(row.public_jwk),
                          None if row.status in ("active", "next") else row.publish_until)
               for row in rows
               if row.status in ("active", "next") or row.publish_until is not None]
    return _Snapshot(version, active, entries)
