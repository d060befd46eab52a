"""Fixtures of the fault tests: stores on scratch tables, and killing connections server-side."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from userstore import StoreUnavailable
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from ..backends import Backend
from ..conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url

SERVER_PARAMS = [
    *(pytest.param(name, marks=pytest.mark.backend(name)) for name in ("postgres", "mysql")),
    *DRIVER_PARAMS,
]


@pytest.fixture(params=[*BACKEND_PARAMS, *DRIVER_PARAMS])
def db_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """The URL of one SQL backend, and of each server through its other driver."""
    return backend_url(backend_registry, request.param)


@pytest.fixture(params=SERVER_PARAMS)
def server_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """The URL of the run's PostgreSQL or MySQL database (once for each, and each driver)."""
    return backend_url(backend_registry, request.param)


@pytest_asyncio.fixture
async def admin(server_url: str) -> AsyncIterator[AsyncConnection]:
    """A second connection to the server, in autocommit mode, to kill the store's with."""
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


async def server_pid(connection: AsyncConnection) -> int:
    """The server-side id of ``connection`` (backend pid, MySQL thread id)."""
    if connection.dialect.name == "postgresql":
        statement = "SELECT pg_backend_pid()"
    else:
        statement = "SELECT CONNECTION_ID()"
    return int((await connection.exec_driver_sql(statement)).scalar_one())


async def kill(admin: AsyncConnection, pid: int) -> None:
    """Kill the server's connection ``pid`` (``pg_terminate_backend``, ``KILL``); wait for it."""
    if admin.dialect.name == "postgresql":
        await admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)")
    else:
        await admin.exec_driver_sql(f"KILL {int(pid)}")


async def count_rows(engine: AsyncEngine, table: Any, **where: Any) -> int:
    """Rows of ``table`` matching ``where``, read on a fresh connection (what is committed)."""
    statement = select(func.count()).select_from(table)
    for column, value in where.items():
        statement = statement.where(table.c[column] == value)
    fresh = create_async_engine(engine.url)
    try:
        async with fresh.connect() as connection:
            return int((await connection.execute(statement)).scalar_one())
    finally:
        await fresh.dispose()


@pytest_asyncio.fixture
async def store(server_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A store on scratch tables of the server's database, dropped after the test."""
    async with SQLAlchemyHarness(server_url).open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        yield opened


def table(store: SQLAlchemyStore, kind: str) -> Any:
    """The table of the store's ``user``, ``oauth_account`` or ``access_token`` model."""
    model = getattr(store.models, kind)
    return model.__table__


async def objects_stay_readable(
    store: SQLAlchemyStore,
    cut: Callable[[Any], Awaitable[None]],
    *,
    at_commit: bool,
    raises: type[Exception] = StoreUnavailable,
) -> None:
    """A transaction cut by ``cut(session)`` leaves every object it touched readable.

    The objects: one loaded in the session before the block, one from another
    session, one loaded inside the block, all three updated inside it, and one
    created inside it.  After ``StoreUnavailable`` each attribute reads without I/O
    (an expired one would raise ``MissingGreenlet``) and holds the committed value.
    ``raises`` is the error the block ends with.
    """
    async with store.session() as s:
        first = await s.users.create({"email": "first@x.io", "hashed_password": "h"})
        second = await s.users.create({"email": "second@x.io", "hashed_password": "h"})
        third = await s.users.create({"email": "third@x.io", "hashed_password": "h"})
    async with store.session() as s:
        before = await s.users.get(first.id)
        assert before is not None

        async def block() -> Any:
            async with s.transaction():
                await s.users.update(before, {"is_verified": True})
                await s.users.update(second, {"is_verified": True})  # from another session
                inside = await s.users.get(third.id)
                await s.users.update(inside, {"is_verified": True})
                created = await s.users.create({"email": "new@x.io", "hashed_password": "h"})
                holder.extend([inside, created])
                await cut(s)
                if not at_commit:
                    await s.users.get(third.id)

        holder: list[Any] = []
        with pytest.raises(raises):
            await block()
        inside, created = holder
        for obj in (before, second, inside):
            assert obj.is_verified is False, obj.email
        assert [before.email, second.email, inside.email] == [
            "first@x.io",
            "second@x.io",
            "third@x.io",
        ]
        assert created.email == "new@x.io"
        assert before.oauth_accounts == []
        assert await s.users.get_by_email("new@x.io") is None
