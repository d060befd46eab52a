"""The conformance-suite harness for SQLAlchemy stores: ``SQLAlchemyHarness(url)``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from userstore import IdType, Store, StoreSession
from userstore.testing import Harness, StatementCount

from .dialects import POSITION_MARK, shim_for
from .store import SQLAlchemyStore, SQLAlchemyStoreSession

__all__ = ["SQLAlchemyHarness"]

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SET ")


class SQLAlchemyHarness(Harness):
    """Runs each case in scratch tables (a random prefix) of the database at ``url``.

    The tables are dropped after each case; the application's tables are never touched.
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine_options = engine_options
        self.name = url.partition("://")[0]
        self.run_prefix = f"us_{secrets.token_hex(4)}_"
        """The prefix of every scratch table of this harness: ``us_<8 hex>_<n>_``."""
        self._stores = 0
        self.scratch_description = (
            f"tables {self.run_prefix}<n>_user, _oauth_account and _accesstoken "
            "(n counts the rules), created before each rule and dropped after it"
        )

    @asynccontextmanager
    async def open_store(
        self, *, id_type: IdType = "uuid", token_digest: bool = False
    ) -> AsyncIterator[Store]:
        """Yield a store on fresh scratch tables; drop them after."""
        self._stores += 1
        prefix = f"{self.run_prefix}{self._stores}_"
        store = SQLAlchemyStore(
            self.url,
            id_type=id_type,
            token_digest=token_digest,
            table_prefix=prefix,
            **self.engine_options,
        )
        try:
            await store.create_schema()
            yield store
        finally:
            try:
                await store.drop_schema()
            finally:
                await store.close()

    async def sever(self, session: StoreSession) -> None:
        """Kill the session's connections server-side (SQLite: close them under the pool).

        With replicas, its connection to each server: the next call fails on
        whichever it goes to.
        """
        assert isinstance(session, SQLAlchemyStoreSession)
        engines = [session.session.sync_session.get_bind()]
        routes = getattr(session.session.sync_session, "replica_set", None)
        if routes is not None:
            engines = [routes.primary, *routes.replicas]
        for engine in engines:
            connection = await session.session.connection(bind_arguments={"bind": engine})
            # a connection of its own: the pool may hold one an earlier sever killed
            killer = create_async_engine(connection.engine.url, poolclass=NullPool)
            try:
                async with killer.connect() as admin:
                    await shim_for(engine.dialect).sever(connection, admin)
            finally:
                await killer.dispose()

    @contextmanager
    def count_statements(self, store: Store) -> Iterator[StatementCount]:
        """Count statements other than transaction control and connection setup.

        With replicas, on every engine; the queries that compare replica positions
        (:mod:`userstore_sqlalchemy.routing`) are not the operation's and not counted.
        """
        assert isinstance(store, SQLAlchemyStore)
        counter = StatementCount()

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not statement.lstrip().upper().startswith(_CONTROL) and not statement.startswith(
                POSITION_MARK
            ):
                counter.count += 1

        engines = [e.sync_engine for e in (store.engine, *store.replicas)]
        for engine in engines:
            event.listen(engine, "before_cursor_execute", count)
        try:
            yield counter
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", count)

    async def stored_tokens(self, store: Store) -> set[str]:
        """Read the token column as stored."""
        assert isinstance(store, SQLAlchemyStore)
        assert store.models.access_token is not None
        table = store.models.access_token.__table__
        async with store.engine.connect() as connection:
            rows = await connection.execute(select(table.c.token))
            return {row[0] for row in rows}
