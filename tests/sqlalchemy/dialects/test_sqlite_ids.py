"""SQLite hands out no integer id twice, whoever rolls back and whoever waits to write.

``sqlite_sequence`` (the counters of AUTOINCREMENT tables) is rolled back with
the transaction that raised it, so without the shim the next insert would get a
rolled-back id.  The shim turns the rollback of a transaction that inserted into
"undo the work, keep the counters, commit that" without letting go of the write
lock, so a writer waiting for the lock meanwhile gets a new id too.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from userstore import connect
from userstore_sqlalchemy import SQLAlchemyStore, SQLAlchemyUserDatabase, build_models

from ...backends import Backend
from ...conftest import backend_url

pytestmark = pytest.mark.backend("sqlite")


class RolledBack(Exception):
    pass


def user(email: str) -> dict[str, Any]:
    return {"email": email, "hashed_password": "h"}


@pytest.fixture
def sqlite_url(backend_registry: dict[str, Backend]) -> str:
    return backend_url(backend_registry, "sqlite")


@pytest_asyncio.fixture
async def store(sqlite_url: str) -> AsyncIterator[SQLAlchemyStore]:
    prefix = f"ids_{secrets.token_hex(3)}_"
    opened = SQLAlchemyStore(sqlite_url, id_type="int", table_prefix=prefix)
    await opened.create_schema()
    try:
        yield opened
    finally:
        await opened.drop_schema()
        await opened.close()


async def test_a_writer_waiting_for_the_lock_gets_a_new_id(store: SQLAlchemyStore) -> None:
    """The rolled-back transaction keeps the write lock until its counters are back up."""
    async with store.session() as holder, store.session() as waiter:
        with contextlib.suppress(RolledBack):
            async with holder.transaction():
                lost = await holder.users.create(user("lost@example.com"))
                waiting = asyncio.ensure_future(waiter.users.create(user("waiter@example.com")))
                await asyncio.sleep(0.3)
                assert not waiting.done(), "the second writer did not wait for the lock"
                raise RolledBack
        created = await waiting
    assert created.id > lost.id


POLLER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
print("ready", flush=True)
while True:
    try:
        connection.execute("BEGIN IMMEDIATE")
        break
    except sqlite3.OperationalError:
        pass
cursor = connection.execute(
    f'INSERT INTO "{sys.argv[2]}" (email, email_key, hashed_password, is_active, '
    "is_superuser, is_verified) VALUES ('p@x.io', 'p@x.io', 'h', 1, 0, 0)"
)
connection.execute("COMMIT")
print(cursor.lastrowid, flush=True)
"""


async def test_a_writer_polling_for_the_lock_gets_a_new_id(store: SQLAlchemyStore) -> None:
    """Another process's writer that grabs the lock the instant it is free finds no gap."""
    path = store.engine.url.database
    assert path
    table = store.models.user.__table__.name
    async with store.session() as s:
        with contextlib.suppress(RolledBack):
            async with s.transaction():
                lost = await s.users.create(user("lost@example.com"))
                poller = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", POLLER, path, table, stdout=asyncio.subprocess.PIPE
                )
                assert poller.stdout is not None
                assert await poller.stdout.readline() == b"ready\n"
                await asyncio.sleep(0.05)
                raise RolledBack
        polled = int(await poller.stdout.readline())
        await poller.wait()
        kept = await s.users.create(user("kept@example.com"))
    assert lost.id < polled < kept.id


async def test_counters_of_tables_first_written_in_the_rolled_back_transaction(
    store: SQLAlchemyStore,
) -> None:
    """The tables had no row in sqlite_sequence before: the shim adds it."""
    async with store.session() as s:
        with contextlib.suppress(RolledBack):
            async with s.transaction():
                lost = await s.users.create(user("lost@example.com"))
                lost = await s.users.add_oauth_account(
                    lost,
                    {
                        "oauth_name": "github",
                        "account_id": "1",
                        "account_email": "a@x.io",
                        "access_token": "t",
                    },
                )
                lost_account_id = lost.oauth_accounts[0].id  # the rollback unlinks it
                raise RolledBack
        kept = await s.users.create(user("kept@example.com"))
        counters = await s.session.execute(  # type: ignore[attr-defined]
            text("SELECT name, seq FROM sqlite_sequence WHERE name LIKE :p"),
            {"p": f"{store.models.user.__table__.name.removesuffix('user')}%"},
        )
    assert kept.id > lost.id
    assert dict(counters.all()) == {
        store.models.user.__table__.name: kept.id,
        store.models.oauth_account.__table__.name: lost_account_id,  # type: ignore[union-attr]
    }


async def test_an_in_memory_database() -> None:
    async with connect("sqlite+aiosqlite://", id_type="int") as memory_store:
        await memory_store.create_schema()
        async with memory_store.session() as s:
            with contextlib.suppress(RolledBack):
                async with s.transaction():
                    lost = await s.users.create(user("lost@example.com"))
                    raise RolledBack
            kept = await s.users.create(user("kept@example.com"))
    assert kept.id > lost.id


@pytest_asyncio.fixture
async def begin_recipe_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """SQLAlchemy's recipe for SQLite savepoints: the driver in autocommit, BEGIN sent on begin."""
    engine = create_async_engine(sqlite_url)

    @event.listens_for(engine.sync_engine, "connect")
    def autocommit_driver(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def emit_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    yield engine
    await engine.dispose()


async def test_the_begin_recipe(begin_recipe_engine: AsyncEngine) -> None:
    models = build_models(id_type="int", table_prefix=f"ids_{secrets.token_hex(3)}_")
    async with begin_recipe_engine.begin() as connection:
        await connection.run_sync(models.metadata.create_all)
    try:
        sessions = async_sessionmaker(begin_recipe_engine, expire_on_commit=False)
        async with sessions() as session:
            users = SQLAlchemyUserDatabase(session, models.user, models.oauth_account)
            await session.begin()
            lost = await users.create(user("lost@example.com"))
            await session.rollback()
            kept = await users.create(user("kept@example.com"))
        assert kept.id > lost.id
    finally:
        async with begin_recipe_engine.begin() as connection:
            await connection.run_sync(models.metadata.drop_all)


async def test_autocommit_statements_stay_autocommitted(sqlite_url: str) -> None:
    """The shim opens no transaction where the driver would open none."""
    engine = create_async_engine(sqlite_url, isolation_level="AUTOCOMMIT", poolclass=StaticPool)
    models = build_models(id_type="int", table_prefix=f"ids_{secrets.token_hex(3)}_")
    table = models.user.__table__
    try:
        async with engine.connect() as connection:
            await connection.run_sync(models.metadata.create_all)
            sessions = async_sessionmaker(engine)
            async with sessions() as session:
                SQLAlchemyUserDatabase(session, models.user)  # installs the shim
            await connection.execute(
                table.insert().values(email="a@x.io", email_key="a@x.io", hashed_password="h")
            )
            driver: Any = (await connection.get_raw_connection()).driver_connection
            assert not driver.in_transaction
            await connection.run_sync(models.metadata.drop_all)
    finally:
        await engine.dispose()
