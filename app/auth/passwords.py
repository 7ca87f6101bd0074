"""Password hashing (argon2id) and the password policy.

Policy (NIST SP 800-63B-4, ASVS 6.2): PASSWORD_MIN_LENGTH (default 8) to 256 characters of
any Unicode, compared after NFKC normalisation so the same password typed on another keyboard
still matches; no composition rules; refused when zxcvbn scores it under
PASSWORD_MIN_ZXCVBN_SCORE or finds the whole of it in its common-password list.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from zxcvbn import zxcvbn

MAX_LENGTH = 256
# zxcvbn's cost grows with length; its first 100 characters are plenty to judge strength.
ZXCVBN_MAX_INPUT = 100


class PasswordRejected(ValueError):
    """The password breaks the policy; the message says why, in words for the customer."""


def normalize(password: str) -> str:
    """The form that is hashed and measured: NFKC."""
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> str:
    """Return the normalised password, or raise PasswordRejected with the reason.

    `user_inputs` (email, names) make zxcvbn reject passwords built from them.
    """
    password = normalize(password)
    minimum = int(current_app.config["PASSWORD_MIN_LENGTH"])
    if len(password) < minimum:
        raise PasswordRejected(f"Use at least {minimum} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    result = zxcvbn(password[:ZXCVBN_MAX_INPUT], user_inputs=_words_of(user_inputs))
    common = any(
        match["pattern"] == "dictionary" and match.get("dictionary_name") == "passwords"
        and len(match["token"]) == len(password)
        for match in result["sequence"]
    )
    if common:
        raise PasswordRejected("This password is on lists of common passwords; choose another.")
    if result["score"] < int(current_app.config["PASSWORD_MIN_ZXCVBN_SCORE"]):
        feedback = result["feedback"]
        reason = feedback.get("warning") or "This password is too easy to guess."
        hints = " ".join(feedback.get("suggestions") or [])
        raise PasswordRejected(f"{reason} {hints}".strip())
    return password


def _words_of(user_inputs) -> list[str]:
    """The inputs and their parts: zxcvbn matches whole words, so 'ada.l@example.com'
    must also be offered as 'ada', 'l', 'example'."""
    words = set()
    for text in user_inputs:
        if text:
            words.add(text.lower())
            words.update(w for w in re.split(r"[\W_]+", text.lower()) if len(w) >= 3)
    return sorted(words)


def _hasher() -> PasswordHasher:
    config = current_app.config
    return _hasher_for(int(config["ARGON2_TIME_COST"]), int(config["ARGON2_MEMORY_KIB"]),
                       int(config["ARGON2_PARALLELISM"]))


@lru_cache(maxsize=8)
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                          parallelism=parallelism, type=Type.ID)


def hash_password(password: str) -> str:
    """argon2id hash of the NFKC-normalised password, at the configured cost."""
    return _hasher().hash(normalize(password))


def verify_password(password_hash: str | None, password: str) -> tuple[bool, bool]:
    """Return (matches, needs_rehash). A missing hash still costs one verification, so
    an unknown identifier takes as long as a known one."""
    hasher = _hasher()
    if password_hash is None:
        try:
            hasher.verify(_dummy_hash(), normalize(password) + "\x00unknown")
        except VerificationError:
            pass
        return False, False
    try:
        hasher.verify(password_hash, normalize(password))
    except (VerificationError, InvalidHashError):
        return False, False
    return True, hasher.check_needs_rehash(password_hash)


def _dummy_hash() -> str:
    """A hash at the current cost that no password matches (made once per cost)."""
    config = current_app.config
    return _dummy_hash_for(int(config["ARGON2_TIME_COST"]), int(config["ARGON2_MEMORY_KIB"]),
                           int(config["ARGON2_PARALLELISM"]))


@lru_cache(maxsize=8)
def _dummy_hash_for(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher_for(time_cost, memory_kib, parallelism).hash("tessera-dummy-password")
