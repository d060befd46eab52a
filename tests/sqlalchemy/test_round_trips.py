"""Round trips per ``connect()`` store operation, counted on the wire through a TCP relay.

On PostgreSQL a lookup outside a transaction block is one round trip: it runs
on an autocommit connection, with no ``BEGIN`` or ``ROLLBACK`` around it, and
the session holds no connection after it.  So is a write of one statement: the
server commits it as it runs, with no ``BEGIN`` or ``COMMIT``.  On MySQL/MariaDB a lookup is the
SELECT and its ``ROLLBACK``, and a write its statement and ``COMMIT``: the
pool sends no second ``ROLLBACK`` for a connection the server says is idle.
Each operation is counted on its last two of eight repetitions, once psycopg
has prepared its statements (it does at the sixth execution of one, with a
round trip of its own).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

import userstore
from userstore_sqlalchemy import SQLAlchemyStore, create_engine

from ..conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url
from ._relay import Relay, relayed_store

SERVERS = [p for p in (*BACKEND_PARAMS, *DRIVER_PARAMS) if p.values[0] != "sqlite"]
REPEATS = 8
ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1001",
    "account_email": "ann@example.com",
    "access_token": "gho_x",
}

# (lookup, write) round trips: on MySQL the statement and its ROLLBACK or COMMIT
EXPECTED = {"postgresql": (1, 1), "mysql": (2, 2)}


@pytest.fixture(params=SERVERS)
def server_url(request: pytest.FixtureRequest, backend_registry: Any) -> str:
    return backend_url(backend_registry, request.param)


@pytest_asyncio.fixture
async def relayed(server_url: str) -> AsyncIterator[tuple[SQLAlchemyStore, Relay]]:
    async with relayed_store(server_url) as opened:
        yield opened


async def _counts(relay: Relay, call: Callable[[], Awaitable[Any]]) -> list[int]:
    counts = []
    for _ in range(REPEATS):
        before = relay.round_trips
        await call()
        counts.append(relay.round_trips - before)
    return counts


async def test_lookups_and_writes_cost_the_fewest_round_trips(
    relayed: tuple[SQLAlchemyStore, Relay],
) -> None:
    store, relay = relayed
    lookup, write = EXPECTED[store.engine.dialect.name]
    async with store.session() as s:
        user = await s.users.create({"email": "ann@example.com", "hashed_password": "h"})
        user = await s.users.add_oauth_account(user, ACCOUNT)
        await s.tokens.create({"token": "t" * 43, "user_id": user.id})
    user_id = user.id

    async def in_session(call: Callable[[Any], Awaitable[Any]]) -> None:
        async with store.session() as s:
            await call(s)

    serial = iter(range(10**6))

    def new_email() -> str:
        return f"u{next(serial)}@example.com"

    observed = {
        "get": await _counts(relay, lambda: in_session(lambda s: s.users.get(user_id))),
        "get_by_email": await _counts(
            relay, lambda: in_session(lambda s: s.users.get_by_email("ANN@example.com"))
        ),
        "get_by_oauth_account": await _counts(
            relay, lambda: in_session(lambda s: s.users.get_by_oauth_account("github", "1001"))
        ),
        "get_by_token": await _counts(
            relay, lambda: in_session(lambda s: s.tokens.get_by_token("t" * 43))
        ),
        "create": await _counts(
            relay,
            lambda: in_session(
                lambda s: s.users.create({"email": new_email(), "hashed_password": "h"})
            ),
        ),
        "token create": await _counts(
            relay,
            lambda: in_session(
                lambda s: s.tokens.create({"token": uuid.uuid4().hex, "user_id": user_id})
            ),
        ),
    }
    expected = {name: lookup if name.startswith("get") else write for name in observed}
    assert {name: counts[-2:] for name, counts in observed.items()} == {
        name: [n, n] for name, n in expected.items()
    }, observed


async def test_a_write_after_a_lookup_adds_only_its_own_round_trips(
    relayed: tuple[SQLAlchemyStore, Relay],
) -> None:
    store, relay = relayed
    async with store.session() as s:
        user = await s.users.create({"email": "bo@example.com", "hashed_password": "h"})

    async def read_then_update() -> None:
        async with store.session() as s:
            found = await s.users.get(user.id)
            await s.users.update(found, {"hashed_password": uuid.uuid4().hex})

    counts = await _counts(relay, read_then_update)
    # PostgreSQL: the lookup alone, then the UPDATE alone; MySQL: the lookup's
    # transaction goes on into the UPDATE, then COMMIT
    expected = {"postgresql": 2, "mysql": 3}[store.engine.dialect.name]
    assert counts[-2:] == [expected, expected], counts


async def test_a_user_from_another_session_is_written_alone_too(
    relayed: tuple[SQLAlchemyStore, Relay],
) -> None:
    """Attached first with ``session.add()`` (which begins the session's transaction,
    with no connection yet), as a request does with a user it holds."""
    store, relay = relayed
    async with store.session() as s:
        user = await s.users.create({"email": "fa@example.com", "hashed_password": "h"})

    async def update() -> None:
        async with store.session() as s:
            s.session.add(user)
            await s.users.update(user, {"hashed_password": uuid.uuid4().hex})

    counts = await _counts(relay, update)
    expected = {"postgresql": 1, "mysql": 2}[store.engine.dialect.name]
    assert counts[-2:] == [expected, expected], counts


POSTGRES = [p for p in SERVERS if p.values[0].startswith("postgres")]
MYSQL = [p for p in SERVERS if p.values[0].startswith("mysql")]


@pytest.mark.parametrize("server_url", POSTGRES, indirect=True)
async def test_a_lookup_leaves_the_session_holding_no_connection(server_url: str) -> None:
    store = userstore.connect(server_url, table_prefix=f"rt{uuid.uuid4().hex[:8]}_")
    assert isinstance(store, SQLAlchemyStore)
    await store.create_schema()
    try:
        async with store.session() as s:
            user = await s.users.create({"email": "cy@example.com", "hashed_password": "h"})
            assert await s.users.get_by_email("cy@example.com") is user
            assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            user = await s.users.update(user, {"is_verified": True})  # a transaction of its own
            assert user.is_verified is True
    finally:
        await store.drop_schema()
        await store.close()


@pytest.mark.parametrize("server_url", MYSQL, indirect=True)
async def test_a_connection_returned_inside_a_transaction_is_still_rolled_back(
    server_url: str,
) -> None:
    """The pool skips its ROLLBACK only for connections the server says are idle."""
    engine = create_engine(server_url, pool_size=1, max_overflow=0)
    table = f"rt{uuid.uuid4().hex[:8]}"
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE TABLE {table} (n INT) ENGINE=InnoDB")

        def write_behind_sqlalchemy(connection: Any) -> None:
            cursor = connection.connection.dbapi_connection.cursor()
            cursor.execute("START TRANSACTION")
            cursor.execute(f"INSERT INTO {table} VALUES (1)")
            cursor.close()

        async with engine.connect() as conn:
            await conn.run_sync(write_behind_sqlalchemy)
        async with engine.connect() as conn:  # the same, only, connection
            assert (await conn.exec_driver_sql("SELECT @@in_transaction")).scalar() == 0
            assert (await conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}")).scalar() == 0
    finally:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        await engine.dispose()


async def test_a_lookup_writes_no_unsaved_change(db_url: str) -> None:
    """A change made on a loaded user without ``update`` is flushed only inside a transaction.

    The lookup's autoflush writes it in the session's transaction, which the
    session's close rolls back: no lookup stores it, on an autocommit
    connection or any other.
    """
    store = userstore.connect(db_url, table_prefix=f"rt{uuid.uuid4().hex[:8]}_")
    await store.create_schema()
    try:
        async with store.session() as s:
            user = await s.users.create({"email": "di@example.com", "hashed_password": "h"})
        async with store.session() as s:
            found = await s.users.get(user.id)
            assert found is not None
            found.is_verified = True  # never passed to update()
            await s.users.get_by_email("someone@example.com")
        async with store.session() as s:
            again = await s.users.get(user.id)
            assert again is not None
            assert again.is_verified is False
    finally:
        await store.drop_schema()
        await store.close()


async def test_sqlite_hops_to_the_driver_thread(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosqlite runs each call in its own thread: a hop there is SQLite's round trip.

    A lookup is sent through the driver (one ``execute_fetchall``) and ends with
    the session's ROLLBACK: two hops.  A write goes through SQLAlchemy's aiosqlite
    adapter, which makes three or four per statement (open a cursor, execute,
    fetch rows if any, close it), and one for the COMMIT; the pool adds none for
    a connection it is given back idle (``sqlite3.Connection.in_transaction``,
    read without a hop).  A create is the shim's SAVEPOINT (which keeps integer
    ids handed out across rollbacks), the INSERT and the COMMIT.
    """
    import aiosqlite

    hops = [0]
    execute = aiosqlite.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops[0] += 1
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    store = userstore.connect(f"sqlite:///{tmp_path / 'hops.db'}")
    await store.create_schema()
    try:
        async with store.session() as s:
            user = await s.users.create({"email": "ed@example.com", "hashed_password": "h"})
        serial = iter(range(100))

        async def lookup() -> None:
            async with store.session() as s:
                await s.users.get(user.id)

        async def create() -> None:
            async with store.session() as s:
                await s.users.create(
                    {"email": f"e{next(serial)}@example.com", "hashed_password": "h"}
                )

        counts = {}
        for name, call in (("get", lookup), ("create", create)):
            before = hops[0]
            await call()
            counts[name] = hops[0] - before
        assert counts == {"get": 2, "create": 7}
    finally:
        await store.close()
