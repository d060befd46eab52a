"""The in-memory reference adapter: the whole contract, no database.

Every other adapter is held to what this one does (the conformance suite runs on
it first).  State lives in plain dicts guarded by one ``asyncio.Lock``; each
method checks its input, then reads or mutates the state without awaiting in
between, so concurrent tasks see the same outcomes a database's unique indexes
would give.  A transaction works on a private copy of the state and holds the
write lock until it ends, so it is all or nothing.  Returned objects are copies:
changing them changes nothing stored until they are passed back to a method.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import inspect
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from ._errors import (
    AccessTokenAlreadyExists,
    InvalidURL,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
)
from ._fields import (
    ACCESS_TOKEN_FIELDS,
    OAUTH_ACCOUNT_FIELDS,
    FieldRule,
    IdType,
    Schema,
    check_aware_datetime,
    coerce_id,
    email_key,
    id_rule,
    lookup_email_key,
    lookup_string,
    token_digest,
    user_fields,
)
from ._protocol import BaseAccessTokenDatabase, BaseUserDatabase
from ._store import Store, StoreSession

__all__ = [
    "MemoryAccessToken",
    "MemoryAccessTokenDatabase",
    "MemoryAdapter",
    "MemoryOAuthAccount",
    "MemoryStore",
    "MemoryUser",
    "MemoryUserDatabase",
]


@dataclasses.dataclass
class MemoryOAuthAccount:
    """A linked OAuth account, as the memory adapter returns it (its repr hides the tokens)."""

    id: Any
    user_id: Any
    oauth_name: str
    access_token: str = dataclasses.field(repr=False)
    account_id: str
    account_email: str
    expires_at: int | None = None
    refresh_token: str | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass
class MemoryUser:
    """A user, as the memory adapter returns it; custom fields become extra attributes.

    Its repr leaves ``hashed_password`` out.
    """

    id: Any
    email: str
    hashed_password: str = dataclasses.field(repr=False)
    is_active: bool = True
    is_superuser: bool = False
    is_verified: bool = False
    oauth_accounts: list[MemoryOAuthAccount] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class MemoryAccessToken:
    """An access token, as the memory adapter returns it (``token`` in clear, not in its repr)."""

    token: str = dataclasses.field(repr=False)
    user_id: Any
    created_at: dt.datetime


_USER_DEFAULTS = {"is_active": True, "is_superuser": False, "is_verified": False}
_OAUTH_DEFAULTS = {"expires_at": None, "refresh_token": None}


@dataclasses.dataclass
class _State:
    users: dict[Any, dict[str, Any]] = dataclasses.field(default_factory=dict)
    user_by_key: dict[str, Any] = dataclasses.field(default_factory=dict)
    accounts: dict[Any, dict[str, Any]] = dataclasses.field(default_factory=dict)
    account_by_link: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    next_link: int = 1


@dataclasses.dataclass
class _IntIds:
    """The next integer user and account ids.

    Kept beside the state, not in it: a transaction that rolls back gives no id
    back, so an id once handed out is never handed out again (as on PostgreSQL
    and MariaDB, whose counters are not transactional).
    """

    next_user_id: int = 1
    next_account_id: int = 1

    def user_id(self) -> int:
        """Hand out the next user id."""
        self.next_user_id += 1
        return self.next_user_id - 1

    def account_id(self) -> int:
        """Hand out the next OAuth-account id."""
        self.next_account_id += 1
        return self.next_account_id - 1


class MemoryStore(Store):
    """A store whose state lives in this process (``memory://``)."""

    def __init__(
        self,
        *,
        id_type: IdType = "uuid",
        token_digest: bool = False,
        extra_user_fields: Iterable[FieldRule] = (),
    ) -> None:
        if id_type not in ("uuid", "int"):
            raise InvalidURL(f"id_type must be 'uuid' or 'int', not {id_type!r}", part="id_type")
        self.id_type = id_type
        self.token_digest = token_digest
        # email_key and user_id are set by the store, as columns of the SQL models are
        fixed = [FieldRule("email_key", (str,), writable=False)]
        self.user_schema = user_fields(id_type).with_rules([*fixed, *extra_user_fields])
        # OAuth-account ids are always picked by the store: they give the link order
        self.oauth_schema = OAUTH_ACCOUNT_FIELDS.with_rules(
            [
                dataclasses.replace(id_rule(id_type), writable=False),
                FieldRule("user_id", (object,), writable=False),
            ]
        )
        self.token_schema = ACCESS_TOKEN_FIELDS.with_rules(
            [dataclasses.replace(id_rule(id_type), name="user_id", required=True, writable=True)]
        )
        self._state = _State()
        self._int_ids = _IntIds()
        self._lock = asyncio.Lock()
        self.round_trips = 0
        """How many times the state was read or written (each is one 'statement')."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MemorySession]:
        """Open a session on this store."""
        session = MemorySession(self)
        try:
            yield session
        finally:
            await session.close()

    async def create_schema(self) -> None:
        """Nothing to create: the state exists from the start."""

    async def drop_schema(self) -> None:
        """Forget everything stored."""
        async with self._lock:
            self._state = _State()
            self._int_ids = _IntIds()

    async def close(self) -> None:
        """Nothing to release."""


class MemorySession(StoreSession):
    """A session of a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._tx: _State | None = None
        self._tx_lost = False
        self._severed = False
        self.users: MemoryUserDatabase = MemoryUserDatabase(self)
        self.tokens: MemoryAccessTokenDatabase = MemoryAccessTokenDatabase(self)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block on a private copy of the state; publish it only if the block succeeds.

        Inside another block of this session it is a savepoint: the block works on a
        copy of the enclosing block's state, which takes the copy's place if the
        block succeeds and is kept as it was if the block raises.  The write lock is
        the outermost block's, held until that one ends.
        """
        if self._tx is not None:
            outer = self._tx
            self._tx = copy.deepcopy(outer)
            try:
                yield
            except BaseException:
                self._tx = outer
                raise
            if self._tx_lost:
                self._tx = outer
                raise StoreUnavailable("connection lost during the transaction; nothing committed")
            return
        async with self.store._lock:
            self._tx = copy.deepcopy(self.store._state)
            try:
                yield
            except BaseException:
                self._tx, self._tx_lost = None, False
                raise
            if self._tx_lost:  # the connection was lost inside the block
                self._tx, self._tx_lost = None, False
                raise StoreUnavailable("connection lost during the transaction; nothing committed")
            self.store._state, self._tx = self._tx, None

    def sever(self) -> None:
        """Make the next call fail as a lost connection would (for the conformance suite)."""
        self._severed = True

    async def close(self) -> None:
        """Discard any open transaction."""
        self._tx = None

    def _check_connection(self) -> None:
        if self._tx_lost:
            raise StoreUnavailable("the transaction was lost with its connection")
        if self._severed:
            self._severed = False
            if self._tx is not None:
                self._tx_lost = True
            raise StoreUnavailable("connection lost (simulated)")

    def read(self) -> _State:
        """Return the state this session sees, counting one round trip."""
        self._check_connection()
        self.store.round_trips += 1
        return self._tx if self._tx is not None else self.store._state

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_State]:
        """Yield the state to mutate: the transaction's copy, or the shared state under the lock."""
        self._check_connection()
        self.store.round_trips += 1
        if self._tx is not None:
            yield self._tx
            return
        async with self.store._lock:
            yield self.store._state


def _user_object(state: _State, row: dict[str, Any]) -> MemoryUser:
    base = {k: v for k, v in row.items() if k != "email_key"}
    fields = {f.name for f in dataclasses.fields(MemoryUser)}
    user = MemoryUser(**{k: v for k, v in base.items() if k in fields})
    for key, value in base.items():
        if key not in fields:
            setattr(user, key, copy.deepcopy(value))  # custom values may be mutable
    accounts = [a for a in state.accounts.values() if a["user_id"] == row["id"]]
    accounts.sort(key=lambda a: a["link"])
    user.oauth_accounts = [_account_object(a) for a in accounts]
    return user


def _account_object(row: dict[str, Any]) -> MemoryOAuthAccount:
    return MemoryOAuthAccount(**{k: v for k, v in row.items() if k != "link"})


class MemoryUserDatabase(BaseUserDatabase[MemoryUser, Any]):
    """Users and OAuth accounts of a :class:`MemoryStore`."""

    def __init__(self, session: MemorySession) -> None:
        self._session = session
        self._schema = session.store.user_schema
        self._oauth_schema = session.store.oauth_schema
        self._id_type = session.store.id_type

    async def get(self, id: Any) -> MemoryUser | None:
        """Return the user with this id, or ``None``."""
        key = coerce_id(id, self._id_type)
        if key is None:
            return None
        state = self._session.read()
        row = state.users.get(key)
        return _user_object(state, row) if row else None

    async def list_users(self, *, after: Any = None, limit: int = 100) -> list[MemoryUser]:
        """Return at most ``limit`` users whose id is greater than ``after``, by ascending id."""
        _check_positive("limit", limit)
        start = None
        if after is not None:
            start = coerce_id(after, self._id_type)
            if start is None:
                raise InvalidUserData("after", f"not a valid {self._id_type} id")
        state = self._session.read()
        ids = sorted(i for i in state.users if start is None or i > start)[:limit]
        return [_user_object(state, state.users[i]) for i in ids]

    async def get_by_email(self, email: str) -> MemoryUser | None:
        """Return the user whose email key matches, or ``None``."""
        key = lookup_email_key(email, self._schema.rules["email"])
        if key is None:
            return None
        state = self._session.read()
        user_id = state.user_by_key.get(key)
        return _user_object(state, state.users[user_id]) if user_id is not None else None

    async def get_by_oauth_account(self, oauth: str, account_id: str) -> MemoryUser | None:
        """Return the user linked to the account, compared exactly, or ``None``."""
        name = lookup_string(oauth, self._oauth_schema.rules["oauth_name"])
        acct = lookup_string(account_id, self._oauth_schema.rules["account_id"])
        if name is None or acct is None:
            return None
        state = self._session.read()
        account = state.account_by_link.get((name, acct))
        if account is None:
            return None
        return _user_object(state, state.users[state.accounts[account]["user_id"]])

    async def create(self, create_dict: dict[str, Any]) -> MemoryUser:
        """Store a new user."""
        data = copy.deepcopy(self._schema.validate_create(create_dict))
        async with self._session.write() as state:
            key = email_key(data["email"])
            if key in state.user_by_key or data.get("id") in state.users:
                raise UserAlreadyExists("a user with this email already exists")
            row = self._new_row(data)
            row["email_key"] = key
            state.users[row["id"]] = row
            state.user_by_key[key] = row["id"]
            return _user_object(state, row)

    def _new_row(self, data: dict[str, Any]) -> dict[str, Any]:
        row = {**_USER_DEFAULTS, **dict.fromkeys(self._schema.rules), **data}
        for name in _USER_DEFAULTS:
            row[name] = data.get(name, _USER_DEFAULTS[name])
        if row.get("id") is None:
            if self._id_type == "uuid":
                row["id"] = uuid.uuid4()
            else:
                row["id"] = self._session.store._int_ids.user_id()
        return row

    async def update(self, user: MemoryUser, update_dict: dict[str, Any]) -> MemoryUser:
        """Apply the update to the stored user and to ``user``; return ``user``."""
        data = self._schema.validate_update(update_dict)
        if "id" in data and data["id"] != user.id:
            raise InvalidUserData("id", "cannot be changed")
        async with self._session.write() as state:
            row = state.users.get(user.id)
            if row is None:
                raise UserNotFound("the user no longer exists")
            if "email" in data:
                key = email_key(data["email"])
                owner = state.user_by_key.get(key)
                if owner is not None and owner != user.id:
                    raise UserAlreadyExists("a user with this email already exists")
                del state.user_by_key[row["email_key"]]
                state.user_by_key[key] = user.id
                row["email_key"] = key
            row.update(copy.deepcopy(data))
        for name, value in data.items():
            setattr(user, name, value)
        return user

    async def delete(self, user: MemoryUser) -> None:
        """Delete the user, its OAuth accounts and its access tokens."""
        async with self._session.write() as state:
            row = state.users.pop(getattr(user, "id", None), None)
            if row is None:
                raise UserNotFound("the user no longer exists")
            del state.user_by_key[row["email_key"]]
            for account_id, account in list(state.accounts.items()):
                if account["user_id"] == row["id"]:
                    del state.accounts[account_id]
                    del state.account_by_link[(account["oauth_name"], account["account_id"])]
            for token, token_row in list(state.tokens.items()):
                if token_row["user_id"] == row["id"]:
                    del state.tokens[token]

    async def add_oauth_account(self, user: MemoryUser, create_dict: dict[str, Any]) -> MemoryUser:
        """Link an OAuth account to ``user``; return ``user`` with it appended."""
        data = self._oauth_schema.validate_create(create_dict)
        async with self._session.write() as state:
            if user.id not in state.users:
                raise UserNotFound("the user no longer exists")
            link = (data["oauth_name"], data["account_id"])
            if link in state.account_by_link or data.get("id") in state.accounts:
                raise OAuthAccountAlreadyLinked("this OAuth account is already linked to a user")
            row = {**_OAUTH_DEFAULTS, **data, "user_id": user.id, "link": state.next_link}
            state.next_link += 1
            if row.get("id") is None:
                if self._id_type == "uuid":
                    row["id"] = uuid.uuid4()
                else:
                    row["id"] = self._session.store._int_ids.account_id()
            state.accounts[row["id"]] = row
            state.account_by_link[link] = row["id"]
        user.oauth_accounts = [*user.oauth_accounts, _account_object(row)]
        return user

    async def update_oauth_account(
        self, user: MemoryUser, oauth_account: Any, update_dict: dict[str, Any]
    ) -> MemoryUser:
        """Update one linked account of ``user``; return ``user``."""
        data = self._oauth_schema.validate_update(update_dict)
        if "id" in data and data["id"] != oauth_account.id:
            raise InvalidUserData("id", "cannot be changed")
        async with self._session.write() as state:
            row = state.accounts.get(oauth_account.id)
            if row is None or row["user_id"] != user.id:
                raise UserNotFound("the OAuth account is no longer linked to this user")
            old = (row["oauth_name"], row["account_id"])
            new = (data.get("oauth_name", old[0]), data.get("account_id", old[1]))
            if new != old:
                if new in state.account_by_link:
                    raise OAuthAccountAlreadyLinked("this OAuth account is already linked")
                del state.account_by_link[old]
                state.account_by_link[new] = row["id"]
            row.update(data)
        for name, value in data.items():
            setattr(oauth_account, name, value)
        user.oauth_accounts = [
            oauth_account if a.id == oauth_account.id else a for a in user.oauth_accounts
        ]
        return user

    async def remove_oauth_account(self, user: MemoryUser, oauth_account: Any) -> MemoryUser:
        """Unlink one account of ``user``; return ``user`` without it."""
        async with self._session.write() as state:
            row = state.accounts.get(oauth_account.id)
            if row is not None and row["user_id"] == user.id:
                del state.accounts[row["id"]]
                del state.account_by_link[(row["oauth_name"], row["account_id"])]
        user.oauth_accounts = [a for a in user.oauth_accounts if a.id != oauth_account.id]
        return user


class MemoryAccessTokenDatabase(BaseAccessTokenDatabase[MemoryAccessToken]):
    """Access tokens of a :class:`MemoryStore`."""

    def __init__(self, session: MemorySession) -> None:
        self._session = session
        self._schema: Schema = session.store.token_schema
        self._digest = session.store.token_digest
        self._id_type = session.store.id_type

    def _key(self, token: str) -> str:
        return token_digest(token) if self._digest else token

    async def get_by_token(
        self, token: str, max_age: dt.datetime | None = None
    ) -> MemoryAccessToken | None:
        """Return the token if stored and not older than ``max_age`` (inclusive)."""
        if max_age is not None:
            max_age = check_aware_datetime("max_age", max_age)
        clear = lookup_string(token, self._schema.rules["token"])
        if clear is None:
            return None
        state = self._session.read()
        row = state.tokens.get(self._key(clear))
        if row is None:
            return None
        if max_age is not None and row["created_at"] < max_age:
            return None
        return MemoryAccessToken(clear, row["user_id"], row["created_at"])

    async def create(self, create_dict: dict[str, Any]) -> MemoryAccessToken:
        """Store a token."""
        data = self._schema.validate_create(create_dict)
        created_at = data.get("created_at") or _now()
        async with self._session.write() as state:
            key = self._key(data["token"])
            if key in state.tokens:
                raise AccessTokenAlreadyExists("this access token already exists")
            if data["user_id"] not in state.users:
                raise UserNotFound("the token's user does not exist")
            state.tokens[key] = {"user_id": data["user_id"], "created_at": created_at}
        return MemoryAccessToken(data["token"], data["user_id"], created_at)

    async def update(
        self, access_token: MemoryAccessToken, update_dict: dict[str, Any]
    ) -> MemoryAccessToken:
        """Apply the update to the stored token and to ``access_token``; return it."""
        data = self._schema.validate_update(update_dict)
        if "token" in data:
            raise InvalidUserData("token", "cannot be changed; create a new token")
        async with self._session.write() as state:
            old = self._key(access_token.token)
            row = state.tokens.get(old)
            if row is None:
                raise UserNotFound("the access token no longer exists")
            new = self._key(data.get("token", access_token.token))
            if new != old and new in state.tokens:
                raise AccessTokenAlreadyExists("this access token already exists")
            if "user_id" in data and data["user_id"] not in state.users:
                raise UserNotFound("the token's user does not exist")
            state.tokens[new] = {**state.tokens.pop(old), **_without(data, "token")}
        for name, value in data.items():
            setattr(access_token, name, value)
        return access_token

    async def delete(self, access_token: MemoryAccessToken) -> None:
        """Delete the token (a no-op if it is gone)."""
        async with self._session.write() as state:
            state.tokens.pop(self._key(access_token.token), None)

    async def delete_for_user(self, user_id: Any) -> int:
        """Delete every token of one user; return the count."""
        user_id = coerce_id(user_id, self._id_type)
        async with self._session.write() as state:
            doomed = [k for k, r in state.tokens.items() if r["user_id"] == user_id]
            for key in doomed:
                del state.tokens[key]
        return len(doomed)

    async def count_tokens(self, older_than: dt.datetime | None = None) -> int:
        """Return how many tokens are stored (created strictly before ``older_than``, if given)."""
        cutoff = None if older_than is None else check_aware_datetime("older_than", older_than)
        state = self._session.read()
        return sum(1 for r in state.tokens.values() if cutoff is None or r["created_at"] < cutoff)

    async def delete_expired(self, older_than: dt.datetime, *, limit: int | None = None) -> int:
        """Delete the tokens created strictly before ``older_than``; return the count.

        With ``limit``, delete at most that many, the oldest first.
        """
        older_than = check_aware_datetime("older_than", older_than)
        if limit is not None:
            _check_positive("limit", limit)
        async with self._session.write() as state:
            doomed = [k for k, r in state.tokens.items() if r["created_at"] < older_than]
            if limit is not None:
                doomed = sorted(doomed, key=lambda k: state.tokens[k]["created_at"])[:limit]
            for key in doomed:
                del state.tokens[key]
        return len(doomed)


def _check_positive(field: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidUserData(field, "must be an int of at least 1")


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MemoryAdapter:
    """The ``memory://`` adapter: each :meth:`connect` returns a new, empty store."""

    schemes: ClassVar[tuple[str, ...]] = ("memory",)

    @classmethod
    def connect(cls, url: str, **options: Any) -> MemoryStore:
        """Return a new :class:`MemoryStore`; options are those of its constructor.

        An option it does not have raises :class:`~userstore.InvalidURL` naming it.
        """
        known = inspect.signature(MemoryStore).parameters
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InvalidURL(
                f"memory:// takes no option {unknown[0]!r} (its options: {', '.join(known)})",
                part=unknown[0],
            )
        return MemoryStore(**options)
