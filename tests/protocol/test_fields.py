"""The field rules: what create and update dicts may hold, and what lookups answer."""

import base64
import datetime as dt
import enum
import pickle
import re
import uuid
from typing import Any, Literal

import pytest

from userstore import InvalidUserData, UserStoreError, email_key
from userstore.rules import (
    ACCESS_TOKEN_FIELDS,
    EMAIL_KEY_MAX_LENGTH,
    OAUTH_ACCOUNT_FIELDS,
    FieldRule,
    Schema,
    check_aware_datetime,
    coerce_id,
    id_rule,
    lookup_email_key,
    lookup_string,
    token_digest,
    user_fields,
)

USERS = user_fields("uuid")
INT_USERS = user_fields("int")
USER = {"email": "user@example.com", "hashed_password": "$argon2id$hash"}
ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1001",
    "account_email": "1001@github.example",
    "access_token": "gho_access",
}
TOKEN = {"token": "t" * 43}
EMAIL_RULE = USERS.rules["email"]
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def refused(schema: Schema, data: dict[str, Any], *, update: bool = False) -> InvalidUserData:
    """Return the InvalidUserData the schema raises for ``data``."""
    validate = schema.validate_update if update else schema.validate_create
    with pytest.raises(InvalidUserData) as info:
        validate(data)
    return info.value


# Length limits --------------------------------------------------------------------------

LIMITS = [
    pytest.param(USERS, USER, "email", 320, id="email"),
    pytest.param(USERS, USER, "hashed_password", 1024, id="hashed_password"),
    pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "oauth_name", 100, id="oauth_name"),
    pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_id", 320, id="account_id"),
    pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_email", 320, id="account_email"),
    pytest.param(ACCESS_TOKEN_FIELDS, TOKEN, "token", 43, id="token"),
]


@pytest.mark.parametrize(("schema", "valid", "field", "limit"), LIMITS)
def test_value_at_the_limit_is_accepted(
    schema: Schema, valid: dict[str, Any], field: str, limit: int
) -> None:
    value = "x" * limit
    assert schema.validate_create({**valid, field: value})[field] == value
    assert schema.validate_update({field: value}) == {field: value}


@pytest.mark.parametrize(("schema", "valid", "field", "limit"), LIMITS)
def test_value_one_past_the_limit_is_refused(
    schema: Schema, valid: dict[str, Any], field: str, limit: int
) -> None:
    for update in (False, True):
        data = {field: "x" * (limit + 1)} if update else {**valid, field: "x" * (limit + 1)}
        exc = refused(schema, data, update=update)
        assert (exc.field, exc.reason) == (field, f"longer than {limit} characters")


def test_length_counts_code_points_not_bytes() -> None:
    email = "\N{GRINNING FACE}" * 320  # 1280 bytes in UTF-8
    assert USERS.validate_create({**USER, "email": email})["email"] == email


@pytest.mark.parametrize("field", ["access_token", "refresh_token"])
def test_provider_tokens_have_no_length_limit(field: str) -> None:
    value = "a" * 100_000
    assert OAUTH_ACCOUNT_FIELDS.validate_create({**ACCOUNT, field: value})[field] == value


def test_email_key_longer_than_its_limit_is_refused() -> None:
    ligature = "\N{ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM}"  # its key has 18 characters
    at_limit = ligature * 35 + "a" * 10
    assert len(email_key(at_limit)) == EMAIL_KEY_MAX_LENGTH == 640
    assert USERS.validate_create({**USER, "email": at_limit})["email"] == at_limit
    over = at_limit + "a"
    for update in (False, True):
        exc = refused(USERS, {**USER, "email": over}, update=update)
        assert (exc.field, exc.reason) == ("email", "longer than 640 characters once normalised")


# Control characters, NUL, surrogates, empty strings -------------------------------------

NO_CONTROL = [
    pytest.param(USERS, USER, "email", id="email"),
    pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "oauth_name", id="oauth_name"),
    pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_id", id="account_id"),
    pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_email", id="account_email"),
]
CONTROLS = ["\x01", "\x07", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]


@pytest.mark.parametrize(("schema", "valid", "field"), NO_CONTROL)
@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_character_is_refused(
    schema: Schema, valid: dict[str, Any], field: str, char: str
) -> None:
    exc = refused(schema, {**valid, field: f"a{char}b"})
    assert (exc.field, exc.reason) == (field, "contains a control character")


def test_the_control_characters_refused_are_unicodes_own() -> None:
    """Exactly the code points of general category Cc count as control characters."""
    import unicodedata

    from userstore._fields import _has_control, _has_surrogate

    found = {c for c in range(0x110000) if _has_control(chr(c))}
    assert found == {c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"}
    assert {c for c in range(0xD000, 0xE100) if _has_surrogate(chr(c))} == set(
        range(0xD800, 0xE000)
    )


@pytest.mark.parametrize(("schema", "valid", "field"), NO_CONTROL)
def test_nul_is_refused(schema: Schema, valid: dict[str, Any], field: str) -> None:
    exc = refused(schema, {**valid, field: "a\x00b"})
    assert (exc.field, exc.reason) == (field, "contains a NUL character")


@pytest.mark.parametrize(
    ("schema", "valid", "field"),
    [
        pytest.param(USERS, USER, "hashed_password", id="hashed_password"),
        pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "access_token", id="access_token"),
        pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "refresh_token", id="refresh_token"),
        pytest.param(ACCESS_TOKEN_FIELDS, TOKEN, "token", id="token"),
    ],
)
def test_every_string_refuses_nul_and_lone_surrogates(
    schema: Schema, valid: dict[str, Any], field: str
) -> None:
    exc = refused(schema, {**valid, field: "a\x00"})
    assert (exc.field, exc.reason) == (field, "contains a NUL character")
    exc = refused(schema, {**valid, field: "a\udfff"})
    assert (exc.field, exc.reason) == (field, "contains a lone surrogate (not valid Unicode)")
    # Other control characters are fine where the rule does not refuse them.
    assert schema.validate_create({**valid, field: "a\tb"})[field] == "a\tb"


@pytest.mark.parametrize(
    ("schema", "valid", "field"),
    [
        pytest.param(USERS, USER, "email", id="email"),
        pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "oauth_name", id="oauth_name"),
        pytest.param(OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_id", id="account_id"),
        pytest.param(ACCESS_TOKEN_FIELDS, TOKEN, "token", id="token"),
    ],
)
def test_empty_string_is_refused(schema: Schema, valid: dict[str, Any], field: str) -> None:
    for update in (False, True):
        data = {field: ""} if update else {**valid, field: ""}
        exc = refused(schema, data, update=update)
        assert (exc.field, exc.reason) == (field, "must not be empty")


def test_non_ascii_and_spaces_are_kept_as_given() -> None:
    email = "  \N{LATIN CAPITAL LETTER E WITH ACUTE}lodie@Exemple.fr "
    assert USERS.validate_create({**USER, "email": email})["email"] == email


# Types ----------------------------------------------------------------------------------


class Flag(enum.IntEnum):
    ON = 1


class Text(str):
    pass


@pytest.mark.parametrize(
    ("schema", "valid", "field", "value", "reason"),
    [
        (USERS, USER, "email", 12345, "expected str, got int"),
        (USERS, USER, "email", True, "expected str, got bool"),
        (USERS, USER, "email", b"user@example.com", "expected str, got bytes"),
        (USERS, USER, "email", None, "must not be None"),
        (USERS, USER, "hashed_password", b"hash", "expected str, got bytes"),
        (USERS, USER, "hashed_password", bytearray(b"hash"), "expected str, got bytearray"),
        (USERS, USER, "is_active", 1, "expected bool, got int"),
        (USERS, USER, "is_active", 0, "expected bool, got int"),
        (USERS, USER, "is_superuser", "yes", "expected bool, got str"),
        (USERS, USER, "is_verified", None, "must not be None"),
        (USERS, USER, "is_verified", Flag.ON, "expected bool, got Flag"),
        (USERS, USER, "id", str(uuid.UUID(int=1)), "expected UUID, got str"),
        (USERS, USER, "id", uuid.UUID(int=1).bytes, "expected UUID, got bytes"),
        (USERS, USER, "id", 1, "expected UUID, got int"),
        (INT_USERS, USER, "id", 1, "cannot be set"),
        (INT_USERS, USER, "id", True, "cannot be set"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "expires_at", True, "expected int or None, got bool"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "expires_at", 1.5, "expected int or None, got float"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "expires_at", "1", "expected int or None, got str"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "access_token", None, "must not be None"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "refresh_token", 1, "expected str or None, got int"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_email", b"a@b", "expected str, got bytes"),
        (ACCESS_TOKEN_FIELDS, TOKEN, "token", 42, "expected str, got int"),
        (ACCESS_TOKEN_FIELDS, TOKEN, "created_at", "2030-01-01", "expected datetime, got str"),
        (
            ACCESS_TOKEN_FIELDS,
            TOKEN,
            "created_at",
            dt.date(2030, 1, 1),
            "expected datetime, got date",
        ),
        (ACCESS_TOKEN_FIELDS, TOKEN, "created_at", 1_900_000_000, "expected datetime, got int"),
    ],
)
def test_wrong_type_is_refused(
    schema: Schema, valid: dict[str, Any], field: str, value: Any, reason: str
) -> None:
    for update in (False, True):
        data = {field: value} if update else {**valid, field: value}
        exc = refused(schema, data, update=update)
        assert (exc.field, exc.reason) == (field, reason)


def test_accepted_values_come_back_normalised() -> None:
    user_id = uuid.UUID(int=7)
    clean = USERS.validate_create({**USER, "email": Text("user@example.com"), "id": user_id})
    assert type(clean["email"]) is str
    assert clean["id"] is user_id
    clean = OAUTH_ACCOUNT_FIELDS.validate_create({**ACCOUNT, "expires_at": Flag.ON})
    assert type(clean["expires_at"]) is int
    assert clean["expires_at"] == 1
    clean = INT_USERS.validate_create({**USER, "is_active": False})
    assert clean["is_active"] is False
    assert OAUTH_ACCOUNT_FIELDS.validate_update({"expires_at": None, "refresh_token": None}) == {
        "expires_at": None,
        "refresh_token": None,
    }


def test_id_rules() -> None:
    assert id_rule("uuid").types == (uuid.UUID,)
    assert id_rule("int").types == (int,)
    uuid_rule, int_rule = id_rule("uuid"), id_rule("int")
    assert (uuid_rule.name, uuid_rule.required, uuid_rule.writable) == ("id", False, True)
    # the database picks integer ids: autoincrement reacts differently to given ones
    assert (int_rule.name, int_rule.required, int_rule.writable) == ("id", False, False)
    small = id_rule("int", int_range=(1, 2**31 - 1))
    assert small.check(2**31 - 1) == 2**31 - 1
    with pytest.raises(InvalidUserData, match=r"^id: outside the range 1\.\.2147483647$"):
        small.check(0)


def test_custom_rules() -> None:
    nan = FieldRule("score", (float,))
    assert nan.check(1.5) == 1.5
    with pytest.raises(InvalidUserData, match=r"^score: must be a finite number$"):
        nan.check(float("nan"))
    json = FieldRule("prefs", (dict[str, Any],), nullable=True)
    assert json.check({"theme": "dark"}) == {"theme": "dark"}
    assert json.check(None) is None
    with pytest.raises(InvalidUserData, match=r"^prefs: expected dict\[str, typing.Any\] or None"):
        json.check(["theme"])
    tags = FieldRule("tags", (list[str],))
    assert tags.check(["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidUserData, match=r"^tags: expected list\[str\], got list$"):
        tags.check([1])  # strict: no coercion of the items either


# Keys: unknown, non-writable, required --------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "valid", "key", "kind"),
    [
        (USERS, USER, "nickname", "user"),
        (USERS, USER, "email_key", "user"),
        (USERS, USER, "oauth_accounts", "user"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "scope", "oauth account"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "user_id", "oauth account"),
        (ACCESS_TOKEN_FIELDS, TOKEN, "scope", "access token"),
        (ACCESS_TOKEN_FIELDS, TOKEN, "user_id", "access token"),
    ],
)
def test_unknown_key_is_refused(schema: Schema, valid: dict[str, Any], key: str, kind: str) -> None:
    for update in (False, True):
        data = {key: "x"} if update else {**valid, key: "x"}
        exc = refused(schema, data, update=update)
        assert (exc.field, exc.reason) == (key, f"not a field of the {kind} model")


def test_non_string_key_is_refused() -> None:
    exc = refused(USERS, {**USER, 1: "x"})  # type: ignore[dict-item]
    assert (exc.field, exc.reason) == ("1", "not a field of the user model")


def test_non_mapping_is_refused() -> None:
    exc = refused(USERS, [("email", "user@example.com")])  # type: ignore[arg-type]
    assert (exc.field, exc.reason) == ("user", "expected a dict, got list")


def test_non_writable_key_is_refused() -> None:
    stamped = USERS.with_rules([FieldRule("created", (dt.datetime,), writable=False)])
    now = dt.datetime.now(dt.UTC)
    for update in (False, True):
        data = {"created": now} if update else {**USER, "created": now}
        exc = refused(stamped, data, update=update)
        assert (exc.field, exc.reason) == ("created", "cannot be set")


@pytest.mark.parametrize(
    ("schema", "valid", "field"),
    [
        (USERS, USER, "email"),
        (USERS, USER, "hashed_password"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "oauth_name"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_id"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "account_email"),
        (OAUTH_ACCOUNT_FIELDS, ACCOUNT, "access_token"),
        (ACCESS_TOKEN_FIELDS, TOKEN, "token"),
    ],
)
def test_required_key_is_required_on_create_only(
    schema: Schema, valid: dict[str, Any], field: str
) -> None:
    data = {k: v for k, v in valid.items() if k != field}
    exc = refused(schema, data)
    assert (exc.field, exc.reason) == (field, "is required")
    assert schema.validate_update(data) == data


def test_optional_keys() -> None:
    assert USERS.validate_create(USER) == USER
    assert USERS.validate_update({}) == {}
    assert set(USERS.rules) == {
        "id",
        "email",
        "hashed_password",
        "is_active",
        "is_superuser",
        "is_verified",
    }
    assert ACCESS_TOKEN_FIELDS.validate_create(TOKEN) == TOKEN


def test_with_rules_adds_and_replaces_without_changing_the_original() -> None:
    nickname = FieldRule("nickname", (str,), nullable=True, max_length=20)
    stricter_password = FieldRule("hashed_password", (str,), required=True, max_length=10)
    custom = USERS.with_rules([nickname, stricter_password])
    assert custom.validate_create({**USER, "hashed_password": "h", "nickname": None})
    exc = refused(custom, {**USER, "hashed_password": "h" * 11})
    assert (exc.field, exc.reason) == ("hashed_password", "longer than 10 characters")
    assert "nickname" not in USERS.rules
    assert USERS.rules["hashed_password"].max_length == 1024


# Datetimes ------------------------------------------------------------------------------

PLUS_0530 = dt.timezone(dt.timedelta(hours=5, minutes=30))


class NoOffset(dt.tzinfo):
    """A tzinfo that does not know its offset: as naive as no tzinfo."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def dst(self, when: dt.datetime | None) -> dt.timedelta | None:
        return None

    def tzname(self, when: dt.datetime | None) -> str | None:
        return None


@pytest.mark.parametrize(
    "naive",
    [dt.datetime(2030, 1, 1, 12, 0), dt.datetime(2030, 1, 1, 12, 0, tzinfo=NoOffset())],
    ids=["no-tzinfo", "tzinfo-without-offset"],
)
def test_naive_datetime_is_refused(naive: dt.datetime) -> None:
    for update in (False, True):
        data = {"created_at": naive} if update else {**TOKEN, "created_at": naive}
        exc = refused(ACCESS_TOKEN_FIELDS, data, update=update)
        assert (exc.field, exc.reason) == (
            "created_at",
            "naive datetime refused; give a timezone-aware one",
        )
    with pytest.raises(InvalidUserData) as info:
        check_aware_datetime("max_age", naive)
    assert info.value.field == "max_age"


def test_datetime_is_normalised_to_utc() -> None:
    given = dt.datetime(2030, 1, 2, 3, 4, 5, 654321, tzinfo=PLUS_0530)
    clean = ACCESS_TOKEN_FIELDS.validate_create({**TOKEN, "created_at": given})["created_at"]
    assert clean == given
    assert clean.tzinfo is dt.UTC
    assert (clean.day, clean.hour, clean.minute, clean.microsecond) == (1, 21, 34, 654321)
    assert check_aware_datetime("x", given) == dt.datetime(2030, 1, 1, 21, 34, 5, 654321, dt.UTC)


def test_datetime_outside_the_utc_range_is_refused() -> None:
    edge = dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with pytest.raises(InvalidUserData) as info:
        check_aware_datetime("created_at", edge)
    assert info.value.reason == "outside the representable UTC range"


def test_check_aware_datetime_refuses_non_datetimes() -> None:
    with pytest.raises(InvalidUserData, match=r"^when: expected datetime, got date$"):
        check_aware_datetime("when", dt.date(2030, 1, 1))


# coerce_id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "id_type", "expected"),
    [
        (uuid.UUID(int=5), "uuid", uuid.UUID(int=5)),
        (str(uuid.UUID(int=5)), "uuid", uuid.UUID(int=5)),
        (str(uuid.UUID(int=5)).upper(), "uuid", uuid.UUID(int=5)),
        (uuid.UUID(int=5).hex, "uuid", uuid.UUID(int=5)),
        ("not-a-uuid", "uuid", None),
        (str(uuid.UUID(int=5)) + "\x00", "uuid", None),
        (uuid.UUID(int=5).bytes, "uuid", None),
        (5, "uuid", None),
        (True, "uuid", None),
        (None, "uuid", None),
        (5, "int", 5),
        (0, "int", 0),
        (INT64_MAX, "int", INT64_MAX),
        (INT64_MIN, "int", INT64_MIN),
        (INT64_MAX + 1, "int", None),
        (INT64_MIN - 1, "int", None),
        (True, "int", None),
        (False, "int", None),
        ("5", "int", None),
        (5.0, "int", None),
        (uuid.UUID(int=5), "int", None),
        (None, "int", None),
    ],
)
def test_coerce_id(value: Any, id_type: Any, expected: Any) -> None:
    result = coerce_id(value, id_type)
    assert result == expected
    assert type(result) is type(expected)


def test_coerce_id_honours_int_range_and_returns_plain_int() -> None:
    int32 = (-(2**31), 2**31 - 1)
    assert coerce_id(2**31 - 1, "int", int_range=int32) == 2**31 - 1
    assert coerce_id(2**31, "int", int_range=int32) is None
    assert type(coerce_id(Flag.ON, "int")) is int


# Lookups --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        b"user@example.com",
        "",
        "x" * 321,
        "nul\x00@example.com",
        "tab\t@example.com",
        "surrogate\ud800@example.com",
        "\N{ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM}" * 36,  # key of 648 characters
    ],
    ids=["none", "int", "bytes", "empty", "too-long", "nul", "tab", "surrogate", "long-key"],
)
def test_lookup_email_key_is_none_for_impossible_values(value: Any) -> None:
    assert lookup_email_key(value, EMAIL_RULE) is None


def test_lookup_email_key_of_a_storable_email() -> None:
    assert lookup_email_key("Alice@Example.COM", EMAIL_RULE) == "alice@example.com"
    assert lookup_email_key(Text("A@B"), EMAIL_RULE) == "a@b"
    assert lookup_email_key("e" * 320, EMAIL_RULE) == "e" * 320


def test_lookup_string() -> None:
    rule = OAUTH_ACCOUNT_FIELDS.rules["oauth_name"]
    assert lookup_string("GitHub ", rule) == "GitHub "
    for impossible in [None, 1, "", "n" * 101, "git\x00hub", "git\nhub"]:
        assert lookup_string(impossible, rule) is None
    assert type(lookup_string(Text("github"), rule)) is str


# Token digest ---------------------------------------------------------------------------


def test_token_digest_is_sha256_in_url_safe_base64_without_padding() -> None:
    # SHA-256("abc") from FIPS 180-2, appendix B.1.
    known = bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert token_digest("abc") == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    assert token_digest("abc") == base64.urlsafe_b64encode(known).decode().rstrip("=")
    # SHA-256 of the empty string.
    assert token_digest("") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


@pytest.mark.parametrize("token", ["t" * 43, "", "\N{GRINNING FACE}" * 100, "x" * 10_000])
def test_token_digest_shape(token: str) -> None:
    digest = token_digest(token)
    assert len(digest) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", digest)
    assert ACCESS_TOKEN_FIELDS.validate_create({"token": digest}) == {"token": digest}


def test_token_digest_hashes_utf8() -> None:
    assert token_digest("\N{LATIN SMALL LETTER E WITH ACUTE}") != token_digest("e\u0301")


# InvalidUserData ------------------------------------------------------------------------


def test_invalid_user_data_is_a_value_error() -> None:
    exc = InvalidUserData("email", "must not be empty")
    assert isinstance(exc, ValueError)
    assert isinstance(exc, UserStoreError)
    assert str(exc) == "email: must not be empty"
    assert (exc.field, exc.reason) == ("email", "must not be empty")


SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize(
    ("schema", "data"),
    [
        (USERS, {**USER, "hashed_password": SECRET + "\x00"}),
        (USERS, {**USER, "hashed_password": SECRET * 100}),
        (USERS, {**USER, "email": SECRET + "\n@example.com"}),
        (USERS, {**USER, "email": SECRET * 30}),
        (USERS, {**USER, "email": SECRET.encode()}),
        (USERS, {**USER, "is_active": SECRET}),
        (OAUTH_ACCOUNT_FIELDS, {**ACCOUNT, "access_token": SECRET + "\x00"}),
        (OAUTH_ACCOUNT_FIELDS, {**ACCOUNT, "account_id": SECRET + "\t"}),
        (ACCESS_TOKEN_FIELDS, {"token": SECRET * 4}),
        (ACCESS_TOKEN_FIELDS, {"token": SECRET + "\ud800"}),
    ],
)
def test_message_never_contains_the_value(schema: Schema, data: dict[str, Any]) -> None:
    exc = refused(schema, data)
    assert SECRET not in str(exc)
    assert SECRET not in repr(exc)
    assert SECRET not in exc.reason


def test_invalid_user_data_pickles() -> None:
    exc = refused(USERS, {**USER, "email": ""})
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        again = pickle.loads(pickle.dumps(exc, protocol=protocol))
        assert type(again) is InvalidUserData
        assert (again.field, again.reason, str(again)) == (exc.field, exc.reason, str(exc))


def test_a_json_rule_checks_every_string_and_float_of_the_document() -> None:
    rule = FieldRule("prefs", (object,), nullable=True, json=True)
    good = {"nick": "Ada", "langs": ["en", ("fr",)], "n": 3, "r": 0.5, "on": True, "x": None}
    assert rule.check(good) is good
    assert rule.check("plain") == "plain"
    for bad, reason in [
        ({"nick": "a\x00"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ([["deep", ["\x00"]]], "NUL"),
        ({"s": "\udc00"}, "surrogate"),
        ({"r": float("inf")}, "finite"),
        ([float("nan")], "finite"),
    ]:
        with pytest.raises(InvalidUserData) as info:
            rule.check(bad)
        assert info.value.field == "prefs"
        assert reason in info.value.reason


def test_a_rule_of_unknown_type_still_checks_strings() -> None:
    rule = FieldRule("tag", (object,), max_length=5)
    assert rule.check(7) == 7
    assert rule.check(True) is True
    assert rule.check(b"\x00") == b"\x00"  # not a string: the column's type decides
    for bad, reason in [("a\x00", "NUL"), ("abcdef", "longer than 5"), ("\ud800", "surrogate")]:
        with pytest.raises(InvalidUserData) as info:
            rule.check(bad)
        assert reason in info.value.reason


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (list[int], [1, 2], [1, True]),
        (dict[str, list[int]], {"a": [1]}, {"a": [1.5]}),
        (dict[str, int], {"a": 1}, {1: 1}),
        (tuple[int, ...], (1, 2, 3), (1, "2")),
        (tuple[int, str], (1, "a"), (1, "a", 2)),
        (set[str], {"a"}, {b"a"}),
        (list[int] | dict[str, int], {"a": 1}, ["1"]),
        (list[Literal["a", "b"]], ["a", "b"], ["c"]),
    ],
    ids=str,
)
def test_parameterised_types_are_checked_item_by_item_without_coercion(
    kind: Any, good: Any, bad: Any
) -> None:
    rule = FieldRule("custom", (kind,))
    assert rule.check(good) == good
    with pytest.raises(InvalidUserData, match=r"^custom: expected "):
        rule.check(bad)
