"""The abstract databases every adapter implements, and the shapes of what they return.

Method names and signatures are FastAPI Users' ``BaseUserDatabase`` and
``AccessTokenDatabase``, so an application written against FastAPI Users works
unchanged; the extra methods (``remove_oauth_account``, ``delete_for_user``,
``delete_expired``) sit beside them.  Every method is abstract, so an adapter
that misses one fails when its class is instantiated, not when it is first called.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "ID",
    "AP",
    "OAP",
    "UP",
    "AccessTokenProtocol",
    "BaseAccessTokenDatabase",
    "BaseUserDatabase",
    "OAuthAccountProtocol",
    "UserOAuthProtocol",
    "UserProtocol",
]

ID = TypeVar("ID")


class UserProtocol(Protocol[ID]):
    """The attributes of a stored user (custom columns may come on top)."""

    id: ID
    email: str
    hashed_password: str
    is_active: bool
    is_superuser: bool
    is_verified: bool


class OAuthAccountProtocol(Protocol[ID]):
    """The attributes of a linked OAuth account."""

    id: ID
    oauth_name: str
    access_token: str
    expires_at: int | None
    refresh_token: str | None
    account_id: str
    account_email: str


OAP = TypeVar("OAP", bound=OAuthAccountProtocol[Any])


class UserOAuthProtocol(UserProtocol[ID], Protocol[ID, OAP]):
    """A user with its OAuth accounts loaded, in the order they were linked."""

    oauth_accounts: list[OAP]


class AccessTokenProtocol(Protocol[ID]):
    """The attributes of a stored access token; ``created_at`` is timezone-aware UTC."""

    token: str
    user_id: ID
    created_at: dt.datetime


UP = TypeVar("UP", bound=UserProtocol[Any])
AP = TypeVar("AP", bound=AccessTokenProtocol[Any])


class BaseUserDatabase(ABC, Generic[UP, ID]):
    """Users and their OAuth accounts (FastAPI Users' ``BaseUserDatabase``).

    Write methods commit before they return unless the caller opened a
    transaction, in which case the caller's block decides.  Users returned by any
    method carry ``oauth_accounts`` loaded; reading them does no I/O.
    """

    @abstractmethod
    async def get(self, id: ID) -> UP | None:
        """Return the user with this id, or ``None`` (also for a value that is no valid id)."""

    @abstractmethod
    async def list_users(self, *, after: Any = None, limit: int = 100) -> list[UP]:
        """Return at most ``limit`` users whose id comes after ``after``, in id order.

        Keyset paging: ``after=None`` starts at the first user; the id of a page's
        last user as ``after`` returns the next page; an empty list is the end.
        "Id order" is the database's own ``ORDER BY id``, so use only ids a page
        returned.  ``InvalidUserData`` if ``after`` is no id of the store's id type
        or ``limit`` is not an int of at least 1.
        """

    @abstractmethod
    async def get_by_email(self, email: str) -> UP | None:
        """Return the user whose email has the same :func:`~userstore.email_key`, or ``None``."""

    @abstractmethod
    async def get_by_oauth_account(self, oauth: str, account_id: str) -> UP | None:
        """Return the user linked to ``(oauth, account_id)`` (compared exactly), or ``None``."""

    @abstractmethod
    async def create(self, create_dict: dict[str, Any]) -> UP:
        """Store a new user; raise ``UserAlreadyExists`` if its email key is taken."""

    @abstractmethod
    async def update(self, user: UP, update_dict: dict[str, Any]) -> UP:
        """Apply ``update_dict`` to ``user`` and return it; ``UserNotFound`` if it is gone."""

    @abstractmethod
    async def delete(self, user: UP) -> None:
        """Delete ``user`` with its OAuth accounts and access tokens, in one transaction."""

    @abstractmethod
    async def add_oauth_account(self, user: UP, create_dict: dict[str, Any]) -> UP:
        """Link an OAuth account to ``user``; ``OAuthAccountAlreadyLinked`` if linked anywhere."""

    @abstractmethod
    async def update_oauth_account(
        self, user: UP, oauth_account: Any, update_dict: dict[str, Any]
    ) -> UP:
        """Update one linked account of ``user`` and return the user."""

    @abstractmethod
    async def remove_oauth_account(self, user: UP, oauth_account: Any) -> UP:
        """Unlink one account of ``user`` and return the user (a no-op if it is not linked)."""


class BaseAccessTokenDatabase(ABC, Generic[AP]):
    """Access tokens (FastAPI Users' ``AccessTokenDatabase``), with bulk clean-up."""

    @abstractmethod
    async def get_by_token(self, token: str, max_age: dt.datetime | None = None) -> AP | None:
        """Return the token if stored and, given ``max_age``, ``created_at >= max_age``."""

    @abstractmethod
    async def create(self, create_dict: dict[str, Any]) -> AP:
        """Store a token; raise ``AccessTokenAlreadyExists`` if the value is stored already."""

    @abstractmethod
    async def update(self, access_token: AP, update_dict: dict[str, Any]) -> AP:
        """Apply ``update_dict`` to ``access_token`` and return it."""

    @abstractmethod
    async def delete(self, access_token: AP) -> None:
        """Delete the token (a no-op if it is gone already)."""

    @abstractmethod
    async def delete_for_user(self, user_id: Any) -> int:
        """Delete every token of one user; return how many were deleted."""

    @abstractmethod
    async def delete_expired(self, older_than: dt.datetime, *, limit: int | None = None) -> int:
        """Delete every token created strictly before ``older_than``; return the count.

        With ``limit``, delete at most that many, the oldest first (``limit`` below 1
        raises ``InvalidUserData``).  ``older_than`` must be timezone-aware.
        """

    @abstractmethod
    async def count_tokens(self, older_than: dt.datetime | None = None) -> int:
        """Return how many tokens are stored, or were created strictly before ``older_than``.

        ``older_than`` must be timezone-aware (``InvalidUserData`` otherwise).
        """
