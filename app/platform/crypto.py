"""Encryption of secrets at rest that must be read back (signing keys, TOTP secrets).

AES-256-GCM under KEY_ENCRYPTION_KEY (urlsafe base64 of 32 bytes), or, when that is unset,
a key derived from SECRET_KEY. Each value is sealed with a context string (the kid, the
customer a TOTP secret belongs to ...) as associated data, so a sealed value copied to
another row does not open there.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app


class DecryptionError(RuntimeError):
    """A sealed value cannot be opened: another key, another context, or damaged."""


def encryption_key() -> bytes:
    """The 32-byte key from KEY_ENCRYPTION_KEY, else derived from SECRET_KEY."""
    configured = current_app.config["KEY_ENCRYPTION_KEY"]
    if configured:
        key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        if len(key) != 32:
            raise DecryptionError("TESSERA_KEY_ENCRYPTION_KEY must be 32 bytes, urlsafe base64")
        return key
    secret = str(current_app.config["SECRET_KEY"]).encode()
    # The derivation label predates this module (signing keys were sealed first); keep it
    # so existing databases still open.
    return hmac.new(secret, b"tessera:signing-key-encryption", hashlib.sha256).digest()


def seal(plaintext: bytes, context: str) -> str:
    """Encrypt `plaintext` bound to `context`; base64 text for a database column."""
    nonce = os.urandom(12)
    return base64.b64encode(
        nonce + AESGCM(encryption_key()).encrypt(nonce, plaintext, context.encode())).decode()


def unseal(blob: str, context: str) -> bytes:
    """The plaintext of `seal(plaintext, context)`, or DecryptionError."""
    try:
        raw = base64.b64decode(blob)
        return AESGCM(encryption_key()).decrypt(raw[:12], raw[12:], context.encode())
    except (InvalidTag, ValueError) as error:
        raise DecryptionError("a sealed value cannot be opened with this key") from error
