"""What a memory store returns, the state it keeps, and small helpers its parts share."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

from .._errors import InvalidUserData


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


def _check_positive(field: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidUserData(field, "must be an int of at least 1")


def _without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
