"""Where the test databases come from (DESIGN.md, "Backends in tests").

A backend's URL comes from an environment variable, else from testcontainers when
a Docker engine answers, else the backend is unavailable and its tests are
skipped with the reason, unless ``USERSTORE_REQUIRE_BACKENDS`` names it, in which
case they fail.  Each run gets its own database, dropped at the end, so runs
never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

SERVER_BACKENDS = {
    "postgres": "USERSTORE_TEST_POSTGRES_URL",
    "mysql": "USERSTORE_TEST_MYSQL_URL",
}
ALL_BACKENDS = ("sqlite", "postgres", "mysql")


def required_backends() -> set[str]:
    """Backends named by USERSTORE_REQUIRE_BACKENDS (``all`` means every one)."""
    raw = os.environ.get("USERSTORE_REQUIRE_BACKENDS", "")
    names = {n.strip().lower() for n in raw.split(",") if n.strip()}
    if "all" in names:
        return set(ALL_BACKENDS)
    unknown = names - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"USERSTORE_REQUIRE_BACKENDS names unknown backends: {sorted(unknown)}")
    return names


@dataclasses.dataclass
class Backend:
    """A resolved backend: its URL for this run, or why there is none."""

    name: str
    url: str | None
    reason: str = ""


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


async def _run(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def _scratch_database(server_url: str) -> Iterator[str]:
    """Create a database for this run on the server at ``server_url``; drop it after."""
    base = make_url(server_url)
    name = f"userstore_test_{secrets.token_hex(4)}"
    if base.get_backend_name() == "postgresql":
        create, drop = f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    else:
        create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        drop = f"DROP DATABASE IF EXISTS `{name}`"
    asyncio.run(_run(base, create))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_run(base, drop))


@contextlib.contextmanager
def resolve(name: str, tmp_dir: Path) -> Iterator[Backend]:
    """Yield the backend ``name`` for this run, its database created and later dropped."""
    if name == "sqlite":
        yield Backend(name, f"sqlite+aiosqlite:///{tmp_dir / 'userstore-test.sqlite'}")
        return
    variable = SERVER_BACKENDS[name]
    url = os.environ.get(variable)
    with contextlib.ExitStack() as stack:
        if not url:
            if not _docker_answers():
                yield Backend(name, None, f"{variable} is not set and no Docker engine answers")
                return
            url = stack.enter_context(_from_testcontainers(name))
        try:
            scratch = stack.enter_context(_scratch_database(url))
        except Exception as exc:  # unreachable server: say so, with the host
            where = make_url(url).render_as_string(hide_password=True)
            yield Backend(name, None, f"cannot use {where}: {type(exc).__name__}: {exc}")
            return
        yield Backend(name, scratch)
