"""A software WebAuthn authenticator: what a security key or a phone answers to
navigator.credentials.create() and .get(), as the browser's JSON (toJSON() shape), so the
server's checks can be tested without a browser. It sits at the edge, where a real
authenticator would be; the browser tests use Chromium's own virtual authenticator.

It signs with ES256 (P-256), answers attestation "none", and lets a test set each thing
a relying party must check: the origin and RP ID it signs for, user verification, the
backup flags of a synced passkey, and the signature counter.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = "00000000-0000-4000-8000-00000000c0de"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftPasskey:
    """One credential held by the software authenticator."""

    rp_id: str
    user_handle: bytes
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sign_count: int = 0
    synced: bool = False

    def _flags(self, user_verified: bool, attested: bool = False) -> int:
        flags = FLAG_UP | (FLAG_UV if user_verified else 0)
        if self.synced:
            flags |= FLAG_BE | FLAG_BS
        return flags | (FLAG_AT if attested else 0)

    def cose_key(self) -> bytes:
        """The public key as COSE (what the server stores)."""
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})


def create(options_json: str, origin: str, *, user_verified: bool = True,
           synced: bool = False, rp_id: str | None = None) -> tuple[SoftPasskey, str]:
    """Answer registration options (JSON from the server) as the browser would: the new
    passkey, and the registration response JSON. `rp_id` overrides the options' RP ID (a
    response made for another site)."""
    options = json.loads(options_json)
    passkey = SoftPasskey(rp_id=rp_id or options["rp"]["id"],
                          user_handle=unb64url(options["user"]["id"]), synced=synced)
    client_data = _client_data("webauthn.create", options["challenge"], origin)
    auth_data = (hashlib.sha256(passkey.rp_id.encode()).digest()
                 + bytes([passkey._flags(user_verified, attested=True)])
                 + struct.pack(">I", passkey.sign_count)
                 + bytes.fromhex(AAGUID.replace("-", ""))
                 + struct.pack(">H", len(passkey.credential_id)) + passkey.credential_id
                 + passkey.cose_key())
    attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
    response = {"id": b64url(passkey.credential_id), "rawId": b64url(passkey.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data),
                             "attestationObject": b64url(attestation),
                             "transports": ["internal", "hybrid"]}}
    return passkey, json.dumps(response)


def get(passkey: SoftPasskey, options_json: str, origin: str, *, user_verified: bool = True,
        sign_count: int | None = None, rp_id: str | None = None,
        with_user_handle: bool = True) -> str:
    """Answer authentication options as the browser would: the assertion JSON, signed by
    `passkey`. The counter goes up by one (synced passkeys keep 0) unless `sign_count`
    sets it."""
    options = json.loads(options_json)
    if sign_count is None:
        sign_count = 0 if passkey.synced else passkey.sign_count + 1
    passkey.sign_count = sign_count
    client_data = _client_data("webauthn.get", options["challenge"], origin)
    auth_data = (hashlib.sha256((rp_id or passkey.rp_id).encode()).digest()
                 + bytes([passkey._flags(user_verified)]) + struct.pack(">I", sign_count))
    signature = passkey.key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                 ec.ECDSA(hashes.SHA256()))
    response = {"id": b64url(passkey.credential_id), "rawId": b64url(passkey.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client_data),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": b64url(passkey.user_handle)
                             if with_user_handle else None}}
    return json.dumps(response)


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                       "crossOrigin": False}, separators=(",", ":")).encode()
