"""Access tokens in a memory store."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from .._errors import AccessTokenAlreadyExists, InvalidUserData, UserNotFound
from .._fields import Schema, check_aware_datetime, coerce_id, lookup_string, token_digest
from .._protocol import BaseAccessTokenDatabase
from ._objects import MemoryAccessToken, _check_positive, _now, _without

if TYPE_CHECKING:
    from ._store import MemorySession


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
