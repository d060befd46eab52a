"""A connection the application gave its own isolation level still reads committed data later.

MySQL's default, REPEATABLE READ, would let a session's lookups keep reading the
snapshot of its first one; the MySQL shim runs connections in READ COMMITTED, so
that every backend's lookups see what other sessions committed meanwhile.  An
application may set a level on one connection (``isolation_level`` execution
option); SQLAlchemy then restores the dialect's *default* level when the
connection returns to the pool.  That must be the level userstore runs in, not
the server's REPEATABLE READ, or the next session on that connection reads stale
rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .conftest import table


@pytest_asyncio.fixture
async def one_connection(db_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A store whose pool holds one connection, so each session gets the same one."""
    harness = SQLAlchemyHarness(db_url, pool_size=1, max_overflow=0)
    async with harness.open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        yield opened


@pytest_asyncio.fixture
async def other_writer(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine of another application writing to the same database."""
    engine = create_async_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _verify_elsewhere(engine: AsyncEngine, users: Any, user_id: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(users).where(users.c.id == user_id).values(is_verified=True)
        )


async def test_lookups_see_other_commits_after_a_custom_isolation_level(
    one_connection: SQLAlchemyStore, other_writer: AsyncEngine
) -> None:
    store = one_connection
    users = table(store, "user")
    async with store.session() as s:
        alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
    async with store.session() as s:
        # the application's own choice, for one unit of work on this connection
        await s.session.connection(execution_options={"isolation_level": "SERIALIZABLE"})
        assert await s.users.get(alice.id) is not None
    async with store.session() as s:  # the same connection, back from the pool
        before = await s.users.get(alice.id)
        assert before is not None
        assert not before.is_verified
        await _verify_elsewhere(other_writer, users, alice.id)
        after = await s.users.get_by_email("alice@x.io")
        assert after is not None
        assert after.is_verified, "the lookup read a stale snapshot"


async def test_lookups_see_other_commits(
    one_connection: SQLAlchemyStore, other_writer: AsyncEngine
) -> None:
    """The same without a custom level: the shim's setup holds (the reference case)."""
    store = one_connection
    users = table(store, "user")
    async with store.session() as s:
        alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
        assert await s.users.get(alice.id) is not None
        await _verify_elsewhere(other_writer, users, alice.id)
        after = await s.users.get_by_email("alice@x.io")
        assert after is not None
        assert after.is_verified


async def test_the_engines_own_isolation_level_is_kept(db_url: str) -> None:
    """``isolation_level`` given to the engine is the application's choice: userstore's
    setup leaves it, for its own statements and for the application's."""
    harness = SQLAlchemyHarness(db_url, isolation_level="SERIALIZABLE")
    async with harness.open_store() as store:
        assert isinstance(store, SQLAlchemyStore)
        async with store.session() as s:
            alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
            assert await s.users.get_by_email("alice@x.io") is not None
            await s.users.update(alice, {"is_verified": True})
            connection = await s.session.connection()
            assert await connection.get_isolation_level() == "SERIALIZABLE"
