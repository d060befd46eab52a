"""Where the test databases come from (DESIGN.md, "Backends in tests").

A backend's URL comes from an environment variable, else from testcontainers when
a Docker engine answers, else the backend is unavailable and its tests are
skipped with the reason, unless ``USERSTORE_REQUIRE_BACKENDS`` names it, in which
case they fail.  Each run gets its own database, dropped at the end, so runs
never see each other's rows.

A URL without a driver means the default asyncio one, as in ``connect()``
(``postgresql://`` is asyncpg, ``mysql://`` aiomysql).  The driver backends
(``postgres-psycopg``, ``mysql-asyncmy``) run the same server through its other
driver: their URL comes from their own variable, else from their server
backend's URL with the driver swapped; they get a database of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from userstore_sqlalchemy.engine import async_url

SERVER_BACKENDS = {
    "postgres": "USERSTORE_TEST_POSTGRES_URL",
    "mysql": "USERSTORE_TEST_MYSQL_URL",
}
_BACKEND_NAMES = {"postgres": ("postgresql",), "mysql": ("mysql", "mariadb")}


@dataclasses.dataclass(frozen=True)
class Driver:
    """A backend that runs a server backend's tests through another of its drivers."""

    server: str
    driver: str
    variable: str


DRIVER_BACKENDS = {
    "postgres-psycopg": Driver("postgres", "psycopg", "USERSTORE_TEST_POSTGRES_PSYCOPG_URL"),
    "mysql-asyncmy": Driver("mysql", "asyncmy", "USERSTORE_TEST_MYSQL_ASYNCMY_URL"),
}
MAIN_BACKENDS = ("sqlite", "postgres", "mysql")
ALL_BACKENDS = (*MAIN_BACKENDS, *DRIVER_BACKENDS)
SCALEOUT_BACKENDS = ("galera", "postgres-replica", "mariadb-replica")
"""Throwaway clusters of tests/scaleout, started from local binaries: not in ``all``."""


def required_backends() -> set[str]:
    """Backends named by USERSTORE_REQUIRE_BACKENDS (``all`` means every one)."""
    raw = os.environ.get("USERSTORE_REQUIRE_BACKENDS", "")
    names = {n.strip().lower() for n in raw.split(",") if n.strip()}
    if "all" in names:
        return set(ALL_BACKENDS)
    unknown = names - set(ALL_BACKENDS) - set(SCALEOUT_BACKENDS)
    if unknown:
        raise ValueError(f"USERSTORE_REQUIRE_BACKENDS names unknown backends: {sorted(unknown)}")
    return names


@dataclasses.dataclass
class Backend:
    """A resolved backend: its URL for this run, or why there is none."""

    name: str
    url: str | None
    reason: str = ""
    server: URL | None = None
    """The server's URL the run's database was made from (for the driver backends)."""


def unconfigured(name: str) -> str | None:
    """Why backend ``name`` has no server to run on at all, or ``None`` if it may have one.

    No variable names a server and no Docker engine answers (for a driver
    backend: neither its own variable nor its server's).  A configured server
    that cannot be used is found later, when the backend is resolved.
    """
    if name == "sqlite":
        return None
    driver = DRIVER_BACKENDS.get(name)
    variable = driver.variable if driver else SERVER_BACKENDS[name]
    if os.environ.get(variable):
        return None
    if driver is not None:
        why = unconfigured(driver.server)
        return None if why is None else f"{variable} is not set and {driver.server}: {why}"
    if _docker_answers():
        return None
    return f"{variable} is not set and no Docker engine answers"


@functools.cache
def _docker_answers() -> bool:
    try:
        from testcontainers.core.docker_client import DockerClient

        DockerClient().client.ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def _from_testcontainers(name: str) -> Iterator[str]:
    if name == "postgres":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver="asyncpg") as pg:
            yield pg.get_connection_url()
    else:
        from testcontainers.mysql import MySqlContainer

        with MySqlContainer("mariadb:10.11", dialect="aiomysql") as my:
            yield my.get_connection_url()


def _run_to_end(statement: Coroutine[None, None, None]) -> None:
    """Run ``statement`` on a loop of its own (in a thread when a test's loop runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(statement)
        return
    with ThreadPoolExecutor(1) as thread:  # an async test asked first for the backend
        thread.submit(asyncio.run, statement).result()


async def _run(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _scratch_database(base: URL) -> Iterator[str]:
    """Create a database for this run on the server at ``base``; drop it after."""
    name = f"userstore_test_{secrets.token_hex(4)}"
    if base.get_backend_name() == "postgresql":
        create, drop = f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    else:
        create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        drop = f"DROP DATABASE IF EXISTS `{name}`"
    _run_to_end(_run(base, create))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _run_to_end(_run(base, drop))


def server_url(name: str, variable: str, raw: str, driver: str | None = None) -> URL:
    """The URL ``raw`` (from ``variable``) of backend ``name``'s server, its driver named.

    Without a driver it gets ``driver`` if given, else the default asyncio one.
    Raises ``ValueError`` saying what is wrong with it.
    """
    try:
        named = "+" in make_url(raw).drivername
        url = async_url(raw)
    except Exception as exc:
        raise ValueError(f"{variable} is not a database URL ({exc})") from None
    server = DRIVER_BACKENDS[name].server if name in DRIVER_BACKENDS else name
    if url.get_backend_name() not in _BACKEND_NAMES[server]:
        expected = " or ".join(f"{b}://" for b in _BACKEND_NAMES[server])
        raise ValueError(f"{variable} names a {url.get_backend_name()} database, not {expected}")
    if driver is not None:
        if not named:
            url = url.set(drivername=f"{url.get_backend_name()}+{driver}")
        elif url.get_driver_name() != driver:
            raise ValueError(
                f"{variable} names the {url.get_driver_name()} driver, not {driver} "
                f"(backend {name} runs {driver})"
            )
    return url


@contextlib.contextmanager
def resolve(name: str, tmp_dir: Path, server: Backend | None = None) -> Iterator[Backend]:
    """Yield the backend ``name`` for this run, its database created and later dropped.

    ``server`` is the resolved server backend of a driver backend, whose URL it
    takes (with its own driver) when its own variable is not set.
    """
    if name == "sqlite":
        yield Backend(name, f"sqlite+aiosqlite:///{tmp_dir / 'userstore-test.sqlite'}")
        return
    driver = DRIVER_BACKENDS.get(name)
    variable = driver.variable if driver else SERVER_BACKENDS[name]
    raw = os.environ.get(variable)
    with contextlib.ExitStack() as stack:
        if not raw and driver is not None:
            if server is None or server.server is None:
                why = server.reason if server is not None else "not resolved"
                yield Backend(name, None, f"{variable} is not set and {driver.server}: {why}")
                return
            raw = server.server.set(
                drivername=f"{server.server.get_backend_name()}+{driver.driver}"
            ).render_as_string(hide_password=False)
            variable = f"{SERVER_BACKENDS[driver.server]} (with the {driver.driver} driver)"
        elif not raw:
            if not _docker_answers():
                yield Backend(name, None, f"{variable} is not set and no Docker engine answers")
                return
            raw = stack.enter_context(_from_testcontainers(name))
        try:
            url = server_url(name, variable, raw, driver.driver if driver else None)
        except ValueError as exc:
            yield Backend(name, None, str(exc))
            return
        try:
            scratch = stack.enter_context(_scratch_database(url))
        except Exception as exc:  # unreachable server, missing driver: say so, with the host
            where = url.render_as_string(hide_password=True)
            yield Backend(
                name, None, f"cannot use {where} ({variable}): {type(exc).__name__}: {exc}"
            )
            return
        yield Backend(name, scratch, server=url)
