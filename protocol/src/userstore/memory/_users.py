"""Users and their OAuth accounts in a memory store."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from .._errors import InvalidUserData, OAuthAccountAlreadyLinked, UserAlreadyExists, UserNotFound
from .._fields import coerce_id, email_key, lookup_email_key, lookup_string
from .._protocol import BaseUserDatabase
from ._objects import (
    _OAUTH_DEFAULTS,
    _USER_DEFAULTS,
    MemoryUser,
    _account_object,
    _check_positive,
    _user_object,
)

if TYPE_CHECKING:
    from ._store import MemorySession


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
