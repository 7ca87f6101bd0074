"""Customer IDs: shape, round trips, and the check symbol's guarantees."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.identity import customer_ids
from app.identity.customer_ids import (
    InvalidCustomerId,
    format_for_people,
    generate,
    is_valid,
    parse,
)

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EXAMPLE = "7K3M9Q2PXW4DF"  # a valid ID, worked out from the rules once


def _number_of(body: str) -> int:
    """The integer a 12-symbol body spells, most significant symbol first."""
    n = 0
    for symbol in body:
        n = n * 32 + ALPHABET.index(symbol)
    return n


bodies = st.integers(min_value=0, max_value=(1 << 60) - 1)
ids = bodies.map(customer_ids._from_int)


def test_generate_gives_13_valid_symbols() -> None:
    for _ in range(200):
        new_id = generate()
        assert len(new_id) == 13
        assert set(new_id) <= set(ALPHABET)
        assert is_valid(new_id)
        assert parse(new_id) == new_id


def test_generate_uses_60_bits_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def fake_randbits(k: int) -> int:
        asked.append(k)
        return 0

    monkeypatch.setattr(customer_ids.secrets, "randbits", fake_randbits)
    assert generate() == "0000000000000"
    assert asked == [60]


def test_generate_draws_again_when_an_id_has_no_digit(monkeypatch: pytest.MonkeyPatch) -> None:
    """An all-letter ID could be read as a word or username, so it is never issued."""
    letters = [symbol for symbol in ALPHABET if symbol.isalpha()]
    all_letters = next(
        n for n in (
            sum(ALPHABET.index(letters[(i + shift) % len(letters)]) << (5 * i) for i in range(12))
            for shift in range(len(letters))
        )
        if customer_ids._from_int(n).isalpha()
    )
    draws = iter([all_letters, 0])
    monkeypatch.setattr(customer_ids.secrets, "randbits", lambda k: next(draws))
    assert generate() == "0000000000000"


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0000000000000"),
        # Body 0...01: only position 11 (weight alpha^11 = 7) is 1, so the
        # check c must satisfy alpha^12 * c == 7, i.e. c = alpha^-1 = 18 = "J".
        (1, "000000000001J"),
        (_number_of("7K3M9Q2PXW4D"), EXAMPLE),
    ],
)
def test_from_int_known_values(n: int, expected: str) -> None:
    assert customer_ids._from_int(n) == expected


@pytest.mark.parametrize("n", [-1, 1 << 60])
def test_from_int_refuses_numbers_outside_60_bits(n: int) -> None:
    with pytest.raises(ValueError):
        customer_ids._from_int(n)


def test_weights_are_13_distinct_nonzero_field_elements() -> None:
    weights = customer_ids._WEIGHTS
    assert len(weights) == 13
    assert 0 not in weights
    assert len(set(weights)) == 13


def test_gf_multiplication_has_no_zero_divisors() -> None:
    # The whole detection argument rests on this.
    for a in range(1, 32):
        assert sorted(customer_ids._gf_mul(a, b) for b in range(1, 32)) == list(range(1, 32))


@given(ids)
def test_round_trip_through_people_format(customer_id: str) -> None:
    shown = format_for_people(customer_id)
    assert parse(shown) == customer_id
    assert [len(group) for group in shown.split("-")] == [4, 4, 4, 1]


def test_round_trip_of_generated_ids() -> None:
    for _ in range(50):
        new_id = generate()
        assert parse(format_for_people(new_id)) == new_id


@given(bodies)
def test_body_encodes_the_number(n: int) -> None:
    customer_id = customer_ids._from_int(n)
    assert _number_of(customer_id[:12]) == n


@given(ids)
def test_every_single_substitution_is_rejected(customer_id: str) -> None:
    for position in range(13):
        for symbol in ALPHABET:
            if symbol == customer_id[position]:
                continue
            typo = customer_id[:position] + symbol + customer_id[position + 1 :]
            assert not is_valid(typo), typo


@given(ids)
def test_every_adjacent_transposition_is_rejected(customer_id: str) -> None:
    for position in range(12):  # 11/12 swaps the last body symbol with the check
        a, b = customer_id[position], customer_id[position + 1]
        if a == b:
            continue
        swapped = customer_id[:position] + b + a + customer_id[position + 2 :]
        with pytest.raises(InvalidCustomerId, match="check symbol does not match"):
            parse(swapped)


def test_transposition_with_check_symbol_is_rejected() -> None:
    # EXAMPLE ends "...DF": swapping D and F must fail.
    assert not is_valid(EXAMPLE[:11] + "FD")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7K3M9Q2PXW4DF", EXAMPLE),
        ("7k3m9q2pxw4df", EXAMPLE),
        ("7K3M-9Q2P-XW4D-F", EXAMPLE),
        ("  7K3M 9Q2P XW4D F  ", EXAMPLE),
        ("7k3m-9q2p\txw4d-f\n", EXAMPLE),
        ("7K3M\u20139Q2P\u2013XW4D\u2013F", EXAMPLE),  # en dashes from a word processor
        ("7-K-3-M-9-Q-2-P-X-W-4-D-F", EXAMPLE),
        ("0000000000000", "0000000000000"),
        ("OOOO-OOOO-OOOO-O", "0000000000000"),
        ("oooo oooo oooo o", "0000000000000"),
        ("000000000001J", "000000000001J"),
        ("00000000000IJ", "000000000001J"),
        ("00000000000lj", "000000000001J"),
        ("00000000000Lj", "000000000001J"),
        ("0O0o-0000-000i-j", "000000000001J"),
    ],
)
def test_lenient_parsing(typed: str, expected: str) -> None:
    assert parse(typed) == expected
    assert is_valid(typed)


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("", "Enter a customer ID"),
        ("   ", "Enter a customer ID"),
        ("- - -", "Enter a customer ID"),
        ("7K3M9Q2PXW4D", "has 13 characters"),
        ("7K3M", "has 13 characters"),
        ("7K3M9Q2PXW4DFF", "has 13 characters"),
        ("7K3M-9Q2P-XW4D-FF", "this has 14"),
        ("7K3M9Q2PXW4DU", "never contain the letter U"),
        ("u000000000000", "never contain the letter U"),
        ("7K3M_9Q2P_XW4D_F", "'_' cannot appear"),
        ("7K3M.9Q2P.XW4D.F", "'.' cannot appear"),
        ("7K3M9Q2PXW4D#", "'#' cannot appear"),
        ("7K3M9Q2PXW4DÉ", "'É' cannot appear"),
        ("７K3M9Q2PXW4DF", "cannot appear"),  # full-width digit
        ("7K3M9Q2PXW4DG", "check symbol does not match: the ID is mistyped"),
        ("8K3M9Q2PXW4DF", "check symbol does not match"),
        ("K73M9Q2PXW4DF", "check symbol does not match"),
        ("7" * 65, "too long"),
        (" " * 65, "too long"),
        ("-" * 100, "too long"),
    ],
)
def test_bad_input_is_refused(typed: str, fragment: str) -> None:
    with pytest.raises(InvalidCustomerId) as caught:
        parse(typed)
    assert fragment in str(caught.value)
    assert not is_valid(typed)


def test_64_characters_of_padding_are_still_read() -> None:
    padded = EXAMPLE.center(64)
    assert len(padded) == 64
    assert parse(padded) == EXAMPLE


def test_invalid_customer_id_is_a_value_error() -> None:
    assert issubclass(InvalidCustomerId, ValueError)


@pytest.mark.parametrize("value", [None, 12345, b"7K3M9Q2PXW4DF"])
def test_is_valid_is_false_for_non_strings(value: object) -> None:
    assert is_valid(value) is False  # type: ignore[arg-type]


def test_format_for_people() -> None:
    assert format_for_people(EXAMPLE) == "7K3M-9Q2P-XW4D-F"
    assert format_for_people("7k3m 9q2p xw4d f") == "7K3M-9Q2P-XW4D-F"


def test_format_for_people_refuses_invalid_ids() -> None:
    with pytest.raises(InvalidCustomerId):
        format_for_people("7K3M9Q2PXW4DG")
