"""The throwaway clusters themselves: what the scale-out tests rely on them for."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from .servers import GaleraCluster, PrimaryReplica


async def _scalar(url: str, *statements: str) -> object:
    """The first column of the first row of the last statement, on a connection of its own."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            result = None
            for statement in statements:
                result = await connection.exec_driver_sql(statement)
            assert result is not None
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


@pytest.mark.backend("galera")
async def test_galera_nodes_are_one_cluster(galera: GaleraCluster) -> None:
    for node in galera.nodes:
        size = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
        size += " WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'"
        assert await _scalar(node.url, size) == "3"
        assert await _scalar(node.url, "SELECT @@auto_increment_increment") == 3
        assert await _scalar(node.url, "SELECT DATABASE()") == "userstore"


@pytest.mark.backend("galera")
async def test_galera_node_killed_rejoins_with_what_it_missed(fresh_galera: GaleraCluster) -> None:
    first, _, third = fresh_galera.nodes
    await _scalar(first.url, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    third.kill()
    await _scalar(first.url, "INSERT INTO t VALUES (2)")  # waits for the dead node's eviction
    third.start()  # recovers its seqno, rejoins by IST, waits for Synced in a cluster of 3
    assert await _scalar(third.url, "SELECT COUNT(*) FROM t") == 2
    assert "WSREP: Recovered position" in (third.root / "recover.log").read_text()


@pytest.mark.backend("postgres-replica")
async def test_postgres_standby_follows_the_primary(pg_replica: PrimaryReplica) -> None:
    primary, replica = (
        make_url(server.url).set(database="userstore").render_as_string(hide_password=False)
        for server in (pg_replica.primary, pg_replica.replica)
    )
    assert await _scalar(replica, "SELECT pg_is_in_recovery()") is True
    await _scalar(primary, "CREATE TABLE IF NOT EXISTS t (id int)", "INSERT INTO t VALUES (1)")
    lsn = await _scalar(primary, "SELECT pg_current_wal_lsn()::text")
    wait = f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"
    for _ in range(100):
        if await _scalar(replica, wait):
            break
        await asyncio.sleep(0.05)
    assert await _scalar(replica, "SELECT count(*) FROM t") == 1


@pytest.mark.backend("mariadb-replica")
async def test_mariadb_replica_follows_the_primary(mariadb_replica: PrimaryReplica) -> None:
    primary, replica = mariadb_replica.primary.url, mariadb_replica.replica.url
    assert await _scalar(replica, "SELECT @@read_only") == 1
    await _scalar(primary, "CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)")
    position = await _scalar(primary, "SELECT @@gtid_binlog_pos")
    assert await _scalar(replica, f"SELECT MASTER_GTID_WAIT('{position}', 10)") == 0
    assert await _scalar(replica, "SELECT COUNT(*) FROM t") == 1
    await _scalar(primary, "DROP TABLE t")


@pytest.mark.backend("mariadb-replica")
async def test_mariadb_replica_killed_catches_up_when_started(
    mariadb_replica: PrimaryReplica,
) -> None:
    primary, replica = mariadb_replica.primary, mariadb_replica.replica
    await _scalar(primary.url, "CREATE TABLE k (id INT PRIMARY KEY)", "INSERT INTO k VALUES (1)")
    try:
        replica.kill()
        await _scalar(primary.url, "INSERT INTO k VALUES (2)")
        position = await _scalar(primary.url, "SELECT @@gtid_binlog_pos")
        replica.start()  # the replication threads start again by themselves
        assert await _scalar(replica.url, f"SELECT MASTER_GTID_WAIT('{position}', 10)") == 0
        assert await _scalar(replica.url, "SELECT COUNT(*) FROM k") == 2
    finally:
        if not replica.running:  # the session's other tests share the pair
            replica.start()
        await _scalar(primary.url, "DROP TABLE k")
