"""A PostgreSQL primary with a hot standby: reads on the replica, and still read-your-writes.

docs/scale-out.md: writes go to the primary; a read goes to the replica only when
it has replayed every write this process committed (by WAL position), else to
the primary.  Each step of a user's life runs in a new session, as web requests
do, through both faces: ``connect(url, replicas=[...])`` and FastAPI Users' drop-in
classes on ``async_sessionmaker(sync_session_class=RoutingSession)``.  Not one
stale read; the share of reads the replica served is printed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import userstore
from userstore import ReadOnlyServer, StoreUnavailable
from userstore_sqlalchemy import (
    SQLAlchemyStore,
    SQLAlchemyUserDatabase,
)
from userstore_sqlalchemy.routing import RoutingSession, replica_set

from ._lifecycle import Base, User, through_connect, through_drop_in
from .servers import PrimaryReplica

ROUNDS = int(os.environ.get("USERSTORE_SCALEOUT_ROUNDS", "1000"))


def _url(server_url: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/userstore"


@pytest_asyncio.fixture
async def routed(pg_replica: PrimaryReplica) -> AsyncIterator[SQLAlchemyStore]:
    store = userstore.connect(
        _url(pg_replica.primary.url),
        replicas=[_url(pg_replica.replica.url)],
        table_prefix=f"r{secrets.token_hex(3)}_",
    )
    assert isinstance(store, SQLAlchemyStore)
    try:
        await store.create_schema()
        yield store
    finally:
        await store.drop_schema()
        await store.close()


async def test_read_after_write_through_connect_is_never_stale(routed: SQLAlchemyStore) -> None:
    stale, replica_reads = await through_connect(routed, ROUNDS)
    assert stale == []
    assert replica_reads > 0, "the replica served no read"


@pytest_asyncio.fixture
async def engines(pg_replica: PrimaryReplica) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    primary = create_async_engine(_url(pg_replica.primary.url))
    replica = create_async_engine(_url(pg_replica.replica.url))
    async with primary.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield primary, replica
    finally:
        async with primary.begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
        await primary.dispose()
        await replica.dispose()


async def test_read_after_write_through_the_drop_in_classes_is_never_stale(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    primary, replica = engines
    maker = async_sessionmaker(
        primary, sync_session_class=RoutingSession, replicas=[replica], expire_on_commit=False
    )
    stale, replica_reads = await through_drop_in(
        maker, replica_set(primary, [replica]), max(1, ROUNDS // 2)
    )
    assert stale == []
    assert replica_reads > 0, "the replica served no read"


async def test_reads_after_a_write_in_the_same_transaction_stay_on_the_primary(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    primary, replica = engines
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "routed_user" in statement:
            seen.append("primary" if conn.engine is primary.sync_engine else "replica")

    maker = async_sessionmaker(
        primary, sync_session_class=RoutingSession, replicas=[replica], expire_on_commit=False
    )
    for engine in (primary, replica):
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with maker() as session, session.begin():
            users = SQLAlchemyUserDatabase(session, User)
            user = await users.create({"email": "inside@x.io", "hashed_password": "h"})
            assert await users.get_by_email("inside@x.io") is user
            assert await users.get(user.id) is user
    finally:
        for engine in (primary, replica):
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert seen, "no statement on the tables"
    assert set(seen) == {"primary"}, seen


async def test_a_transaction_the_application_began_reads_the_primary(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    primary, replica = engines
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "routed_user" in statement:
            seen.append("primary" if conn.engine is primary.sync_engine else "replica")

    maker = async_sessionmaker(
        primary, sync_session_class=RoutingSession, replicas=[replica], expire_on_commit=False
    )
    for engine in (primary, replica):
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with maker() as session:
            users = SQLAlchemyUserDatabase(session, User)
            assert await users.get_by_email("nobody@x.io") is None  # outside: the replica
            await session.commit()
            async with session.begin():
                assert await users.get_by_email("nobody@x.io") is None
    finally:
        for engine in (primary, replica):
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert seen == ["replica", "primary"], seen


async def test_every_engine_gets_the_connection_setup(routed: SQLAlchemyStore) -> None:
    async with routed.session() as s:
        await s.users.get_by_email("nobody@x.io")
    for engine in (routed.engine, *routed.replicas):
        async with engine.connect() as connection:
            assert connection.info.get("userstore.prepared"), engine.url


async def test_a_write_on_the_replica_is_read_only_server_naming_it(
    pg_replica: PrimaryReplica, routed: SQLAlchemyStore
) -> None:
    on_replica = userstore.connect(
        _url(pg_replica.replica.url), table_prefix=routed.models.user.__table__.name[:-4]
    )
    try:
        async with on_replica.session() as s:
            with pytest.raises(ReadOnlyServer) as refused:
                await s.users.create({"email": "nope@x.io", "hashed_password": "h"})
    finally:
        await on_replica.close()
    assert isinstance(refused.value, StoreUnavailable)
    assert refused.value.server == f"127.0.0.1:{pg_replica.replica.port}"
    assert refused.value.server in str(refused.value)


async def test_a_replica_that_is_down_leaves_reads_on_the_primary(
    pg_replica: PrimaryReplica,
) -> None:
    """Reads go to the primary while the replica cannot be reached; nothing fails."""
    store = userstore.connect(
        _url(pg_replica.primary.url),
        replicas=["postgresql://postgres@127.0.0.1:1/userstore"],
        table_prefix=f"d{secrets.token_hex(3)}_",
    )
    try:
        await store.create_schema()
        async with store.session() as s:
            user = await s.users.create({"email": "down@x.io", "hashed_password": "h"})
        async with store.session() as s:
            assert await s.users.get(user.id) is not None
    finally:
        await store.drop_schema()
        await store.close()
