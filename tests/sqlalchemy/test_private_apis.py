"""The non-public SQLAlchemy and driver behaviour the adapter leans on, pinned.

Each mechanism below has no public API that does its job (the reason is at the
mechanism's code).  These tests fail when the library changes what it relies on,
so the change is seen in CI and not as a silent loss in production.
"""

from __future__ import annotations

import inspect
import logging

import aiosqlite.core
import pytest
from sqlalchemy import text
from sqlalchemy.engine import default
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool
from sqlalchemy.util import queue as sa_queue

from userstore_sqlalchemy import create_engine
from userstore_sqlalchemy._pool import FairAsyncQueuePool, _HandOffQueue
from userstore_sqlalchemy.engine import _VALUE_RECORDS


def test_queue_pool_builds_its_queue_from_queue_class() -> None:
    """FairAsyncQueuePool swaps the queue through ``_queue_class``."""
    assert "_queue_class" in vars(AsyncAdaptedQueuePool)
    assert "self._queue_class(" in inspect.getsource(QueuePool.__init__)
    pool = FairAsyncQueuePool(lambda: None, pool_size=2)
    assert type(pool._pool) is _HandOffQueue
    for name in ("get", "put", "empty", "full", "qsize"):
        assert callable(getattr(sa_queue.QueueCommon, name)), name


async def test_the_log_formats_the_value_filter_knows_are_still_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLAlchemy's row record and aiosqlite's call records keep their format strings."""
    sources = inspect.getsource(aiosqlite.core)
    for record in ("executing %s", "operation %s completed"):
        assert f'"{record}"' in sources, record
    engine = create_async_engine("sqlite+aiosqlite://", echo="debug")
    try:
        with caplog.at_level(logging.DEBUG):
            async with engine.connect() as connection:
                (await connection.execute(text("SELECT 'stored value'"))).all()
        seen = {r.msg for r in caplog.records if isinstance(r.msg, str)}
        assert "Row %r" in seen
    finally:
        await engine.dispose()
    assert {"Row %r", "executing %s", "operation %s completed"} <= _VALUE_RECORDS


async def test_the_filter_hides_those_records(caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine("sqlite+aiosqlite://", echo="debug")
    try:
        with caplog.at_level(logging.DEBUG):
            async with engine.connect() as connection:
                (await connection.execute(text("SELECT 'stored value'"))).all()
    finally:
        await engine.dispose()
    rows = [r for r in caplog.records if "Row" in str(r.msg)]
    assert rows
    assert all("stored value" not in r.getMessage() for r in rows)


def test_default_isolation_level_is_what_the_pool_restores() -> None:
    """The MySQL shim sets ``default_isolation_level``; SQLAlchemy resets to it on return."""
    assert "default_isolation_level" in inspect.getsource(
        default.DefaultDialect.reset_isolation_level
    )


def test_where_the_engine_keeps_its_isolation_level() -> None:
    """``engine_isolation_level`` reads the level ``create_engine`` was given from the dialect."""
    from userstore_sqlalchemy.dialects._base import engine_isolation_level

    given = create_async_engine("sqlite+aiosqlite://", isolation_level="SERIALIZABLE")
    spelt = create_async_engine("sqlite+aiosqlite://", isolation_level="read_uncommitted")
    plain = create_async_engine("sqlite+aiosqlite://")
    try:
        assert given.sync_engine.dialect._on_connect_isolation_level == "SERIALIZABLE"  # type: ignore[attr-defined]
        assert engine_isolation_level(given.sync_engine.dialect) == "SERIALIZABLE"
        assert engine_isolation_level(spelt.sync_engine.dialect) == "READ UNCOMMITTED"
        assert engine_isolation_level(plain.sync_engine.dialect) is None
    finally:
        for engine in (given, spelt, plain):
            engine.sync_engine.dispose()


async def test_a_session_transaction_keeps_its_connections_by_engine() -> None:
    """``holds_no_connection`` reads ``SessionTransaction._connections``: empty until a
    statement (or ``session.connection()``) needs one, filled after."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from userstore_sqlalchemy._autocommit import holds_no_connection

    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with AsyncSession(engine) as session:
            sync_session = session.sync_session
            assert holds_no_connection(sync_session)
            transaction = sync_session.begin()  # begun: no connection until one is needed
            assert transaction._connections == {}
            sync_session.close()
            await session.connection()
            transaction = sync_session.get_transaction()
            assert transaction is not None
            assert transaction._connections
            assert not holds_no_connection(sync_session)
    finally:
        await engine.dispose()


def test_what_lookups_sent_through_the_driver_lean_on() -> None:
    """``_direct.py``: an instance made without ``__init__``, as the ORM's loading makes
    it; a compiled statement's bind order and binds; a ``Connection`` over a pooled
    connection taken with ``raw_connection()``; ``await_only`` in the greenlet."""
    from sqlalchemy import Column, Integer, String, bindparam, select
    from sqlalchemy.dialects.postgresql import asyncpg
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import DeclarativeBase, attributes
    from sqlalchemy.util import await_only

    class Base(DeclarativeBase):
        pass

    class Thing(Base):
        __tablename__ = "thing"
        id = Column(Integer, primary_key=True)
        name = Column(String(10))

        def __init__(self) -> None:
            raise AssertionError("loading calls no __init__")

    made = Thing.__mapper__.class_manager.new_instance()
    assert not {"id", "name"} & set(attributes.instance_state(made).dict)
    compiled = (
        select(Thing.id).where(Thing.name == bindparam("name")).compile(dialect=asyncpg.dialect())
    )
    assert compiled.positiontup == ["name"]
    assert set(compiled.binds) == {"name"}
    assert "connection" in inspect.signature(Connection.__init__).parameters
    assert callable(await_only)
