"""Adversarial input values for the differential test, as hypothesis strategies.

Each pool mixes values every adapter must accept (and then compare, store and
return identically) with values docs/contract.md section 7 makes them refuse: one
past a length limit, control characters (NUL included), empty strings, wrong
Python types.  Pools are small on purpose, so that random sequences hit the
same key twice (duplicate emails by their key, duplicate links, duplicate
tokens) instead of never colliding.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from hypothesis import strategies as st


def weighted(
    usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], weight: int
) -> st.SearchStrategy[Any]:
    """Draw from ``usual`` ``weight`` times as often as from ``rare``."""
    return st.sampled_from([True] * weight + [False]).flatmap(lambda u: usual if u else rare)


def mostly(
    valid: list[object], invalid: list[object], weight: int = 6
) -> st.SearchStrategy[object]:
    """One of ``valid`` ``weight`` times as often as one of ``invalid``."""
    return weighted(st.sampled_from(valid), st.sampled_from(invalid), weight)


# -- strings ---------------------------------------------------------------------------

LOCAL_PARTS = [
    "alice",
    "ALICE",
    "Alice",
    " alice",  # surrounding whitespace is stored and compared as given
    "alice ",
    "ali ce",  # inner whitespace
    "ali\u00a0ce",  # no-break space: NFKC makes it a space
    "stra\u00dfe",  # 'ß' casefolds to 'ss'
    "STRASSE",
    "\ufb01le",  # 'ﬁ' ligature: NFKC gives 'fi'
    "file",
    "\u0131d",  # Turkish dotless i
    "Id",
    "\u0130d",  # Turkish capital I with dot above: casefolds to 'i̇'
    "\u03c3\u03bf\u03c6\u03bf\u03c2",  # Greek final sigma
    "\u03a3\u039f\u03a6\u039f\u03a3",
    "\u00c9t\u00e9",  # precomposed accents
    "E\u0301te\u0301",  # combining accents: the same key after NFKC
    "\uff41lice",  # fullwidth 'a'
    "a\u200db",  # zero-width joiner (format, not control)
]
BAD_LOCAL_PARTS = [
    "tab\tbed",  # control character: refused in email
    "nul\x00",  # NUL: refused everywhere
    "del\x7f",  # DEL is a control character too
    "nel\x85",  # C1 control (NEXT LINE)
]
DOMAINS = ["@x.io", "@X.IO", "@\uff58.io", "@b\u00fccher.de"]


def _sized(length: int, domain: str = "@x.io") -> str:
    return "e" * (length - len(domain)) + domain


EDGE_EMAILS = [
    "",  # empty: refused
    "@",
    _sized(320),  # at the limit
    _sized(320, "@X.IO"),  # the same key
    _sized(321),  # one past
    "\ufdfa" * 36 + "@x.io",  # 41 characters whose NFKC key is over 640
    "\ufdfa" * 30 + "@x.io",  # a key under the limit
    "\ud800@x.io",  # lone surrogate
]
WRONG_TYPES: list[object] = [None, 5, True, b"alice@x.io", ["a"], 1.5]


def emails() -> st.SearchStrategy[object]:
    """Emails: case, Unicode and whitespace variants of a few addresses, edges, wrong types."""
    locals_ = mostly(LOCAL_PARTS, BAD_LOCAL_PARTS, 8)
    built = st.builds(lambda a, b: f"{a}{b}", locals_, st.sampled_from(DOMAINS))
    odd = st.one_of(st.sampled_from(EDGE_EMAILS), st.sampled_from(WRONG_TYPES))
    return weighted(built, odd, 8)


def passwords() -> st.SearchStrategy[object]:
    """hashed_password: ordinary, at and past 1024, control characters, wrong types."""
    return mostly(
        [
            "$argon2id$hash",
            "$argon2id$hash",
            "",
            " padded ",
            "x" * 1024,
            "\u00df" * 1024,  # 1024 characters, 2048 bytes in UTF-8
            "ctl\x01",  # allowed: only NUL is refused in a password
        ],
        ["x" * 1025, "nul\x00", None, 42],
    )


def oauth_names() -> st.SearchStrategy[object]:
    """oauth_name: compared exactly; limit 100; no control characters."""
    return mostly(
        [
            "google",
            "google",
            "Google",
            "google ",
            " google",
            "goo gle",
            "\u0261oogle",  # Latin small script g
            "\ufb01le",
            "file",
            "g" * 100,
        ],
        ["g" * 101, "", "goo\x00gle", "goo\tgle", None, 7],
    )


def account_ids() -> st.SearchStrategy[object]:
    """account_id: compared exactly; limit 320; no control characters."""
    return mostly(
        ["1", "1", "01", " 1", "1 ", "a", "A", "\u0131", "I", "\u00e9", "e\u0301", "n" * 320],
        ["n" * 321, "", "1\x1f", 1],
    )


def account_emails() -> st.SearchStrategy[object]:
    """account_email: limit 320; no control characters; may be empty."""
    return mostly(
        ["a@x.io", "A@X.IO", "", " a@x.io ", _sized(320)], [_sized(321), "a\x00@x.io", None]
    )


def provider_tokens() -> st.SearchStrategy[object]:
    """access_token: no length limit (real ones pass 1024 characters)."""
    return mostly(["ya29.token", "", "t" * 2000, "\u00e9" * 1100, "ctl\x01"], ["nul\x00", 3])


def refresh_tokens() -> st.SearchStrategy[object]:
    """refresh_token: optional, unbounded."""
    return mostly([None, "1//refresh", "r" * 1500], ["nul\x00", 3])


def expires_ats() -> st.SearchStrategy[object]:
    """expires_at: epoch seconds or None, 64-bit."""
    return mostly([None, 0, -1, 1_700_000_000, 2**31, 2**63 - 1, -(2**63)], [2**63, True, 1.5])


def tokens() -> st.SearchStrategy[object]:
    """Access-token values: the limit is 43; only NUL among control characters is refused."""
    return mostly(
        ["tok", "tok", "TOK", "tok ", " tok", "t\u00f6k", "to\u0308k", "tok\x01", "k" * 43],
        ["tok\x00", "k" * 44, "", None, 43],
    )


def flags() -> st.SearchStrategy[object]:
    """Values for is_active / is_superuser / is_verified: bools, and near misses."""
    return mostly([True, False], [1, 0, "true", None], 3)


# -- datetimes -------------------------------------------------------------------------

T0 = dt.datetime(2021, 6, 15, 12, 0, 0, tzinfo=dt.UTC)
"""The instant every generated datetime is near, far from the wall clock."""

ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=5, minutes=30)),
    dt.timezone(dt.timedelta(hours=-8)),
    dt.timezone(dt.timedelta(hours=14)),
]
OFFSETS_US = [-1_000_001, -1, 0, 1, 999_999, 1_000_000, 3_600_000_000]


def aware_datetimes() -> st.SearchStrategy[dt.datetime]:
    """Instants a microsecond or more around T0, in UTC and in other offsets."""
    return st.builds(
        lambda us, zone: (T0 + dt.timedelta(microseconds=us)).astimezone(zone),
        st.sampled_from(OFFSETS_US),
        st.sampled_from(ZONES),
    )


def datetimes() -> st.SearchStrategy[object]:
    """Aware datetimes near T0, naive ones (refused), range edges and wrong types."""
    naive = aware_datetimes().map(lambda d: d.astimezone(dt.UTC).replace(tzinfo=None))
    edges = st.sampled_from(
        [
            dt.datetime(1, 1, 1, tzinfo=dt.UTC),
            dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
            dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
            T0.date(),
            "2021-06-15T12:00:00+00:00",
            T0.timestamp(),
        ]
    )
    return weighted(aware_datetimes(), st.one_of(naive, edges), 6)


# -- ids -------------------------------------------------------------------------------

FIXED_UUIDS = [
    uuid.UUID(int=1),
    uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"),
    uuid.UUID("01890000-0000-7000-8000-000000000000"),
]
"""UUIDs a create dict may name, so two creates can collide on the id."""
