"""The operations of the differential test, as plain data, and strategies that draw them.

An :class:`Op` names a protocol method and holds its arguments, with users,
OAuth accounts and tokens given by reference (:class:`User`, :class:`Account`,
:class:`Token`, ...) instead of by object: each store resolves a reference to
its own object or id, since ids are generated independently.  Ops print as the
Python that builds them, so a shrunk failure pastes straight into
``test_regressions.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from . import values as v


@dataclasses.dataclass(frozen=True)
class User:
    """The n-th user the sequence created (modulo how many there are)."""

    n: int


@dataclasses.dataclass(frozen=True)
class UserId:
    """The id of the n-th user the sequence created."""

    n: int


@dataclasses.dataclass(frozen=True)
class UserIdText:
    """The id of the n-th user, as text (``str(uuid)``; ``str(int)`` for integer ids)."""

    n: int


@dataclasses.dataclass(frozen=True)
class MissingId:
    """An id of the right type that no user has (``UUID(int=0xdead)`` or ``2**62``)."""


@dataclasses.dataclass(frozen=True)
class Raw:
    """A value given as is, the same to both stores (wrong types, fixed UUIDs)."""

    value: Any


@dataclasses.dataclass(frozen=True)
class Account:
    """The k-th OAuth account the n-th user holds (modulo how many it has)."""

    n: int
    k: int


@dataclasses.dataclass(frozen=True)
class Token:
    """The n-th access token the sequence created."""

    n: int


Ref = UserId | UserIdText | MissingId | Raw


@dataclasses.dataclass(frozen=True)
class Op:
    """One call: ``method`` is ``users.<name>`` or ``tokens.<name>``; ``args`` its arguments."""

    method: str
    args: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"Op({self.method!r}, {self.args!r})"


# -- strategies ------------------------------------------------------------------------

SMALL = st.integers(0, 5)


def optional_dict(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Dicts with ``required`` keys and any of ``optional``; sometimes a key that is no field."""
    base = st.fixed_dictionaries(required, optional=optional)
    extra = st.fixed_dictionaries(
        required, optional={**optional, "nickname": st.just("x"), "email_key": st.just("k")}
    )
    return v.weighted(base, extra, 9)


def user_refs() -> st.SearchStrategy[Ref]:
    """A user id as given to get / token create / delete_for_user."""
    return v.weighted(
        st.builds(UserId, SMALL),
        _odd_user_refs(),
        8,
    )


def _odd_user_refs() -> st.SearchStrategy[Ref]:
    return st.one_of(
        st.builds(UserIdText, SMALL),
        st.just(MissingId()),
        st.sampled_from(
            [Raw(None), Raw(True), Raw("not-an-id"), Raw(-1), Raw(0), Raw(2**63), Raw(1.0)]
        ),
        st.sampled_from(v.FIXED_UUIDS).map(Raw),
    )


def user_create_dicts(id_type: str) -> st.SearchStrategy[Any]:
    """Create dicts: email and password always (mostly valid), flags and an id sometimes."""
    ids: st.SearchStrategy[Any] = (
        st.sampled_from(v.FIXED_UUIDS)
        if id_type == "uuid"
        else st.sampled_from([1, 2, 2**62])  # refused: integer ids are picked by the store
    )
    optional = {
        "is_active": v.flags(),
        "is_superuser": v.flags(),
        "is_verified": v.flags(),
        "id": st.one_of(ids, st.just("00000000-0000-4000-8000-000000000001")),
    }
    required = {"email": v.emails(), "hashed_password": v.passwords()}
    missing = st.fixed_dictionaries({"email": v.emails()})
    return v.weighted(
        st.one_of(optional_dict(required, optional), optional_dict(required, {})), missing, 8
    )


def user_update_dicts() -> st.SearchStrategy[Any]:
    """Update dicts: any subset of the user fields, an id (same or other), unknown keys."""
    optional = {
        "email": v.emails(),
        "hashed_password": v.passwords(),
        "is_active": v.flags(),
        "is_superuser": v.flags(),
        "is_verified": v.flags(),
        "id": st.one_of(st.sampled_from(v.FIXED_UUIDS), st.just(1)),
    }
    return optional_dict({}, optional)


def account_create_dicts(id_type: str) -> st.SearchStrategy[Any]:
    """OAuth-account create dicts: the four required fields, the optional ones sometimes."""
    required = {
        "oauth_name": v.oauth_names(),
        "account_id": v.account_ids(),
        "account_email": v.account_emails(),
        "access_token": v.provider_tokens(),
    }
    optional = {"expires_at": v.expires_ats(), "refresh_token": v.refresh_tokens()}
    if id_type == "uuid":
        optional["id"] = st.sampled_from(v.FIXED_UUIDS)
    return optional_dict(required, optional)


def account_update_dicts() -> st.SearchStrategy[Any]:
    """OAuth-account update dicts: any subset of the fields (a new link included)."""
    optional = {
        "oauth_name": v.oauth_names(),
        "account_id": v.account_ids(),
        "account_email": v.account_emails(),
        "access_token": v.provider_tokens(),
        "expires_at": v.expires_ats(),
        "refresh_token": v.refresh_tokens(),
        "user_id": st.just(None),
    }
    return optional_dict({}, optional)


def token_create_dicts() -> st.SearchStrategy[Any]:
    """Token create dicts: token and user (by reference); created_at mostly given near T0."""
    required = {"token": v.tokens(), "user_id": user_refs()}
    return v.weighted(
        st.fixed_dictionaries({**required, "created_at": v.aware_datetimes()}),
        optional_dict(required, {"created_at": v.datetimes()}),
        4,
    )


def token_update_dicts() -> st.SearchStrategy[Any]:
    """Token update dicts: created_at, another owner, the token itself (refused), nothing."""
    return optional_dict(
        {}, {"created_at": v.datetimes(), "user_id": user_refs(), "token": v.tokens()}
    )


def max_ages() -> st.SearchStrategy[Any]:
    """``max_age`` for get_by_token: none, or a datetime near T0 (naive ones refused)."""
    return st.one_of(st.none(), v.datetimes())


def ops(id_type: str) -> st.SearchStrategy[Op]:
    """Any single operation (what a transaction block is made of)."""
    return st.one_of(*(make(id_type) for make in OPS.values()))


def _op(method: str, *args: st.SearchStrategy[Any]) -> st.SearchStrategy[Op]:
    return st.tuples(*args).map(lambda a: Op(method, a))


OPS: dict[str, Any] = {
    "users.create": lambda t: _op("users.create", user_create_dicts(t)),
    "users.get": lambda t: _op("users.get", user_refs()),
    "users.get_by_email": lambda t: _op("users.get_by_email", v.emails()),
    "users.get_by_oauth_account": lambda t: _op(
        "users.get_by_oauth_account", v.oauth_names(), v.account_ids()
    ),
    "users.update": lambda t: _op("users.update", st.builds(User, SMALL), user_update_dicts()),
    "users.delete": lambda t: _op("users.delete", st.builds(User, SMALL)),
    "users.add_oauth_account": lambda t: _op(
        "users.add_oauth_account", st.builds(User, SMALL), account_create_dicts(t)
    ),
    "users.update_oauth_account": lambda t: _op(
        "users.update_oauth_account",
        st.builds(User, SMALL),
        st.builds(Account, SMALL, SMALL),
        account_update_dicts(),
    ),
    "users.remove_oauth_account": lambda t: _op(
        "users.remove_oauth_account", st.builds(User, SMALL), st.builds(Account, SMALL, SMALL)
    ),
    "tokens.create": lambda t: _op("tokens.create", token_create_dicts()),
    "tokens.get_by_token": lambda t: _op("tokens.get_by_token", v.tokens(), max_ages()),
    "tokens.update": lambda t: _op("tokens.update", st.builds(Token, SMALL), token_update_dicts()),
    "tokens.delete": lambda t: _op("tokens.delete", st.builds(Token, SMALL)),
    "tokens.delete_for_user": lambda t: _op("tokens.delete_for_user", user_refs()),
    "tokens.delete_expired": lambda t: _op("tokens.delete_expired", v.datetimes()),
}
"""Strategy factory (taking the id type) for each operation the machine runs."""


def seed_ops() -> st.SearchStrategy[list[Op]]:
    """A few valid creates, links and tokens, so that the random steps find things to act on."""
    email = st.builds(
        lambda a, b: f"{a}{b}", st.sampled_from(v.LOCAL_PARTS), st.sampled_from(v.DOMAINS)
    )
    user = st.builds(
        lambda e: Op("users.create", ({"email": e, "hashed_password": "$argon2id$hash"},)), email
    )
    link = st.builds(
        lambda n, name, account: Op(
            "users.add_oauth_account",
            (
                User(n),
                {
                    "oauth_name": name,
                    "account_id": account,
                    "account_email": "a@x.io",
                    "access_token": "ya29.token",
                },
            ),
        ),
        SMALL,
        st.sampled_from(["google", "Google", "github"]),
        st.sampled_from(["1", "1 ", "A", "a"]),
    )
    token = st.builds(
        lambda t, n, when: Op(
            "tokens.create", ({"token": t, "user_id": UserId(n), "created_at": when},)
        ),
        st.sampled_from(["tok", "TOK", "tok ", "t\u00f6k"]),
        SMALL,
        v.aware_datetimes(),
    )
    return st.lists(st.one_of(user, user, link, token), min_size=2, max_size=8)
