"""SQLite's faults: its connection closed under the pool, or the database locked too long.

SQLite has no server to kill.  What can happen to an application is that the
driver connection ends (closed by a cancelled task's clean-up, by the driver's
thread stopping, or at the sqlite3 level) or that another process holds the
write lock past the busy timeout.  In every case the contract is PostgreSQL's and
MySQL's: ``StoreUnavailable``, nothing half-written, the next call works.

The defect these tests pin down: SQLAlchemy's aiosqlite adapter skips ``commit()``
on a closed aiosqlite connection without a word, so a transaction whose
connection was closed looked committed while its writes were gone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection

from userstore import StoreSession, StoreUnavailable
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.dialects import sqlite as sqlite_shim
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from ..backends import Backend
from ..conftest import backend_url
from .conftest import count_rows, objects_stay_readable, table

pytestmark = pytest.mark.backend("sqlite")

BUSY_TIMEOUT_MS = 300
ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1",
    "account_email": "a@x.io",
    "access_token": "provider-token",
}


def user(email: str) -> dict[str, Any]:
    return {"email": email, "hashed_password": "h"}


@pytest_asyncio.fixture
async def store(backend_registry: dict[str, Backend]) -> AsyncIterator[SQLAlchemyStore]:
    """A store on scratch tables of the run's SQLite file."""
    harness = SQLAlchemyHarness(backend_url(backend_registry, "sqlite"))
    async with harness.open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        yield opened


async def _driver(s: StoreSession) -> Any:
    """The aiosqlite connection under the session's current connection."""
    connection = await s.session.connection()  # type: ignore[attr-defined]
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def close_aiosqlite(s: StoreSession) -> None:
    """The aiosqlite connection closed under SQLAlchemy (what the harness's sever does)."""
    await (await _driver(s)).close()


async def close_sqlite3(s: StoreSession) -> None:
    """The sqlite3 connection closed under aiosqlite, in aiosqlite's own thread."""
    driver = await _driver(s)
    await driver._execute(driver._conn.close)  # no public way: a fault, after all


FAULTS: dict[str, Callable[[StoreSession], Awaitable[None]]] = {
    "aiosqlite closed": close_aiosqlite,
    "sqlite3 closed": close_sqlite3,
}
fault_param = pytest.mark.parametrize("fault", list(FAULTS))


@fault_param
async def test_closed_before_commit_raises_and_writes_nothing(
    store: SQLAlchemyStore, fault: str
) -> None:
    async with store.session() as s:

        async def block() -> None:
            async with s.transaction():
                alice = await s.users.create(user("alice@x.io"))
                await s.users.add_oauth_account(alice, ACCOUNT)
                await FAULTS[fault](s)  # the COMMIT is the next thing the connection sees

        with pytest.raises(StoreUnavailable):
            await block()
        assert await count_rows(store.engine, table(store, "user")) == 0
        assert await count_rows(store.engine, table(store, "oauth_account")) == 0
        created = await s.users.create(user("bob@x.io"))  # the same session works again
    async with store.session() as s:
        assert await s.users.get(created.id) is not None
    assert await count_rows(store.engine, table(store, "user")) == 1


@fault_param
async def test_closed_mid_transaction_raises_at_the_next_call(
    store: SQLAlchemyStore, fault: str
) -> None:
    async with store.session() as s:

        async def block() -> None:
            async with s.transaction():
                await s.users.create(user("alice@x.io"))
                await FAULTS[fault](s)
                await s.users.create(user("bob@x.io"))

        with pytest.raises(StoreUnavailable):
            await block()
        assert await count_rows(store.engine, table(store, "user")) == 0
        async with s.transaction():
            await s.users.create(user("carol@x.io"))
    assert await count_rows(store.engine, table(store, "user"), email="carol@x.io") == 1


@fault_param
async def test_closed_before_an_autocommitted_create(store: SQLAlchemyStore, fault: str) -> None:
    async with store.session() as s:
        alice = await s.users.create(user("alice@x.io"))
        await FAULTS[fault](s)
        with pytest.raises(StoreUnavailable):
            await s.users.create(user("bob@x.io"))
        assert await s.users.get(alice.id) is not None
        await s.users.create(user("carol@x.io"))
    assert await count_rows(store.engine, table(store, "user")) == 2
    assert await count_rows(store.engine, table(store, "user"), email="bob@x.io") == 0


@fault_param
async def test_closed_while_idle_in_the_pool(store: SQLAlchemyStore, fault: str) -> None:
    async with store.session() as s:
        alice = await s.users.create(user("alice@x.io"))
        await FAULTS[fault](s)
    # the dead connection went back to the pool: at most the first call may say so
    async with store.session() as s:
        try:
            found = await s.users.get(alice.id)
        except StoreUnavailable:
            found = await s.users.get(alice.id)
        assert found is not None
    for n in range(3):
        async with store.session() as s:
            assert await s.users.get(alice.id) is not None
            await s.users.create(user(f"u{n}@x.io"))


@fault_param
@pytest.mark.parametrize("at_commit", [False, True], ids=["mid-block", "at-commit"])
async def test_objects_stay_readable_after_a_closed_transaction(
    store: SQLAlchemyStore, fault: str, at_commit: bool
) -> None:
    await objects_stay_readable(store, FAULTS[fault], at_commit=at_commit)


@pytest_asyncio.fixture
async def impatient(
    store: SQLAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SQLAlchemyStore]:
    """``store`` whose connections wait ``BUSY_TIMEOUT_MS`` for a lock, not the shim's 30 s."""
    monkeypatch.setattr(sqlite_shim, "BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    await store.engine.dispose()  # new connections get the shim's setup with it
    yield store


@pytest_asyncio.fixture
async def locker(store: SQLAlchemyStore) -> AsyncIterator[AsyncConnection]:
    """A second connection to the file, for holding its write lock."""
    async with store.engine.connect() as connection:
        yield connection


async def test_locked_past_the_busy_timeout(
    impatient: SQLAlchemyStore, locker: AsyncConnection
) -> None:
    store = impatient
    async with store.session() as s:
        alice = await s.users.create(user("alice@x.io"))
    raw = await locker.get_raw_connection()
    await raw.driver_connection.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        async with store.session() as s:
            began = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                await s.users.create(user("bob@x.io"))
            waited = time.monotonic() - began
            assert BUSY_TIMEOUT_MS / 1000 * 0.9 <= waited < 5
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)

            async def block() -> None:
                async with s.transaction():
                    await s.users.update(alice, {"is_verified": True})

            with pytest.raises(StoreUnavailable):
                await block()
            assert await s.users.get(alice.id) is not None  # reads go on meanwhile
    finally:
        await raw.driver_connection.rollback()
    assert await count_rows(store.engine, table(store, "user"), email="bob@x.io") == 0
    async with store.session() as s:
        found = await s.users.get(alice.id)
        assert found is not None
        assert not found.is_verified
        await s.users.create(user("bob@x.io"))  # the lock is free again
