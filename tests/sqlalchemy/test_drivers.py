"""Each server's two asyncio drivers, side by side where their error objects differ most.

asyncpg and psycopg (PostgreSQL), aiomysql and asyncmy (MySQL/MariaDB) report a
failed connection in their own ways; the store's ``StoreUnavailable`` says the
same for both.  Everything else is the conformance suite's and the end-to-end
tests' job, which run on both drivers (the ``postgres-psycopg`` and
``mysql-asyncmy`` backends).
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import make_url

import userstore
from userstore import StoreUnavailable
from userstore_sqlalchemy import SQLAlchemyStore

from ..backends import Backend
from ..conftest import backend_url

DRIVERS = {"postgresql": ("asyncpg", "psycopg"), "mysql": ("aiomysql", "asyncmy")}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def connect_failure(url: str) -> str:
    """The message of the ``StoreUnavailable`` that a first lookup on ``url`` raises."""
    store = userstore.connect(url)
    assert isinstance(store, SQLAlchemyStore)
    try:
        with pytest.raises(StoreUnavailable) as info:
            async with store.session() as session:
                await session.users.get_by_email("ada@example.com")
        assert info.value.__cause__ is None or "pw" not in str(info.value)
        return str(info.value)
    finally:
        await store.close()


async def messages(backend: str, url: str) -> dict[str, str]:
    """The failure's message through each of ``backend``'s drivers, by driver."""
    parsed = make_url(url)
    found = {}
    for driver in DRIVERS[backend]:
        with_driver = parsed.set(drivername=f"{backend}+{driver}")
        found[driver] = await connect_failure(with_driver.render_as_string(hide_password=False))
    return found


async def test_a_closed_port_is_unreachable_through_either_driver() -> None:
    port = closed_port()
    assert await messages("postgresql", f"postgresql://u:pw@127.0.0.1:{port}/db") == dict.fromkeys(
        DRIVERS["postgresql"], f"cannot reach 127.0.0.1:{port} (connection refused)"
    )
    assert await messages("mysql", f"mysql://u:pw@127.0.0.1:{port}/db") == dict.fromkeys(
        DRIVERS["mysql"],
        f"cannot reach 127.0.0.1:{port} (Can't connect to MySQL server on '127.0.0.1' [2003])",
    )


async def test_an_unknown_host_is_named_through_either_driver() -> None:
    found = await messages("postgresql", "postgresql://u@no-such-host.invalid/db")
    assert len(set(found.values())) == 1, found
    assert found["asyncpg"].startswith("cannot reach no-such-host.invalid:5432 (unknown host")
    found = await messages("mysql", "mysql://u@no-such-host.invalid/db")
    assert len(set(found.values())) == 1, found
    assert found["aiomysql"].startswith("cannot reach no-such-host.invalid:3306 (Can't connect")


@pytest.mark.backend("postgres")
async def test_postgres_refusals_read_the_same_through_either_driver(
    backend_registry: dict[str, Backend],
) -> None:
    server = make_url(backend_url(backend_registry, "postgres"))
    where = f"{server.host}:{server.port or 5432}"
    missing = server.set(database="userstore_no_such_db").render_as_string(hide_password=False)
    assert await messages("postgresql", missing) == dict.fromkeys(
        DRIVERS["postgresql"],
        f'cannot connect to {where}: database "userstore_no_such_db" does not exist',
    )
    nobody = server.set(username="userstore_nobody").render_as_string(hide_password=False)
    found = await messages("postgresql", nobody)
    assert len(set(found.values())) == 1, found
    assert found["asyncpg"].startswith(f"cannot connect to {where}: "), found
    assert "userstore_nobody" in found["asyncpg"], found


@pytest.mark.backend("mysql")
async def test_mysql_refusals_read_the_same_through_either_driver(
    backend_registry: dict[str, Backend],
) -> None:
    server = make_url(backend_url(backend_registry, "mysql"))
    where = f"{server.host}:{server.port or 3306}"
    missing = server.set(database="userstore_no_such_db").render_as_string(hide_password=False)
    assert await messages("mysql", missing) == dict.fromkeys(
        DRIVERS["mysql"],
        f"cannot connect to {where}: Unknown database 'userstore_no_such_db' [1049]",
    )
    nobody = server.set(username="userstore_nobody", password="pw")
    found = await messages("mysql", nobody.render_as_string(hide_password=False))
    assert len(set(found.values())) == 1, found
    assert found["aiomysql"].startswith(f"cannot connect to {where}: Access denied for user"), found
