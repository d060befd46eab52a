"""The engine's pool serves callers waiting for a connection in the order they asked.

SQLAlchemy's ``AsyncAdaptedQueuePool`` lets a caller that asks just after a
connection came back take it ahead of those already waiting; under a load that
keeps every connection busy some callers then wait until ``pool_timeout``
(tests/load showed waits of 10-25 s with 30 s as the limit).  ``create_engine``
uses ``FairAsyncQueuePool`` instead.  These tests use SQLite files, whose engines
pool like the servers'.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from userstore_sqlalchemy import create_engine
from userstore_sqlalchemy._pool import FairAsyncQueuePool


def one_connection(path: Path, **options: object) -> AsyncEngine:
    return create_engine(
        f"sqlite+aiosqlite:///{path / 'pool.db'}",
        pool_size=1,
        max_overflow=0,
        pool_timeout=5,
        **options,
    )


async def served_order(engine: AsyncEngine) -> list[str]:
    """A caller waits for the only connection; its holder returns it and asks again at once."""
    order: list[str] = []
    holder = await engine.connect()
    await holder.exec_driver_sql("SELECT 1")

    async def waiter() -> None:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
            order.append("waiting caller")

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0.2)  # the waiter is in line
    await holder.close()
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SELECT 1")
        order.append("later caller")
    await task
    return order


def test_engines_get_the_fair_pool_unless_given_one(tmp_path: Path) -> None:
    assert type(one_connection(tmp_path).sync_engine.pool) is FairAsyncQueuePool
    given = one_connection(tmp_path, poolclass=AsyncAdaptedQueuePool)
    assert type(given.sync_engine.pool) is AsyncAdaptedQueuePool


async def test_a_waiting_caller_is_served_before_a_later_one(tmp_path: Path) -> None:
    engine = one_connection(tmp_path)
    try:
        assert await served_order(engine) == ["waiting caller", "later caller"]
    finally:
        await engine.dispose()


async def test_sqlalchemys_own_pool_serves_the_later_caller_first(tmp_path: Path) -> None:
    """What the fair pool is for: the test above fails with SQLAlchemy's default."""
    engine = one_connection(tmp_path, poolclass=AsyncAdaptedQueuePool)
    try:
        assert await served_order(engine) == ["later caller", "waiting caller"]
    finally:
        await engine.dispose()


async def test_a_wait_times_out_and_the_connection_stays_in_the_pool(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    try:
        holder = await engine.connect()
        await holder.exec_driver_sql("SELECT 1")
        with pytest.raises(sa_exc.TimeoutError):
            await engine.connect()
        await holder.close()
        assert engine.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]
        async with engine.connect() as connection:  # nobody waits for it any more
            assert (await connection.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await engine.dispose()


async def test_a_cancelled_waiter_passes_its_turn_on(tmp_path: Path) -> None:
    engine = one_connection(tmp_path)
    try:
        holder = await engine.connect()
        await holder.exec_driver_sql("SELECT 1")

        async def connect() -> AsyncConnection:
            return await engine.connect()

        cancelled = asyncio.create_task(connect())
        await asyncio.sleep(0.1)
        second = asyncio.create_task(connect())
        await asyncio.sleep(0.1)
        cancelled.cancel()
        await holder.close()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        connection = await asyncio.wait_for(second, 5)
        assert (await connection.exec_driver_sql("SELECT 1")).scalar() == 1
        await connection.close()
        assert engine.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
