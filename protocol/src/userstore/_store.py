"""What :func:`userstore.connect` returns: a store that hands out sessions.

A :class:`Store` owns the connection resources; a :class:`StoreSession` is one
unit of work with a user database (``users``) and an access-token database
(``tokens``) that share it.  Frameworks that bring their own models and sessions
(FastAPI Users with SQLAlchemy, say) use the adapter's database classes directly
and never need these.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from ._fields import IdType
from ._protocol import BaseAccessTokenDatabase, BaseUserDatabase

__all__ = ["Store", "StoreSession"]


class StoreSession(ABC):
    """One unit of work: ``users`` and ``tokens`` share its connection.

    Write methods commit before they return, unless they run inside
    :meth:`transaction`, whose block commits at its end or rolls back on an
    exception, all or nothing.
    """

    users: BaseUserDatabase[Any, Any]
    tokens: BaseAccessTokenDatabase[Any]

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Open a transaction; methods called inside it do not commit on their own."""


class Store(ABC):
    """A connected store: default user, OAuth-account and access-token models on one backend."""

    id_type: IdType
    """Whether user ids are UUIDs (the default) or autoincrement integers."""

    token_digest: bool
    """Whether access tokens are stored as SHA-256 digests instead of in clear."""

    @abstractmethod
    def session(self) -> AbstractAsyncContextManager[StoreSession]:
        """Open a session; it is closed (and any open transaction rolled back) on exit."""

    @abstractmethod
    async def create_schema(self) -> None:
        """Create the store's tables and indexes if they do not exist."""

    @abstractmethod
    async def drop_schema(self) -> None:
        """Drop the store's tables and everything in them."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection the store holds."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
