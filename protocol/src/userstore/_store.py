"""What :func:`userstore.connect` returns: a store that hands out sessions.

A :class:`Store` owns the connection resources; a :class:`StoreSession` is one
unit of work with a user database (``users``) and an access-token database
(``tokens``) that share it.  Frameworks that bring their own models and sessions
(FastAPI Users with SQLAlchemy, say) use the adapter's database classes directly
and never need these.

A store whose tables an older schema made (fastapi-users-db-sqlalchemy 7's, for
the SQLAlchemy adapter) brings them up to date in place with
:meth:`Store.upgrade_schema`, which reports what it did in a
:class:`SchemaUpgrade` (``userstore upgrade`` prints it).

Beside the FastAPI Users methods of ``users`` and ``tokens``, a session has three
methods for administration (the ``userstore`` command uses them): keyset paging
through every user (:meth:`StoreSession.list_users`), and counting and purging old
access tokens in committed batches (:meth:`StoreSession.count_tokens`,
:meth:`StoreSession.purge_tokens`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from ._errors import InvalidUserData
from ._fields import IdType
from ._protocol import BaseAccessTokenDatabase, BaseUserDatabase

__all__ = ["SchemaConflict", "SchemaUpgrade", "Store", "StoreSession", "UpgradeProgress"]


@dataclasses.dataclass(frozen=True)
class SchemaConflict:
    """Rows that break a rule of the new schema, so the upgrade cannot keep them all.

    ``key`` is what they share (an email key, an ``(oauth_name, account_id)``
    pair, the id of a user that no longer exists); ``rows`` holds each row's
    primary key and the stored values the key came from; ``reason`` says which
    rule they break and what the row values are.
    """

    table: str
    reason: str
    key: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclasses.dataclass(frozen=True)
class SchemaUpgrade:
    """What :meth:`Store.upgrade_schema` found, and did or (``dry_run``) would do.

    ``found`` names the schema it found (``fastapi-users-db-sqlalchemy 7``,
    ``userstore``...).  ``steps`` are the changes, one line each: taken, or on a
    dry run planned; empty when the schema is up to date.  ``conflicts`` are the
    rows in the way: when there are any, nothing was changed.  ``remaining``
    lists what the tables still lack after the upgrade (what the adapter cannot
    change for you).
    """

    found: str
    steps: tuple[str, ...] = ()
    conflicts: tuple[SchemaConflict, ...] = ()
    remaining: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        """Whether the database was changed."""
        return bool(self.steps) and not self.dry_run and not self.conflicts


UpgradeProgress = Callable[[str, int, int], None]
"""Told ``(what, done, total)`` as an upgrade works through a table's rows."""


class StoreSession(ABC):
    """One unit of work: ``users`` and ``tokens`` share its connection.

    Write methods commit before they return, unless they run inside
    :meth:`transaction`, whose block commits at its end or rolls back on an
    exception, all or nothing.  A session is one task's unit of work: use it from
    one task at a time.
    """

    users: BaseUserDatabase[Any, Any]
    tokens: BaseAccessTokenDatabase[Any]

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Open a transaction; methods called inside it do not commit on their own.

        The block commits at its end, or rolls back on an exception, which then
        passes through unchanged: all or nothing.

        Opened inside another transaction block of the same session, it is a
        savepoint: an exception in it undoes that block's own writes only and
        passes through; the caller may catch it and go on with the enclosing
        block, whose later writes commit with it.  A block that succeeds commits
        only when the outermost block does, and is undone with it if that one
        fails.  A typed refusal (``UserAlreadyExists`` from a create, say) ending
        an inner block is such an exception.  Blocks nest to any depth, each one a
        savepoint of the block around it::

            async with session.transaction():
                user = await session.users.create(...)
                try:
                    async with session.transaction():
                        await session.users.add_oauth_account(user, ...)
                        await session.tokens.create(...)
                except UserStoreError:
                    pass  # the account and the token are undone; the user is kept

        A lost connection (``StoreUnavailable``) inside any level loses the whole
        transaction: the outermost block then raises ``StoreUnavailable`` at its
        end and commits nothing.
        """

    async def list_users(self, *, after: Any = None, limit: int = 100) -> list[Any]:
        """Return at most ``limit`` users whose id comes after ``after``, in id order.

        Keyset paging: ``after=None`` starts at the first user; passing the id of the
        last user of a page returns the next page; an empty list means the end.  Each
        page is one statement (``WHERE id > :after ORDER BY id LIMIT :limit``), so it
        costs the same at any depth, and users created or deleted meanwhile never make
        a page repeat or skip another user.  "Id order" is the database's own
        ``ORDER BY id``, which need not be Python's (MariaDB orders native UUIDs by
        their last group first): use only ids a page returned as ``after``.  Users
        come with ``oauth_accounts`` loaded, as from every other method.  Raises
        ``InvalidUserData`` if ``after`` is not an id of the store's id type or
        ``limit`` is below 1.
        """
        return await self.users.list_users(after=after, limit=limit)

    async def count_tokens(self, older_than: dt.datetime | None = None) -> int:
        """Return how many access tokens are stored (only those created before ``older_than``).

        ``older_than`` is exclusive, as in ``tokens.delete_expired``, and must be
        timezone-aware (``InvalidUserData`` otherwise).
        """
        return await self.tokens.count_tokens(older_than)

    async def purge_tokens(
        self, older_than: dt.datetime, *, batch_size: int = 1000
    ) -> AsyncIterator[int]:
        """Delete the tokens created before ``older_than`` in batches; yield each batch's count.

        Each batch deletes at most ``batch_size`` tokens, the oldest first, in one
        statement, and commits before it is yielded, so a purge over millions of rows
        holds no long transaction, and what it deleted stays deleted if it is
        interrupted.  Inside :meth:`transaction` the batches join that transaction
        instead.  The iteration ends after the first batch that deletes fewer than
        ``batch_size`` (it is yielded if it deleted any).  ``older_than`` is exclusive
        and must be timezone-aware; ``batch_size`` below 1 raises ``InvalidUserData``.

        This loop is written once, here, on ``tokens.delete_expired(limit=)``.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidUserData("batch_size", "must be an int of at least 1")
        while True:
            deleted = await self.tokens.delete_expired(older_than, limit=batch_size)
            if deleted:
                yield deleted
            if deleted < batch_size:
                return


class Store(ABC):
    """A connected store: user, OAuth-account and access-token models on one backend.

    The models are the adapter's defaults.  An adapter with models of its own kind
    may take the application's through the ``models`` option of
    :func:`userstore.connect` (SQLAlchemy: the application's declarative base,
    whose mapped classes built on the adapter's user, OAuth-account and
    access-token mixins it uses; the OAuth-account and access-token ones are
    optional); ``id_type`` then follows the application's user model.
    """

    id_type: IdType
    """Whether user ids are UUIDs (the default) or autoincrement integers."""

    token_digest: bool
    """Whether access tokens are stored as SHA-256 digests instead of in clear."""

    @abstractmethod
    def session(self) -> AbstractAsyncContextManager[StoreSession]:
        """Open a session; it is closed (and any open transaction rolled back) on exit."""

    @abstractmethod
    async def create_schema(self) -> None:
        """Create the store's tables and indexes if they do not exist.

        Tables that exist but lack what the store needs raise ``SchemaOutdated``
        (after the missing ones were created), naming what fixes them.
        """

    async def upgrade_schema(
        self, *, dry_run: bool = False, progress: UpgradeProgress | None = None
    ) -> SchemaUpgrade:
        """Bring tables made by an older schema up to this store's, in place, every row kept.

        With ``dry_run`` nothing is changed and the steps are the ones it would
        take.  Rows that the new schema's rules cannot all keep (two emails with
        one email key, say) are returned as ``conflicts``, and then nothing is
        changed either.  ``progress`` is told how far it got through large tables.
        An adapter with a single schema has nothing to upgrade: this default says so.
        """
        return SchemaUpgrade(found="the adapter's only schema")

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
