"""A MariaDB primary with a read-only GTID replica: reads on the replica, still read-your-writes.

The checks of test_replicas.py on MariaDB: a read goes to the replica only when
``MASTER_GTID_WAIT`` says it has applied ``@@gtid_binlog_pos`` as the primary
gave it after this process's last commit that wrote, else to the primary.  Each
step of a user's life runs in a new session, through ``connect(url, replicas=[...])``
and through FastAPI Users' drop-in classes on ``RoutingSession``.  Not one stale
read; the share of reads the replica served is printed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import userstore
from userstore import ReadOnlyServer, StoreUnavailable
from userstore_sqlalchemy import (
    SQLAlchemyStore,
)
from userstore_sqlalchemy.routing import RoutingSession, replica_set

from ._lifecycle import Base, through_connect, through_drop_in
from .servers import PrimaryReplica

pytestmark = pytest.mark.backend("mariadb-replica")

ROUNDS = int(os.environ.get("USERSTORE_SCALEOUT_ROUNDS", "1000"))


@pytest_asyncio.fixture
async def routed(mariadb_replica: PrimaryReplica) -> AsyncIterator[SQLAlchemyStore]:
    store = userstore.connect(
        mariadb_replica.primary.url,
        replicas=[mariadb_replica.replica.url],
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


async def test_positions_of_two_replication_domains(
    mariadb_replica: PrimaryReplica, routed: SQLAlchemyStore
) -> None:
    """Another writer's transactions in GTID domain 1: the position lists two domains."""
    other = create_async_engine(
        make_url(mariadb_replica.primary.url).set(username="root"), isolation_level="AUTOCOMMIT"
    )
    routes = replica_set(routed.engine, routed.replicas)
    before = dict(routes.reads)
    stale = []
    try:
        async with other.connect() as connection:
            await connection.exec_driver_sql("SET SESSION gtid_domain_id = 1")
            for n in range(max(1, ROUNDS // 10)):
                await connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS domain1 (n INT)")
                await connection.exec_driver_sql(f"INSERT INTO domain1 VALUES ({n})")
                async with routed.session() as s:
                    user = await s.users.create({"email": f"d{n}@x.io", "hashed_password": "h"})
                async with routed.session() as s:
                    if await s.users.get(user.id) is None:
                        stale.append(n)
            await connection.exec_driver_sql("DROP TABLE domain1")
    finally:
        await other.dispose()
    domains = {gtid.split("-")[0] for gtid in str(routes.position()).split(",")}
    replica = routes.reads["replica"] - before["replica"]
    print(f"\ntwo domains: {routes.position()}, {len(stale)} stale, {replica} on the replica")
    assert domains == {"0", "1"}, routes.position()
    assert stale == []
    assert replica > 0


@pytest_asyncio.fixture
async def engines(
    mariadb_replica: PrimaryReplica,
) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    primary = create_async_engine(mariadb_replica.primary.url)
    replica = create_async_engine(mariadb_replica.replica.url)
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


async def test_every_engine_gets_the_connection_setup(routed: SQLAlchemyStore) -> None:
    async with routed.session() as s:
        await s.users.get_by_email("nobody@x.io")
    for engine in (routed.engine, *routed.replicas):
        async with engine.connect() as connection:
            assert connection.info.get("userstore.prepared"), engine.url
            result = await connection.exec_driver_sql(
                "SELECT @@session.sql_mode, @@session.time_zone"
            )
            sql_mode, time_zone = result.one()
            assert "STRICT_ALL_TABLES" in sql_mode.split(","), (engine.url, sql_mode)
            assert time_zone == "+00:00", (engine.url, time_zone)


async def _replica_caught_up(pair: PrimaryReplica) -> None:
    """Wait (10 s at most) until the replica has applied what the primary holds now."""
    primary, replica = create_async_engine(pair.primary.url), create_async_engine(pair.replica.url)
    try:
        async with primary.connect() as connection:
            position = (await connection.exec_driver_sql("SELECT @@gtid_binlog_pos")).scalar()
        async with replica.connect() as connection:
            waited = await connection.exec_driver_sql(
                "SELECT MASTER_GTID_WAIT(%s, 10)", (str(position),)
            )
            assert waited.scalar() == 0, f"the replica has not applied {position}"
    finally:
        await primary.dispose()
        await replica.dispose()


async def test_a_write_on_the_replica_is_read_only_server_naming_it(
    mariadb_replica: PrimaryReplica, routed: SQLAlchemyStore
) -> None:
    await _replica_caught_up(mariadb_replica)  # the tables are there: the write gets to INSERT
    on_replica = userstore.connect(
        mariadb_replica.replica.url, table_prefix=routed.models.user.__table__.name[:-4]
    )
    try:
        async with on_replica.session() as s:
            with pytest.raises(ReadOnlyServer) as refused:
                await s.users.create({"email": "nope@x.io", "hashed_password": "h"})
    finally:
        await on_replica.close()
    assert isinstance(refused.value, StoreUnavailable)
    assert refused.value.server == f"127.0.0.1:{mariadb_replica.replica.port}"
    assert refused.value.server in str(refused.value)


async def test_a_replica_that_is_down_leaves_reads_on_the_primary(
    mariadb_replica: PrimaryReplica,
) -> None:
    """Reads go to the primary while the replica cannot be reached; nothing fails."""
    store = userstore.connect(
        mariadb_replica.primary.url,
        replicas=["mysql+aiomysql://userstore@127.0.0.1:1/userstore"],
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
