"""The permanent customer ID: 60 random bits plus one check symbol.

Shape
-----
An ID is 13 symbols from Crockford's base32 alphabet
``0123456789ABCDEFGHJKMNPQRSTVWXYZ`` (no I, L, O or U, so it reads aloud and
copies by hand without ambiguity). The first 12 symbols are 60 bits from
``secrets.randbits(60)``, most significant first; the 13th is a check symbol
from the same alphabet. The stored (canonical) form is the 13 upper-case
symbols with no separators, e.g. ``7K3M9Q2PXW4DF``; people see it grouped
4-4-4-1, e.g. ``7K3M-9Q2P-XW4D-F``.

Crockford's own check symbol (value mod 37, with five extra symbols) is not
used: it needs symbols outside the alphabet. Ours stays inside the 32.

Why the check symbol catches every single typo and every adjacent swap
----------------------------------------------------------------------
Each symbol is read as its value ``d_i`` (0..31), an element of the finite
field GF(32) = GF(2^5) built with the primitive polynomial x^5 + x^2 + 1.
Position ``i`` (0..12, position 12 being the check symbol) gets the weight
``w_i = alpha**i`` with ``alpha = 2`` (the polynomial x). Because the
polynomial is primitive, alpha has order 31, so the 13 weights alpha^0 ..
alpha^12 are all distinct and none is zero. A valid ID satisfies

    w_0*d_0 + w_1*d_1 + ... + w_12*d_12 == 0        (in GF(32); + is XOR)

and the check symbol is the one value of ``d_12`` that makes this true.

* Single substitution: replacing ``a`` by ``b != a`` at position ``i``
  changes the sum by ``w_i*(a - b)``. A field has no zero divisors, and
  both factors are nonzero, so the sum becomes nonzero: caught. This holds
  for the check symbol too (its weight is nonzero like every other).
* Adjacent transposition: swapping ``a`` at ``i`` with ``b != a`` at ``j``
  changes the sum by ``w_i*a + w_j*b - w_i*b - w_j*a = (w_i - w_j)*(a - b)``.
  The weights are distinct, so ``w_i - w_j != 0``; again a product of two
  nonzero field elements is nonzero: caught. (The argument needs only
  distinct weights, so swaps of *any* two positions are caught as well,
  including a body symbol with the check symbol.)

Integer arithmetic mod 32 would not do this: 32 is not prime, so e.g.
weight 2 times a difference of 16 is 0 mod 32 and the typo slips through.
"""

import secrets

__all__ = ["InvalidCustomerId", "format_for_people", "generate", "is_valid", "parse"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 12  # 12 symbols x 5 bits = 60 random bits
LENGTH = BODY_LENGTH + 1  # plus the check symbol

# Longer input is refused before any work: no real ID, however it is spaced
# or hyphenated, comes near this, and it bounds the cost of hostile input.
MAX_INPUT_LENGTH = 64

_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}

# What a person may type for each symbol: lower case is fine, and the
# letters Crockford leaves out because they look like digits are read as
# those digits (I and L as 1, O as 0).
_LENIENT = {**_VALUE, **{s.lower(): v for s, v in _VALUE.items() if s.isalpha()}}
_LENIENT.update({c: _VALUE["1"] for c in "IiLl"} | {c: _VALUE["0"] for c in "Oo"})

# Separators people use or that word processors substitute for "-"
# (hyphen, non-breaking hyphen, figure dash, en dash, minus sign).
_DASHES = "-\u2010\u2011\u2012\u2013\u2212"

_POLY = 0b100101  # x^5 + x^2 + 1, primitive over GF(2)
_ORDER = 31  # multiplicative order of alpha = 2 in GF(32)


class InvalidCustomerId(ValueError):
    """Text is not a customer ID; the message is fit to show to a person."""


def _gf_mul(a: int, b: int) -> int:
    """Multiply two GF(32) elements (5-bit ints): shift-and-add, reducing
    by x^5 + x^2 + 1 whenever the product reaches degree 5."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLY
    return product


def _alpha_pow(n: int) -> int:
    """alpha**n in GF(32), for any integer n (alpha**31 == 1)."""
    result = 1
    for _ in range(n % _ORDER):
        result = _gf_mul(result, 2)
    return result


_WEIGHTS = tuple(_alpha_pow(i) for i in range(LENGTH))
# Solving w_12 * check == body_sum needs 1 / w_12 = alpha**(31 - 12).
_CHECK_WEIGHT_INVERSE = _alpha_pow(-(LENGTH - 1))


def _weighted_sum(values: list[int]) -> int:
    """sum(w_i * d_i) over GF(32), where addition is XOR. Takes the 12 body
    values (to compute a check symbol) or all 13 (to verify one)."""
    total = 0
    for weight, value in zip(_WEIGHTS[: len(values)], values, strict=True):
        total ^= _gf_mul(weight, value)
    return total


def _from_int(n: int) -> str:
    """Canonical ID for the 60-bit number ``n``: 12 body symbols, most
    significant first, then the check symbol."""
    if not 0 <= n < 1 << (5 * BODY_LENGTH):
        raise ValueError(f"customer ID body must be a 60-bit number, got {n}")
    body = [(n >> (5 * shift)) & 31 for shift in reversed(range(BODY_LENGTH))]
    # In characteristic 2, minus is plus: w_12 * check == sum of the body terms.
    check = _gf_mul(_weighted_sum(body), _CHECK_WEIGHT_INVERSE)
    return "".join(ALPHABET[v] for v in body) + ALPHABET[check]


def generate() -> str:
    """Return a new random customer ID in canonical form (13 symbols).

    Uses ``secrets.randbits(60)``; uniqueness against existing IDs is the
    caller's job (a unique constraint and a retry), collisions being rare.

    An ID always contains a digit: all-letter draws (about 1 in 90) are drawn again,
    so no customer ID can ever be mistaken for a word or a username. This costs less
    than 0.02 bits of the 60.
    """
    while True:
        customer_id = _from_int(secrets.randbits(5 * BODY_LENGTH))
        if any(symbol.isdigit() for symbol in customer_id):
            return customer_id


def format_for_people(customer_id: str) -> str:
    """Group an ID 4-4-4-1 for display: ``7K3M9Q2PXW4DF`` -> ``7K3M-9Q2P-XW4D-F``.

    The input is parsed first, so anything ``parse`` accepts works and an
    invalid ID raises ``InvalidCustomerId`` instead of being shown.
    """
    canonical = parse(customer_id)
    return "-".join((canonical[0:4], canonical[4:8], canonical[8:12], canonical[12:]))


def parse(text: str) -> str:
    """Read an ID as a person typed it and return the canonical form.

    Lenient about presentation: whitespace and hyphens anywhere are dropped,
    lower case is accepted, I and L are read as 1 and O as 0. Strict about
    content: raises ``InvalidCustomerId`` (with a message for people) when
    the text is empty, has the wrong number of symbols, contains a character
    the alphabet lacks, or fails the check symbol.
    """
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidCustomerId(
            f"That is too long to be a customer ID (at most {MAX_INPUT_LENGTH} characters)."
        )
    compact = "".join(ch for ch in text if not ch.isspace() and ch not in _DASHES)
    if not compact:
        raise InvalidCustomerId("Enter a customer ID, for example 7K3M-9Q2P-XW4D-F.")
    values = []
    for ch in compact:
        value = _LENIENT.get(ch)
        if value is None:
            if ch in "Uu":
                raise InvalidCustomerId(
                    "Customer IDs never contain the letter U; check the ID and try again."
                )
            raise InvalidCustomerId(
                f"{ch!r} cannot appear in a customer ID: it uses only the digits 0-9 "
                "and the letters A-Z except I, L, O and U."
            )
        values.append(value)
    if len(values) != LENGTH:
        raise InvalidCustomerId(
            f"A customer ID has {LENGTH} characters (like 7K3M-9Q2P-XW4D-F); "
            f"this has {len(values)}."
        )
    if _weighted_sum(values) != 0:
        raise InvalidCustomerId(
            "The check symbol does not match: the ID is mistyped. "
            "Check each character and try again."
        )
    return "".join(ALPHABET[v] for v in values)


def is_valid(text: str) -> bool:
    """True when ``parse`` would accept ``text``; False otherwise (also for non-strings)."""
    if not isinstance(text, str):
        return False
    try:
        parse(text)
    except InvalidCustomerId:
        return False
    return True
