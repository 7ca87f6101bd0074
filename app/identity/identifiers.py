"""Turn what a person types as an email, phone number or username into the
one value that is stored, or refuse it with a message fit to show them.

Every function is pure: no Flask app, no database, no network. Each raises
``InvalidIdentifier`` (a ``ValueError``) whose text goes straight onto a web
form or a CLI error line: marked for translation (Flask-Babel's ``gettext``:
the page's language in a request, English when no app is running).

Email: why not ``email-validator``
----------------------------------
Emails are checked here by hand, with the ``idna`` package for the domain,
rather than with ``email_validator.validate_email``. The rules we need are
few and written down below; doing them here keeps every message ours and
stable (email-validator's wording and its list of refused special-use
domains change between releases), and keeps the stored domain in the one
form we want: IDNA ASCII, lower case. Whether an address really receives
mail is settled by the verification message, not by syntax.

Look-alikes
-----------
Two different mailboxes must never share a match key, so an email's local part is only
put in NFC and lower-cased (``str.lower``), never case-folded or NFKC-mapped: ``Straße``
stays apart from ``strasse`` and a ``ﬃ`` ligature from ``ffi``. Usernames are ours to
restrict: one script only (Unicode TS #39 "highly restrictive": Latin may mix with Han
and the Japanese or Korean scripts, nothing else), and each has a TS #39 confusable
skeleton, kept under a unique index, so ``аlice`` (Cyrillic а) or ``alıce`` (dotless ı)
is refused while ``alice`` exists. Both checks are ICU's SpoofChecker.
"""

import unicodedata
from functools import lru_cache

import icu
import idna
import phonenumbers
from flask_babel import gettext as _

__all__ = [
    "InvalidIdentifier",
    "classify",
    "email_match_key",
    "normalize_email",
    "normalize_phone",
    "normalize_username",
    "username_skeleton",
]

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit less the angle brackets
MAX_LOCAL_PART_OCTETS = 64  # RFC 5321
MAX_PHONE_INPUT_LENGTH = 64
USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 64
# NFKC can lengthen text, so very long raw input is refused before it runs.
_MAX_USERNAME_INPUT_LENGTH = 4 * USERNAME_MAX_LENGTH

# RFC 5322 "specials" that are only legal inside a quoted local part. Real
# customer addresses are never quoted; these show up when someone pastes
# "Alice <alice@example.com>" or a list, so a clear refusal helps more.
_EMAIL_LOCAL_SPECIALS = frozenset('"(),:;<>[\\]')
_USERNAME_PUNCTUATION = frozenset("._-")
_PHONE_PUNCTUATION = frozenset(" +-().")
_PHONE_MIN_DIGITS = 5
_TEL_PREFIX = "tel:"


class InvalidIdentifier(ValueError):
    """The input is not a usable identifier; the message is fit to show to a person."""


def _is_invisible(ch: str) -> bool:
    """Whitespace, control, format (zero-width etc.), private-use or unassigned."""
    return ch.isspace() or unicodedata.category(ch)[0] in "CZ"


def normalize_email(text: str) -> str:
    """Return the stored form of an email address.

    Trims surrounding whitespace. The local part (before the @) is kept as
    typed, case included, only put in Unicode NFC so that one visible
    spelling has one stored form; it must be 1 to 64 octets with no
    whitespace, control or invisible characters and none of ``"(),:;<>[\\]``.
    The domain is mapped with UTS 46 and stored IDNA-encoded in lower-case
    ASCII (``BÜCHER.example`` -> ``xn--bcher-kva.example``); it needs at
    least one dot and valid labels. The whole address is at most 254
    characters. Compare addresses with ``email_match_key``, not this value.
    """
    address = text.strip()
    if not address:
        raise InvalidIdentifier(_("Enter an email address, like name@example.com."))
    if len(address) > MAX_EMAIL_LENGTH:
        raise InvalidIdentifier(_too_long_email())
    at_signs = address.count("@")
    if at_signs == 0:
        raise InvalidIdentifier(_("An email address needs an @ sign, like name@example.com."))
    if at_signs > 1:
        raise InvalidIdentifier(_("An email address has exactly one @ sign."))
    local, domain = address.split("@")

    local = unicodedata.normalize("NFC", local)
    if not local:
        raise InvalidIdentifier(_("Put the name before the @ sign, like name@example.com."))
    for ch in local:
        if _is_invisible(ch):
            raise InvalidIdentifier(
                _("The part before the @ sign cannot contain spaces or invisible characters.")
            )
        if ch in _EMAIL_LOCAL_SPECIALS:
            # The specials are all visible: named as themselves, in quotes.
            raise InvalidIdentifier(
                _("The part before the @ sign cannot contain “%(character)s”.", character=ch)
            )
    if len(local.encode("utf-8")) > MAX_LOCAL_PART_OCTETS:
        raise InvalidIdentifier(
            _("The part before the @ sign is too long (at most %(count)d characters).",
              count=MAX_LOCAL_PART_OCTETS)
        )

    ascii_domain = _normalize_domain(domain)
    email = f"{local}@{ascii_domain}"
    # IDNA encoding can lengthen the domain, so check the result as well.
    if len(email.encode("utf-8")) > MAX_EMAIL_LENGTH:
        raise InvalidIdentifier(_too_long_email())
    return email


def _too_long_email() -> str:
    return _("An email address can be at most %(count)d characters long.",
             count=MAX_EMAIL_LENGTH)


def _normalize_domain(domain: str) -> str:
    """Lower-case IDNA ASCII form of an email domain, or InvalidIdentifier."""
    if not domain:
        raise InvalidIdentifier(_("Put the domain after the @ sign, like name@example.com."))
    try:
        # UTS 46 maps case, full-width letters and ideographic full stops
        # ("。") before IDNA 2008 validation; non-transitional keeps ß as ß.
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        raise InvalidIdentifier(
            _("The part after the @ sign is not a valid domain name (like name@example.com).")
        ) from None
    labels = ascii_domain.split(".")
    # idna accepts one trailing dot (the DNS root); in an address it is
    # nearly always the full stop of a sentence, so refuse it plainly.
    if "" in labels:
        raise InvalidIdentifier(
            _("The domain after the @ sign cannot start or end with a dot "
              "(like name@example.com).")
        )
    if len(labels) < 2:
        raise InvalidIdentifier(
            _("The domain after the @ sign needs a dot (like name@example.com).")
        )
    if labels[-1].isdigit():
        # An all-numeric last label means an IP address, not a domain name.
        raise InvalidIdentifier(
            _("The part after the @ sign must be a domain name, not an IP address "
              "(like name@example.com).")
        )
    return ascii_domain


def email_match_key(normalized_email: str) -> str:
    """The value used to compare and look up emails: the local part in NFC and
    lower case, the domain as ``normalize_email`` leaves it (IDNA ASCII, lower
    case), so ``Alice@Example.com`` and ``alice@example.com`` are one
    identifier. Lower case, not case folding and not NFKC: those would make
    ``Straße@`` one with ``strasse@`` and ``ﬃce@`` one with ``ffice@``, which
    are different mailboxes. Pass the result of ``normalize_email``.
    """
    local, _, domain = normalized_email.rpartition("@")
    return f"{unicodedata.normalize('NFC', local.lower())}@{domain.lower()}"


def normalize_phone(text: str, default_region: str) -> str:
    """Return a phone number in E.164 form, e.g. ``+12025550143``.

    Accepts any human format: ``+44 7911 123456``, ``(202) 555-0143``,
    ``0044 7911 123456``, ``tel:+1-202-555-0143``. A number without a
    country code is read as belonging to ``default_region``, an ISO 3166
    country code like ``"US"`` or ``"GB"`` (or ``"ZZ"`` to demand one).
    Refuses input over 64 characters, text that is not a number, numbers
    that are not valid for their country, and numbers with an extension
    (a number used to sign in must reach one phone). An unknown
    ``default_region`` is a programming error: plain ``ValueError``.
    """
    known = default_region in phonenumbers.SUPPORTED_REGIONS
    if not known and default_region != phonenumbers.UNKNOWN_REGION:  # "ZZ"
        raise ValueError(f"unknown default_region {default_region!r}")
    if len(text) > MAX_PHONE_INPUT_LENGTH:
        raise InvalidIdentifier(
            _("That is too long to be a phone number (at most %(count)d characters).",
              count=MAX_PHONE_INPUT_LENGTH)
        )
    if not text.strip():
        raise InvalidIdentifier(_("Enter a phone number."))
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidIdentifier(
                _("We could not tell which country that number is in. "
                  "Start with + and the country code, like +44 7911 123456.")
            ) from None
        raise InvalidIdentifier(
            _("That does not look like a phone number. "
              "Include the country code, starting with +, like +44 7911 123456.")
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(
            _("That is not a valid phone number. Check the digits and the country code.")
        )
    if number.extension:
        raise InvalidIdentifier(_("Enter the phone number without an extension."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _looks_like_phone(text: str) -> bool:
    """True when text (already stripped) is only phone characters (digits,
    spaces, + - ( ) .), optionally after ``tel:``, with at least 5 digits."""
    if text[: len(_TEL_PREFIX)].lower() == _TEL_PREFIX:
        text = text[len(_TEL_PREFIX) :]
    digits = 0
    for ch in text:
        if ch.isdecimal():  # any script's digits; phonenumbers reads them
            digits += 1
        elif ch not in _PHONE_PUNCTUATION:
            return False
    return digits >= _PHONE_MIN_DIGITS


def normalize_username(text: str) -> str:
    """Return the stored form of a username: NFKC, trimmed, case-folded.

    After that it must be 3 to 64 characters of letters and digits (any
    script, per ``str.isalnum``) and ``.``, ``_``, ``-``. It must not
    contain @ (it would read as an email), and must not start with + or be
    all digits or otherwise look like a phone number (see ``classify``),
    so the one login box can always tell the kinds apart.
    """
    if len(text) > _MAX_USERNAME_INPUT_LENGTH:
        raise InvalidIdentifier(_too_long_username())
    # NFKC again after casefold: case folding can produce text NFKC would
    # change, and the stored form must normalise to itself.
    name = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).strip().casefold())
    if not name:
        raise InvalidIdentifier(_("Choose a username."))
    if "@" in name:
        raise InvalidIdentifier(
            _("A username cannot contain @; that would make it look like an email address.")
        )
    if name.startswith("+"):
        raise InvalidIdentifier(
            _("A username cannot start with +; that would make it look like a phone number.")
        )
    for ch in name:
        if not (ch.isalnum() or ch in _USERNAME_PUNCTUATION):
            raise InvalidIdentifier(_username_cannot_contain(ch))
    if len(name) < USERNAME_MIN_LENGTH:
        raise InvalidIdentifier(
            _("A username needs at least %(count)d characters.", count=USERNAME_MIN_LENGTH)
        )
    if len(name) > USERNAME_MAX_LENGTH:
        raise InvalidIdentifier(_too_long_username())
    if name.isdigit() or _looks_like_phone(name):
        raise InvalidIdentifier(
            _("A username cannot be just digits or look like a phone number; add a letter.")
        )
    _refuse_mixed_scripts(name)
    return name


def _too_long_username() -> str:
    return _("A username can be at most %(count)d characters long.", count=USERNAME_MAX_LENGTH)


def _username_cannot_contain(ch: str) -> str:
    """The refusal of a character a username cannot have; invisible ones by code point."""
    if ch == " ":
        return _("A username cannot contain spaces: use letters, digits, dots (.), "
                 "underscores (_) and hyphens (-).")
    if _is_invisible(ch):
        code_point = f"{ord(ch):04X}"
        return _("A username cannot contain an invisible character (U+%(code)s): use "
                 "letters, digits, dots (.), underscores (_) and hyphens (-).",
                 code=code_point)
    return _("A username cannot contain “%(character)s”: use letters, digits, dots (.), "
             "underscores (_) and hyphens (-).", character=ch)


@lru_cache(maxsize=1)
def _spoof_checker() -> "icu.SpoofChecker":
    """ICU's TS #39 checker: highly restrictive scripts, one number system. Configured
    once and then only read, which ICU allows from any thread."""
    checker = icu.SpoofChecker()
    checker.setChecks(icu.USpoofChecks.RESTRICTION_LEVEL | icu.USpoofChecks.MIXED_NUMBERS)
    checker.setRestrictionLevel(icu.URestrictionLevel.HIGHLY_RESTRICTIVE)
    return checker


def _refuse_mixed_scripts(name: str) -> None:
    """InvalidIdentifier when a username mixes scripts (``аlice``: Cyrillic а in
    Latin) or digits of different number systems."""
    failed = _spoof_checker().check(name)
    if failed & icu.USpoofChecks.RESTRICTION_LEVEL:
        scripts = sorted({icu.Script.getScript(ord(ch)).getName() for ch in name}
                         - {"Common", "Inherited"})
        # The scripts' names are ICU's (English, like "Cyrillic"), as ICU gives them.
        if len(scripts) > 1:
            raise InvalidIdentifier(
                _("A username must be written in one script; this one mixes %(scripts)s and "
                  "%(last)s characters, which can look alike. Use one alphabet.",
                  scripts=", ".join(scripts[:-1]), last=scripts[-1])
            )
        raise InvalidIdentifier(
            _("A username must be written in one script; this one mixes several scripts' "
              "characters, which can look alike. Use one alphabet.")
        )
    if failed:
        raise InvalidIdentifier(_("A username cannot mix digits of different number systems."))


def username_skeleton(name: str) -> str:
    """The Unicode TS #39 confusable skeleton of a normalized username: two usernames
    that could be mistaken for each other (``alice``, ``alıce``, ``a1ice``) have the same
    skeleton. Stored under a unique index; it is not a display form. Skeletons follow
    ICU's confusables data, which can change with a Unicode version."""
    return _spoof_checker().getSkeleton(0, name)


def classify(text: str, default_region: str) -> tuple[str, str]:
    """Read one "email, phone or username" login box.

    Returns ``(kind, value)`` with kind ``"email"``, ``"phone"`` or
    ``"username"``: text containing @ is an email; text of only phone
    characters (digits, spaces, + - ( ) ., optionally after ``tel:``) with
    at least 5 digits is a phone number (read with ``default_region``);
    anything else is a username. ``value`` is what the matching
    ``normalize_*`` function returns. For an email that is the normalized
    address with its case kept: callers apply ``email_match_key`` before
    looking it up. Raises ``InvalidIdentifier`` when the text is empty or
    the chosen kind refuses it.
    """
    stripped = text.strip()
    if not stripped:
        raise InvalidIdentifier(_("Enter your email address, phone number or username."))
    if "@" in stripped:
        return "email", normalize_email(stripped)
    if _looks_like_phone(stripped):
        return "phone", normalize_phone(stripped, default_region)
    return "username", normalize_username(stripped)
