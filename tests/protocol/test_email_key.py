"""email_key(): Unicode NFKC, then str.casefold(), on the cases where naive lower-casing errs.

Non-ASCII characters are spelled by name so that each test says exactly which code
point it feeds in.  The expected keys were worked out from the Unicode data:
NFKC folds compatibility forms (fullwidth letters, ligatures, the Kelvin sign...)
and composes combining sequences; casefold() then applies the full, locale-free
case folding (so no Turkish dotless-i rules, and final sigma folds to sigma).
"""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from userstore import email_key

DOTLESS_I = "\N{LATIN SMALL LETTER DOTLESS I}"  # U+0131
DOTTED_CAPITAL_I = "\N{LATIN CAPITAL LETTER I WITH DOT ABOVE}"  # U+0130
COMBINING_DOT = "\N{COMBINING DOT ABOVE}"  # U+0307
SHARP_S = "\N{LATIN SMALL LETTER SHARP S}"  # U+00DF
CAPITAL_SHARP_S = "\N{LATIN CAPITAL LETTER SHARP S}"  # U+1E9E
FINAL_SIGMA = "\N{GREEK SMALL LETTER FINAL SIGMA}"  # U+03C2
SMALL_SIGMA = "\N{GREEK SMALL LETTER SIGMA}"  # U+03C3
CAPITAL_SIGMA = "\N{GREEK CAPITAL LETTER SIGMA}"  # U+03A3
ACUTE = "\N{COMBINING ACUTE ACCENT}"  # U+0301
E_ACUTE = "\N{LATIN SMALL LETTER E WITH ACUTE}"  # U+00E9
CAPITAL_E_ACUTE = "\N{LATIN CAPITAL LETTER E WITH ACUTE}"  # U+00C9
FI = "\N{LATIN SMALL LIGATURE FI}"  # U+FB01
FFI = "\N{LATIN SMALL LIGATURE FFI}"  # U+FB03
KELVIN = "\N{KELVIN SIGN}"  # U+212A
ANGSTROM = "\N{ANGSTROM SIGN}"  # U+212B
A_RING = "\N{LATIN SMALL LETTER A WITH RING ABOVE}"  # U+00E5
NBSP = "\N{NO-BREAK SPACE}"  # U+00A0


def fullwidth(ascii_text: str) -> str:
    """Spell printable ASCII (but space) in its fullwidth forms, U+FF01..U+FF5E."""
    return "".join(chr(ord(ch) - 0x21 + 0xFF01) for ch in ascii_text)


@pytest.mark.parametrize(
    ("email", "key"),
    [
        # Turkish i: four distinct letters; only I and i meet, with no locale rules.
        (DOTLESS_I, DOTLESS_I),
        ("I", "i"),
        ("i", "i"),
        (DOTTED_CAPITAL_I, "i" + COMBINING_DOT),
        (f"{DOTTED_CAPITAL_I}stanbul@example.tr", f"i{COMBINING_DOT}stanbul@example.tr"),
        # German sharp s: the lower, the capital and SS all fold to "ss".
        (SHARP_S, "ss"),
        (CAPITAL_SHARP_S, "ss"),
        ("SS", "ss"),
        ("ss", "ss"),
        (f"Stra{SHARP_S}e@Beispiel.de", "strasse@beispiel.de"),
        (f"STRA{CAPITAL_SHARP_S}E@BEISPIEL.DE", "strasse@beispiel.de"),
        # Greek sigma: final, medial and capital are one letter.
        (FINAL_SIGMA, SMALL_SIGMA),
        (SMALL_SIGMA, SMALL_SIGMA),
        (CAPITAL_SIGMA, SMALL_SIGMA),
        (
            f"{CAPITAL_SIGMA}\N{GREEK CAPITAL LETTER OMICRON}{CAPITAL_SIGMA}",
            f"{SMALL_SIGMA}\N{GREEK SMALL LETTER OMICRON}{SMALL_SIGMA}",
        ),
        # Fullwidth forms are their ASCII letters.
        (fullwidth("ABC"), "abc"),
        (fullwidth("abc"), "abc"),
        (fullwidth("Alice@Example.COM"), "alice@example.com"),
        # Combining sequences compose; precomposed letters stay precomposed.
        ("e" + ACUTE, E_ACUTE),
        ("E" + ACUTE, E_ACUTE),
        (E_ACUTE, E_ACUTE),
        (CAPITAL_E_ACUTE, E_ACUTE),
        (f"re{ACUTE}sume{ACUTE}@example.com", f"r{E_ACUTE}sum{E_ACUTE}@example.com"),
        # Ligatures come apart.
        (FI, "fi"),
        (FFI, "ffi"),
        (f"{FI}nance@example.com", "finance@example.com"),
        # Letter-like symbols are their letters.
        (KELVIN, "k"),
        (f"{KELVIN}elvin@example.com", "kelvin@example.com"),
        (ANGSTROM, A_RING),
        # Compatibility spaces and digits.
        (f"a{NBSP}b@example.com", "a b@example.com"),
        ("\N{CIRCLED DIGIT ONE}@example.com", "1@example.com"),
        # Nothing else is touched: whitespace and punctuation stay as they are.
        ("  Pad@Example.com ", "  pad@example.com "),
        ("first.last+tag@example.com", "first.last+tag@example.com"),
        ("", ""),
    ],
)
def test_key(email: str, key: str) -> None:
    assert email_key(email) == key


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (DOTLESS_I, "i"),
        (DOTLESS_I, "I"),
        (DOTTED_CAPITAL_I, "i"),
        (DOTTED_CAPITAL_I, "I"),
        (DOTLESS_I, DOTTED_CAPITAL_I),
        ("e", E_ACUTE),
        (ACUTE, ""),
        ("pad@example.com", "pad@example.com "),
        ("a b@example.com", "ab@example.com"),
    ],
)
def test_different_keys(first: str, second: str) -> None:
    assert email_key(first) != email_key(second)


def test_key_differs_from_lower() -> None:
    # Where str.lower() would give another answer than the key, the key wins.
    assert SHARP_S.lower() == SHARP_S
    assert email_key(SHARP_S) == "ss"
    assert fullwidth("A").lower() == fullwidth("a")
    assert email_key(fullwidth("A")) == "a"
    assert FINAL_SIGMA.lower() == FINAL_SIGMA
    assert email_key(FINAL_SIGMA) == SMALL_SIGMA


def test_key_length_can_grow() -> None:
    # NFKC may expand one character into many: the basis of EMAIL_KEY_MAX_LENGTH.
    ligature = "\N{ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM}"  # U+FDFA
    assert len(email_key(ligature)) == 18
    assert len(email_key(SHARP_S * 10)) == 20


def test_key_is_nfkc_then_casefold() -> None:
    for text in [DOTTED_CAPITAL_I, FI, KELVIN, f"Stra{SHARP_S}e", fullwidth("MiXeD")]:
        assert email_key(text) == unicodedata.normalize("NFKC", text).casefold()


@pytest.mark.parametrize(
    "email",
    [
        DOTLESS_I,
        DOTTED_CAPITAL_I,
        CAPITAL_SHARP_S,
        FINAL_SIGMA,
        fullwidth("ABC"),
        "e" + ACUTE,
        FI,
        KELVIN,
        ANGSTROM,
        f"{DOTTED_CAPITAL_I}{ACUTE}{FINAL_SIGMA}{FI}@Example.com",
        "\N{LATIN SMALL LETTER J WITH CARON}",  # casefold decomposes it; NFKC recomposes it
    ],
)
def test_key_of_a_key_is_itself(email: str) -> None:
    key = email_key(email)
    assert email_key(key) == key


@given(st.text())
def test_key_is_idempotent(text: str) -> None:
    key = email_key(text)
    assert email_key(key) == key
