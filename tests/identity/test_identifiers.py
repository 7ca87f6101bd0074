"""Identifier normalisation: hand-written tables from the rules, plus properties.

Every phone number in the "good" tables was checked with phonenumbers'
is_valid_number. Note +44 7700 900xxx (Ofcom's drama range) is NOT valid
there, so it sits in the "bad" table.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.identity.identifiers import (
    InvalidIdentifier,
    classify,
    email_match_key,
    normalize_email,
    normalize_phone,
    normalize_username,
    username_skeleton,
)

# ---------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("  Alice@BÜCHER.example ", "Alice@xn--bcher-kva.example"),
        ("alice@example.com", "alice@example.com"),
        ("Alice.Smith+news@Example.COM", "Alice.Smith+news@example.com"),
        ("\talice@EXAMPLE.co.uk\n", "alice@example.co.uk"),
        ("\u00a0bob@example.org\u00a0", "bob@example.org"),  # no-break spaces trimmed
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("hans@München.de", "hans@xn--mnchen-3ya.de"),
        ("fritz@straße.de", "fritz@xn--strae-oqa.de"),  # non-transitional: ß kept
        ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"),
        ("bob@ＥＸＡＭＰＬＥ.com", "bob@example.com"),  # full-width letters mapped
        ("bob@example。com", "bob@example.com"),  # ideographic full stop
        ("jose\u0301@example.com", "jos\u00e9@example.com"),  # NFC
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
    ],
)
def test_normalize_email(typed: str, expected: str) -> None:
    assert normalize_email(typed) == expected
    assert normalize_email(expected) == expected


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("", "Enter an email address"),
        ("   ", "Enter an email address"),
        ("alice", "needs an @ sign"),
        ("alice.example.com", "needs an @ sign"),
        ("a@b@example.com", "exactly one @ sign"),
        ("@example.com", "Put the name before the @ sign"),
        ("alice@", "Put the domain after the @ sign"),
        ("al ice@example.com", "cannot contain spaces or invisible characters"),
        ("Alice <alice@example.com>", "cannot contain spaces"),
        ("ali\u200bce@example.com", "invisible characters"),
        ("ali\x00ce@example.com", "invisible characters"),
        ("<alice@example.com", "cannot contain “<”"),
        ("alice,bob@example.com", "cannot contain “,”"),
        ('"alice"@example.com', 'cannot contain “"”'),
        ("a" * 65 + "@example.com", "before the @ sign is too long"),
        ("é" * 33 + "@example.com", "before the @ sign is too long"),  # 66 octets
        ("alice@localhost", "needs a dot"),
        ("alice@example.com.", "cannot start or end with a dot"),
        ("alice@.example.com", "not a valid domain name"),
        ("alice@exa..mple.com", "not a valid domain name"),
        ("alice@exa_mple.com", "not a valid domain name"),
        ("alice@-example.com", "not a valid domain name"),
        ("alice@[192.0.2.1]", "not a valid domain name"),
        ("alice@exam ple.com", "not a valid domain name"),
        ("alice@" + "b" * 64 + ".com", "not a valid domain name"),  # label over 63
        ("alice@192.0.2.1", "not an IP address"),
        # 227 characters as typed, 267 once the domain is IDNA-encoded:
        ("a" * 60 + "@" + ("üöäß" * 10 + ".") * 4 + "de", "at most 254 characters"),
        ("a" * 255, "at most 254 characters"),
    ],
)
def test_normalize_email_refuses(typed: str, fragment: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_email(typed)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Alice@Example.com", "alice@example.com"),
        ("ALICE@BÜCHER.example", "alice@bücher.example"),
        ("STRAßE@example.com", "straße@example.com"),
        ("ÉLODIE@example.fr", "e\u0301lodie@example.fr"),  # NFC, then lower case
    ],
)
def test_email_match_key_ignores_case(one: str, other: str) -> None:
    assert email_match_key(normalize_email(one)) == email_match_key(normalize_email(other))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Straße@example.com", "strasse@example.com"),  # casefold would merge these
        ("oﬃce@example.com", "office@example.com"),  # so would NFKC
        ("ǅemal@example.com", "džemal@example.com"),  # titlecase digraph vs d + ž
        ("alice@example.com", "аlice@example.com"),  # Cyrillic а: another mailbox
    ],
)
def test_email_match_key_keeps_different_mailboxes_apart(one: str, other: str) -> None:
    assert email_match_key(normalize_email(one)) != email_match_key(normalize_email(other))


def test_email_match_key_value() -> None:
    assert email_match_key("Alice@xn--bcher-kva.example") == "alice@xn--bcher-kva.example"


def test_email_keeps_local_part_case() -> None:
    assert normalize_email("Alice@example.com") != normalize_email("alice@example.com")


@given(st.text(max_size=80))
def test_normalize_email_is_idempotent(text: str) -> None:
    try:
        once = normalize_email(text)
    except InvalidIdentifier:
        return
    assert normalize_email(once) == once


# ---------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("typed", "region", "expected"),
    [
        ("(202) 555-0143", "US", "+12025550143"),
        ("202.555.0143", "US", "+12025550143"),
        ("+1 202-555-0143", "GB", "+12025550143"),
        ("tel:+1-202-555-0143", "GB", "+12025550143"),
        ("+1.202.555.0143", "ZZ", "+12025550143"),
        ("２０２ ５５５ ０１４３", "US", "+12025550143"),  # full-width digits
        ("+44 7911 123456", "US", "+447911123456"),
        ("07911 123456", "GB", "+447911123456"),
        ("0044 7911 123456", "GB", "+447911123456"),
        ("011 44 7911 123456", "US", "+447911123456"),
        ("  +44 (0)20 7946 0958  ", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),
        ("+49 30 901820", "US", "+4930901820"),
        ("+61 491 570 156", "GB", "+61491570156"),
    ],
)
def test_normalize_phone(typed: str, region: str, expected: str) -> None:
    assert normalize_phone(typed, region) == expected
    assert normalize_phone(expected, "ZZ") == expected


@pytest.mark.parametrize(
    ("typed", "region", "fragment"),
    [
        ("", "US", "Enter a phone number"),
        ("   ", "US", "Enter a phone number"),
        ("hello", "US", "does not look like a phone number"),
        ("+", "US", "does not look like a phone number"),
        ("12345", "US", "not a valid phone number"),
        ("+44 7700 900123", "GB", "not a valid phone number"),
        ("0044 7911 123456", "US", "not a valid phone number"),  # 00 is not a US exit code
        ("202 555 0143", "ZZ", "could not tell which country"),
        ("+999 123 4567", "US", "could not tell which country"),
        ("+1 202 555 0143 ext. 12", "US", "without an extension"),
        ("tel:+1-202-555-0143;ext=7", "US", "without an extension"),
        ("1" * 65, "US", "too long"),
        ("+1 202 555 0143" + " " * 50, "US", "too long"),
    ],
)
def test_normalize_phone_refuses(typed: str, region: str, fragment: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_phone(typed, region)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("region", ["XX", "us", ""])
def test_unknown_default_region_is_a_programming_error(region: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize_phone("+12025550143", region)
    assert not isinstance(caught.value, InvalidIdentifier)


# ---------------------------------------------------------------- username


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Alice", "alice"),
        ("  Bob_Smith-99.x  ", "bob_smith-99.x"),
        ("ＡＬＩＣＥ", "alice"),  # full-width, NFKC
        ("ﬁsh", "fish"),  # ligature, NFKC
        ("Straße", "strasse"),  # casefold
        ("ΣΊΣΥΦΟΣ", "σίσυφοσ"),
        ("Müller", "müller"),
        ("田中太郎", "田中太郎"),
        ("abc", "abc"),
        ("a" * 64, "a" * 64),
        ("agent007", "agent007"),
        ("007agent", "007agent"),
        ("1234a", "1234a"),
        ("a-1-2-3-4-5", "a-1-2-3-4-5"),
        ("...", "..."),
    ],
)
def test_normalize_username(typed: str, expected: str) -> None:
    assert normalize_username(typed) == expected
    assert normalize_username(expected) == expected


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("", "Choose a username"),
        ("   ", "Choose a username"),
        ("ab", "at least 3 characters"),
        ("  ab  ", "at least 3 characters"),
        ("a" * 65, "at most 64 characters"),
        ("a" * 300, "at most 64 characters"),
        ("alice@example", "cannot contain @"),
        ("alice＠example", "cannot contain @"),  # full-width @ becomes @ under NFKC
        ("+alice", "cannot start with +"),
        ("al ice", "cannot contain spaces"),
        ("al\u200bice", "invisible character (U+200B)"),
        ("alice!", "cannot contain “!”"),
        ("a/b/c", "cannot contain “/”"),
        ("123", "just digits"),
        ("12345", "just digits"),
        ("١٢٣٤٥", "just digits"),  # Arabic-Indic digits
        ("аlice", "mixes Cyrillic and Latin"),  # Cyrillic а
        ("ivan_иван", "mixes Cyrillic and Latin"),
        ("pαypal", "mixes Greek and Latin"),
        ("agent٠٠7", "one script"),  # Arabic-Indic digits among Latin
        ("202-555-0143", "look like a phone number"),
        ("1.2.3.4.5", "look like a phone number"),
    ],
)
def test_normalize_username_refuses(typed: str, fragment: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalize_username(typed)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "alıce"),  # dotless ı
        ("alice", "a1ice"),
        ("rnoney", "money"),
    ],
)
def test_confusable_usernames_share_a_skeleton(one: str, other: str) -> None:
    first, second = normalize_username(one), normalize_username(other)
    assert first != second
    assert username_skeleton(first) == username_skeleton(second)


@pytest.mark.parametrize(("one", "other"), [("alice", "alicia"), ("bob", "bobby"),
                                            ("田中太郎", "田中次郎")])
def test_distinct_usernames_have_distinct_skeletons(one: str, other: str) -> None:
    assert username_skeleton(normalize_username(one)) != \
        username_skeleton(normalize_username(other))


@given(st.text(max_size=70))
def test_normalize_username_is_idempotent(text: str) -> None:
    try:
        once = normalize_username(text)
    except InvalidIdentifier:
        return
    assert normalize_username(once) == once


@given(st.text(max_size=70))
def test_every_valid_username_is_classified_as_a_username(text: str) -> None:
    # Otherwise someone could register a username the login box cannot reach.
    try:
        name = normalize_username(text)
    except InvalidIdentifier:
        return
    assert classify(name, "US") == ("username", name)


# ---------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Alice@Example.com", ("email", "Alice@example.com")),
        ("  Alice@BÜCHER.example ", ("email", "Alice@xn--bcher-kva.example")),
        ("(202) 555-0143", ("phone", "+12025550143")),
        ("+44 7911 123456", ("phone", "+447911123456")),
        ("tel:+44 7911 123456", ("phone", "+447911123456")),
        ("TEL:+1.202.555.0143", ("phone", "+12025550143")),
        ("Alice", ("username", "alice")),
        ("agent007", ("username", "agent007")),
        ("  Bob_Smith  ", ("username", "bob_smith")),
    ],
)
def test_classify(typed: str, expected: tuple[str, str]) -> None:
    assert classify(typed, "US") == expected


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("", "Enter your email address, phone number or username"),
        ("  ", "Enter your email address, phone number or username"),
        ("alice@", "Put the domain after the @ sign"),
        ("12345", "not a valid phone number"),  # 5 digits: read as a phone
        ("1234", "just digits"),  # 4 digits: read as a username
        ("+1 (202)", "cannot start with +"),  # 4 digits: read as a username
        ("hello world", "cannot contain spaces"),
    ],
)
def test_classify_refuses(typed: str, fragment: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        classify(typed, "US")
    assert fragment in str(caught.value)


def test_invalid_identifier_is_a_value_error() -> None:
    assert issubclass(InvalidIdentifier, ValueError)
