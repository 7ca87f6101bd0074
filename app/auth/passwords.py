"""Password hashing (argon2id) and the password policy.

Policy (NIST SP 800-63B-4, ASVS 6.2): PASSWORD_MIN_LENGTH (default 8) to 256 characters of
any Unicode, compared after NFKC normalisation so the same password typed on another keyboard
still matches; no composition rules; refused when zxcvbn scores it under
PASSWORD_MIN_ZXCVBN_SCORE or finds the whole of it in its common-password list.

Context words (ASVS 6.1.2, 6.2.11): a password that contains one of
PASSWORD_CONTEXT_WORDS, ignoring case, is refused outright, and the words are given to
zxcvbn as user inputs, so "T3ssera" variants also score low. The setting is a
comma-separated list; "auto" (the default) stands for the product name and the
distinctive labels of the issuer's host name (https://login.acme-bank.example gives
"acme-bank" and "acmebank": the top-level label, labels under 4 characters, numeric
hosts and generic labels such as "login" are left out, as they would refuse ordinary
passwords). Empty means no context words.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

import idna

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _, ngettext

from app.auth.password_feedback import in_page_language
from app.config import AUTO_CONTEXT_WORDS, context_word_list

MAX_LENGTH = 256
#: The product name: always a context word under "auto".
PRODUCT_NAME = "tessera"
# Issuer host labels that say what the host does, not whose it is.
_GENERIC_HOST_LABELS = frozenset({"login", "auth", "oauth", "account", "accounts",
                                  "identity", "signin", "secure"})
# zxcvbn's cost grows with length; its first 100 characters are plenty to judge strength.
ZXCVBN_MAX_INPUT = 100


class PasswordRejected(ValueError):
    """The password breaks the policy; the message says why, in words for the customer
    (in the page's language, except zxcvbn's own warning and suggestions: English)."""


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
        raise PasswordRejected(ngettext("Use at least %(num)d character.",
                                        "Use at least %(num)d characters.", minimum))
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(ngettext("Use at most %(num)d character.",
                                        "Use at most %(num)d characters.", MAX_LENGTH))
    words = current_context_words()
    folded = password.casefold()
    for word in words:
        if word in folded:
            raise PasswordRejected(_(
                "Passwords cannot contain “%(word)s”, the name of this service or its site: "
                "leave it out and choose words of your own.", word=word))
    # Imported on first use: its word lists are about 12 MB in every worker, and only
    # choosing a password (sign-up, change, reset) needs them, never a login.
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:ZXCVBN_MAX_INPUT],
                    user_inputs=_words_of([*user_inputs, *words]))
    common = any(
        match["pattern"] == "dictionary" and match.get("dictionary_name") == "passwords"
        and len(match["token"]) == len(password)
        for match in result["sequence"]
    )
    if common:
        raise PasswordRejected(_("This password is on lists of common passwords; choose "
                                 "another."))
    if result["score"] < int(current_app.config["PASSWORD_MIN_ZXCVBN_SCORE"]):
        feedback = result["feedback"]
        # zxcvbn's words, in the page's language (app/auth/password_feedback.py).
        reason = (in_page_language(feedback.get("warning"))
                  or _("This password is too easy to guess."))
        hints = [in_page_language(hint) for hint in feedback.get("suggestions") or []]
        raise PasswordRejected(" ".join([reason, *filter(None, hints)]))
    return password


def current_context_words() -> tuple[str, ...]:
    """The context words in force (PASSWORD_CONTEXT_WORDS with "auto" expanded)."""
    config = current_app.config
    return context_words(str(config["PASSWORD_CONTEXT_WORDS"]), str(config["ISSUER"]))


@lru_cache(maxsize=8)
def context_words(setting: str, issuer: str) -> tuple[str, ...]:
    """The context words of a PASSWORD_CONTEXT_WORDS value, case-folded, "auto" expanded
    for `issuer`. ValueError (naming the fault) for a word too short to refuse by, too
    long, or containing whitespace (the rule is app.config.context_word_list, which
    config validation applies at start-up)."""
    words: list[str] = []
    for word in context_word_list(setting):
        if word == AUTO_CONTEXT_WORDS:
            words += [PRODUCT_NAME, *_issuer_words(issuer)]
        else:
            words.append(unicodedata.normalize("NFKC", word))
    return tuple(dict.fromkeys(words))


def _issuer_words(issuer: str) -> list[str]:
    """The distinctive labels of the issuer's host name (see the module docstring)."""
    host = (urlsplit(issuer).hostname or "").lower()
    labels = host.split(".")
    if ":" in host or all(label.isdigit() for label in labels):
        return []  # an IP address names nobody
    words = []
    for label in labels[:-1]:
        if label.startswith("xn--"):
            try:
                label = idna.decode(label)
            except idna.IDNAError:
                continue
        if len(label) < 4 or label.isdigit() or label in _GENERIC_HOST_LABELS:
            continue
        words.append(label)
        if "-" in label:
            words.append(label.replace("-", ""))
    return words


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
