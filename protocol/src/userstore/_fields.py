"""Field rules: how create and update dicts are checked before any SQL runs.

Every adapter validates input through a :class:`Schema` built from the rules here,
so the same bad input gives the same :class:`~userstore.InvalidUserData` (same
field, same reason) on every backend, and nothing is written.  Lookups go through
the ``lookup_*`` helpers, which answer ``None`` for a value that could never have
been stored instead of raising.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import math
import re
import types
import typing
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ._errors import InvalidUserData

__all__ = [
    "ACCESS_TOKEN_FIELDS",
    "EMAIL_KEY_MAX_LENGTH",
    "OAUTH_ACCOUNT_FIELDS",
    "FieldRule",
    "IdType",
    "Schema",
    "check_aware_datetime",
    "coerce_id",
    "email_key",
    "id_rule",
    "lookup_email_key",
    "lookup_string",
    "token_digest",
    "user_fields",
]

IdType = Literal["uuid", "int"]
"""The two id kinds the contract knows: client-generated UUIDs and autoincrement integers."""

EMAIL_KEY_MAX_LENGTH = 640
"""Longest email key (after NFKC and casefold) an adapter must be able to index.

NFKC can expand a character into many (U+FDFA becomes 18), so a 320-character
email may have a longer key; one longer than this is refused as invalid.
"""

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)


def email_key(email: str) -> str:
    """Return the comparison key of an email: Unicode NFKC normalisation, then casefold.

    Two emails are the same user exactly when their keys are equal.  The key is
    computed in Python, never by the database, so every backend agrees on it
    (``"Straße@x.de"`` and ``"STRASSE@X.DE"`` share a key; so do fullwidth and
    ASCII letters, and precomposed and combining accents).
    """
    return unicodedata.normalize("NFKC", email).casefold()


# Unicode's control characters (general category Cc, fixed by its stability policy)
# and the surrogate code points, each found in one regex scan of the value
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def _has_surrogate(value: str) -> bool:
    return _SURROGATE.search(value) is not None


def _is_instance(value: Any, types: tuple[type[Any], ...]) -> bool:
    # isinstance() refuses parameterised generics (dict[str, Any]...); those are
    # checked by _conforms.
    try:
        return isinstance(value, types)
    except TypeError:
        return False


def _conforms(value: Any, kind: Any) -> bool:
    """Whether ``value`` is of ``kind``, a parameterised type too, items included; no coercion.

    ``list[str]`` takes a list of str only, ``dict[str, int]`` a dict of str to int
    (``bool`` never counts as ``int``), ``X | None`` either; the origin of any other
    generic is checked with ``isinstance`` alone.
    """
    if kind is Any or kind is object:
        return True
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin is None:
        if isinstance(value, bool) and kind is not bool:
            return False
        return isinstance(kind, type) and isinstance(value, kind)
    if origin is typing.Union or origin is types.UnionType:
        return any(_conforms(value, arg) for arg in args)
    if origin is Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if not isinstance(origin, type) or not isinstance(value, origin):
        return False
    if isinstance(value, Mapping):
        if len(args) != 2:
            return True
        return all(_conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items())
    if isinstance(value, tuple) and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(item, args[0]) for item in value)
        return len(value) == len(args) and all(map(_conforms, value, args))
    if isinstance(value, (list, set, frozenset)) and len(args) == 1:
        return all(_conforms(item, args[0]) for item in value)
    return True


@dataclasses.dataclass(frozen=True)
class FieldRule:
    """What one field accepts.

    ``types`` are the accepted Python types (``bool`` never counts as ``int``);
    ``object`` accepts any value.  Strings never accept NUL or lone surrogates (no
    backend stores both the same way), whatever the types; ``no_control`` refuses
    every control character.  Datetimes must be timezone-aware.  A ``json`` field
    holds a JSON document: every string in it (keys included) follows the string
    rules and every float is finite; the other values are left to the serializer.
    ``required`` fields must be present on create; fields that are not
    ``writable`` are refused in create and update dicts alike.
    """

    name: str
    types: tuple[type[Any], ...]
    nullable: bool = False
    required: bool = False
    writable: bool = True
    max_length: int | None = None
    no_control: bool = False
    non_empty: bool = False
    int_range: tuple[int, int] | None = None
    json: bool = False

    def check(self, value: Any) -> Any:
        """Return ``value`` (normalised: str subclasses to str, datetimes to UTC) or raise.

        Raises :class:`InvalidUserData` naming this field and the reason.
        """
        if value is None:
            if self.nullable:
                return None
            raise InvalidUserData(self.name, "must not be None")
        if self.json:
            self._check_json(value)
            return value
        if isinstance(value, bool):
            if bool not in self.types and object not in self.types:
                raise InvalidUserData(self.name, f"expected {self._type_names()}, got bool")
            return value
        if isinstance(value, str) and str in self.types:
            return self._check_str(str(value))
        if isinstance(value, int) and int in self.types:
            return self._check_int(value)
        if isinstance(value, dt.datetime) and dt.datetime in self.types:
            return check_aware_datetime(self.name, value)
        if isinstance(value, float) and float in self.types:
            if not math.isfinite(value):
                raise InvalidUserData(self.name, "must be a finite number")
            return value
        if _is_instance(value, self.types) and not isinstance(value, (str, int, dt.datetime)):
            return value
        if object in self.types:  # a type nothing is known of: its strings are still strings
            if isinstance(value, str):
                self._check_str(value)
            return value
        if any(typing.get_origin(t) is not None and _conforms(value, t) for t in self.types):
            return value
        raise InvalidUserData(
            self.name, f"expected {self._type_names()}, got {type(value).__name__}"
        )

    def _type_names(self) -> str:
        names = [t.__name__ if isinstance(t, type) else str(t) for t in self.types]
        if self.nullable:
            names.append("None")
        return " or ".join(names)

    def _check_str(self, value: str) -> str:
        if self.non_empty and not value:
            raise InvalidUserData(self.name, "must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidUserData(self.name, f"longer than {self.max_length} characters")
        self._check_str_content(value)
        return value

    def _check_json(self, document: Any) -> None:
        pending = [document]
        while pending:
            value = pending.pop()
            if isinstance(value, str):
                self._check_str_content(value)
            elif isinstance(value, float) and not math.isfinite(value):
                raise InvalidUserData(self.name, "must hold finite numbers only")
            elif isinstance(value, Mapping):
                pending.extend(value.keys())
                pending.extend(value.values())
            elif isinstance(value, (list, tuple)):
                pending.extend(value)

    def _check_str_content(self, value: str) -> None:
        if "\x00" in value:
            raise InvalidUserData(self.name, "contains a NUL character")
        if self.no_control and _has_control(value):
            raise InvalidUserData(self.name, "contains a control character")
        if _has_surrogate(value):
            raise InvalidUserData(self.name, "contains a lone surrogate (not valid Unicode)")

    def _check_int(self, value: int) -> int:
        low, high = self.int_range or INT64
        if not low <= value <= high:
            raise InvalidUserData(self.name, f"outside the range {low}..{high}")
        return int(value)


def check_aware_datetime(field: str, value: Any) -> dt.datetime:
    """Return ``value`` converted to UTC, or raise :class:`InvalidUserData`.

    Naive datetimes and non-datetimes are refused: a naive value would mean
    something different on each backend.
    """
    if not isinstance(value, dt.datetime):
        raise InvalidUserData(field, f"expected datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidUserData(field, "naive datetime refused; give a timezone-aware one")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidUserData(field, "outside the representable UTC range") from None


def id_rule(id_type: IdType, *, int_range: tuple[int, int] = INT64) -> FieldRule:
    """Return the rule for an ``id`` field of the given kind (never required: ids are generated).

    A UUID may be given on create.  An integer id may not: each backend's
    autoincrement reacts differently to one (PostgreSQL's sequence does not move
    past it, MySQL stores the next value for 0), so the database always picks it.
    """
    if id_type == "uuid":
        return FieldRule("id", (uuid.UUID,))
    return FieldRule("id", (int,), int_range=int_range, writable=False)


def coerce_id(value: Any, id_type: IdType, *, int_range: tuple[int, int] = INT64) -> Any:
    """Return ``value`` if it is a valid id of ``id_type``, else ``None``.

    UUID ids are ``uuid.UUID`` instances or strings ``uuid.UUID()`` parses (ids
    travel as text in URLs; the result is always a ``uuid.UUID``).  Integer ids are
    ``int`` (never ``bool``) within ``int_range``.  Anything else could never have
    been stored, so a lookup answers ``None`` without asking the database.
    """
    if id_type == "uuid":
        if isinstance(value, uuid.UUID):
            return value
        if isinstance(value, str) and len(value) <= 45:
            try:
                return uuid.UUID(value)
            except ValueError:
                return None
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = int_range
        return int(value) if low <= value <= high else None
    return None


@dataclasses.dataclass(frozen=True)
class Schema:
    """The field rules of one object kind (user, OAuth account or access token)."""

    kind: str
    rules: Mapping[str, FieldRule]

    def with_rules(self, extra: Iterable[FieldRule]) -> Schema:
        """Return a schema with ``extra`` rules added or replacing rules of the same name."""
        rules = dict(self.rules)
        rules.update((r.name, r) for r in extra)
        return Schema(self.kind, rules)

    def validate_create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Check a create dict; return a normalised copy or raise :class:`InvalidUserData`."""
        clean = self._validate(data)
        for name, rule in self.rules.items():
            if rule.required and name not in clean:
                raise InvalidUserData(name, "is required")
        if self.kind == "user" and "email" in clean:
            self._check_email_key(clean["email"])
        return clean

    def validate_update(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Check an update dict; return a normalised copy or raise :class:`InvalidUserData`."""
        clean = self._validate(data)
        if self.kind == "user" and "email" in clean:
            self._check_email_key(clean["email"])
        return clean

    def _validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise InvalidUserData(self.kind, f"expected a dict, got {type(data).__name__}")
        clean: dict[str, Any] = {}
        for key, value in data.items():
            rule = self.rules.get(key) if isinstance(key, str) else None
            if rule is None:
                raise InvalidUserData(str(key), f"not a field of the {self.kind} model")
            if not rule.writable:
                raise InvalidUserData(key, "cannot be set")
            clean[key] = rule.check(value)
        return clean

    @staticmethod
    def _check_email_key(email: str) -> None:
        if len(email_key(email)) > EMAIL_KEY_MAX_LENGTH:
            raise InvalidUserData(
                "email", f"longer than {EMAIL_KEY_MAX_LENGTH} characters once normalised"
            )


def user_fields(id_type: IdType, *, id_range: tuple[int, int] = INT64) -> Schema:
    """Return the contract's user fields (docs/contract.md sections 1 and 7)."""
    return Schema(
        "user",
        {
            "id": id_rule(id_type, int_range=id_range),
            "email": FieldRule(
                "email", (str,), required=True, max_length=320, no_control=True, non_empty=True
            ),
            "hashed_password": FieldRule("hashed_password", (str,), required=True, max_length=1024),
            "is_active": FieldRule("is_active", (bool,)),
            "is_superuser": FieldRule("is_superuser", (bool,)),
            "is_verified": FieldRule("is_verified", (bool,)),
        },
    )


OAUTH_ACCOUNT_FIELDS = Schema(
    "oauth account",
    {
        "oauth_name": FieldRule(
            "oauth_name", (str,), required=True, max_length=100, no_control=True, non_empty=True
        ),
        "access_token": FieldRule("access_token", (str,), required=True),
        "expires_at": FieldRule("expires_at", (int,), nullable=True),
        "refresh_token": FieldRule("refresh_token", (str,), nullable=True),
        "account_id": FieldRule(
            "account_id", (str,), required=True, max_length=320, no_control=True, non_empty=True
        ),
        "account_email": FieldRule(
            "account_email", (str,), required=True, max_length=320, no_control=True
        ),
    },
)
"""The contract's OAuth-account fields; ``id`` and ``user_id`` are set by the adapter."""

ACCESS_TOKEN_FIELDS = Schema(
    "access token",
    {
        "token": FieldRule("token", (str,), required=True, max_length=43, non_empty=True),
        "created_at": FieldRule("created_at", (dt.datetime,)),
    },
)
"""The contract's access-token fields, less ``user_id`` (its rule depends on the id kind)."""


def lookup_string(value: Any, rule: FieldRule) -> str | None:
    """Return ``value`` as the rule would store it, or ``None`` if it never could be stored."""
    if not isinstance(value, str):
        return None
    try:
        checked: str = rule.check(value)
    except InvalidUserData:
        return None
    return checked


def lookup_email_key(email: Any, rule: FieldRule) -> str | None:
    """Return the key to look ``email`` up by, or ``None`` if no stored email could match."""
    checked = lookup_string(email, rule)
    if checked is None:
        return None
    key = email_key(checked)
    return key if len(key) <= EMAIL_KEY_MAX_LENGTH else None


def token_digest(token: str) -> str:
    """Return the stored form of ``token`` under the digest option: SHA-256, base64url, 43 chars.

    The digest fits the same 43-character column as a clear FastAPI Users token.
    """
    raw = hashlib.sha256(token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
