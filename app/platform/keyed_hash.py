"""Keyed fast hashes for high-entropy secrets (session tokens, codes, client secrets).

These secrets are random, so a keyed HMAC-SHA256 is enough to make a stolen database
useless, and it is cheap enough to run on every request. Passwords are low-entropy and use
argon2id instead (app/auth/passwords.py). The key is derived from SECRET_KEY with a label
per purpose, so one kind of hash can never be replayed as another; changing SECRET_KEY
invalidates every stored hash (sessions, codes, client secrets).
"""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def keyed_hash(purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under a key for `purpose`, as 64 hex characters."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = hmac.new(secret, b"tessera:" + purpose.encode(), hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def matches(stored_hash: str | None, purpose: str, value: str) -> bool:
    """Constant-time comparison of `value` against a stored keyed hash."""
    candidate = keyed_hash(purpose, value)
    return hmac.compare_digest(candidate, stored_hash or "0" * 64)
