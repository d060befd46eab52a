"""Fixtures of the adapter's own tests: the tutorial's plain engine, tables, statement logs.

Tables here carry the tutorial's names ("user", "oauth_account", "accesstoken"),
shared by every module in the run's scratch database, so each test creates the
tables it needs and drops them afterwards, failed or not.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import MetaData, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .tutorial import Base

_LOCK_TIMEOUT = {
    "postgresql": "SET lock_timeout = '10s'",
    "mysql": "SET SESSION lock_wait_timeout = 10",
    "mariadb": "SET SESSION lock_wait_timeout = 10",
}


@pytest_asyncio.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A plain engine, made as FastAPI Users' tutorial makes it: ``create_async_engine(url)``."""
    engine = create_async_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _drop(connection: AsyncConnection, metadata: MetaData) -> None:
    # a test that failed with a transaction open must not hang the drop forever
    setting = _LOCK_TIMEOUT.get(connection.dialect.name)
    if setting:
        await connection.exec_driver_sql(setting)
    await connection.run_sync(metadata.drop_all)


@contextlib.asynccontextmanager
async def created(engine: AsyncEngine, metadata: MetaData) -> AsyncIterator[None]:
    """Create the tables of ``metadata``; drop them on exit, also after a failure."""
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield
    finally:
        await engine.dispose()  # pooled connections let go of their locks
        async with engine.begin() as connection:
            await _drop(connection, metadata)


@pytest.fixture
def metadata() -> MetaData:
    """The tables a test needs; a module overrides this to use other models."""
    return Base.metadata


@pytest_asyncio.fixture
async def tables(engine: AsyncEngine, metadata: MetaData) -> AsyncIterator[None]:
    """The tables of ``metadata``, created for the test and dropped after it."""
    async with created(engine, metadata):
        yield


@dataclasses.dataclass
class StatementLog:
    """What an engine sends: each statement's first word, and ``COMMIT`` for each commit."""

    events: list[str] = dataclasses.field(default_factory=list)
    statements: list[tuple[str, Any]] = dataclasses.field(default_factory=list)

    @contextlib.contextmanager
    def measure(self) -> Iterator[list[str]]:
        """Yield a new list of the events sent inside the block (filled in as they happen)."""
        self.events, self.statements = [], []
        yield self.events


@pytest.fixture
def log(engine: AsyncEngine) -> Iterator[StatementLog]:
    """Every statement and commit ``engine`` sends during the test."""
    recorded = StatementLog()

    def on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        recorded.events.append(statement.split(None, 1)[0].upper())
        recorded.statements.append((statement, parameters))

    def on_commit(conn: Any) -> None:
        recorded.events.append("COMMIT")

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", on_execute)
    event.listen(sync_engine, "commit", on_commit)
    try:
        yield recorded
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_execute)
        event.remove(sync_engine, "commit", on_commit)
