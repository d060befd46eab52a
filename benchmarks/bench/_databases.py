"""Scratch databases: ``bench_<hex>_<schema>`` on the servers, temp files for SQLite.

Nothing outside the databases created here is touched; they are dropped at the
end of the run (``DROP DATABASE ... WITH (FORCE)`` on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ._models import Models

__all__ = ["BACKENDS", "SERVER_BACKENDS", "Database", "scratch_database", "server_url"]

BACKENDS = ("sqlite", "postgres", "mysql")
SERVER_BACKENDS = ("postgres", "mysql")
DEFAULT_URLS = {
    "postgres": "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+aiomysql://root@127.0.0.1:3306/test",
}
URL_VARIABLES = {
    "postgres": "USERSTORE_TEST_POSTGRES_URL",
    "mysql": "USERSTORE_TEST_MYSQL_URL",
}


def server_url(backend: str) -> URL:
    return make_url(os.environ.get(URL_VARIABLES[backend]) or DEFAULT_URLS[backend])


@dataclasses.dataclass(frozen=True)
class Database:
    """One scratch database holding one schema's tables."""

    backend: str
    url: URL
    models: Models

    @property
    def path(self) -> str:
        """The SQLite file."""
        return str(self.url.database)

    def with_port(self, port: int) -> Database:
        """The same database reached through another port (the round-trip relay)."""
        return dataclasses.replace(self, url=self.url.set(host="127.0.0.1", port=port))

    def connect_args(self) -> dict[str, Any]:
        """Host, port, user, password and database, for the raw drivers."""
        url = self.url
        default_port = 5432 if self.backend == "postgres" else 3306
        return {
            "host": url.host or "127.0.0.1",
            "port": url.port or default_port,
            "user": url.username,
            "password": url.password or "",
            "database": url.database,
        }


@contextlib.asynccontextmanager
async def scratch_database(backend: str, models: Models, tag: str) -> AsyncIterator[Database]:
    """Yield an empty database with ``models``' tables created; remove it afterwards."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix=f"bench_{tag}_")
        try:
            database = Database(backend, make_url(f"sqlite+aiosqlite:///{folder}/bench.db"), models)
            await _create_tables(database)
            yield database
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    url = server_url(backend)
    name = f"bench_{secrets.token_hex(4)}_{tag}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            database = Database(backend, url.set(database=name), models)
            await _create_tables(database)
            yield database
        finally:
            force = " WITH (FORCE)" if backend == "postgres" else ""
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    finally:
        await admin.dispose()


async def _create_tables(database: Database) -> None:
    engine = create_async_engine(database.url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(database.models.base.metadata.create_all)
    finally:
        await engine.dispose()
