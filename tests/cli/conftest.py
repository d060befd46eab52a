"""Fixtures of the ``userstore`` command's tests: the command run as a subprocess.

Every test gets its own database: a SQLite file in its ``tmp_path`` (the
command's working directory), or a PostgreSQL database created on the run's
server for the test and dropped after it, so the tables the command creates
never meet those of other tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ..backends import Backend
from ..conftest import backend_url

T = TypeVar("T")

CLI_BACKENDS = [
    pytest.param(name, marks=pytest.mark.backend(name)) for name in ("sqlite", "postgres")
]


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` in a fresh event loop (the tests themselves are synchronous)."""
    return asyncio.run(coroutine)


@dataclasses.dataclass
class Done:
    """A finished run of the command."""

    args: tuple[str, ...]
    status: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (
            f"userstore {' '.join(self.args)} -> {self.status}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


def command_env(pycache: Path, **extra: str) -> dict[str, str]:
    """The environment of the command: this one, minus the debug switch, plus ``extra``.

    Bytecode goes to ``pycache`` (shared by the run's commands), so that only the
    first command compiles SQLAlchemy even where PYTHONDONTWRITEBYTECODE is set.
    """
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env.update(extra)
    return env


_DROPPED = {"USERSTORE_DEBUG", "PYTHONDONTWRITEBYTECODE", "USERSTORE_URL", "DATABASE_URL"}


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the commands of this run keep their bytecode."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def cli_env(tmp_path: Path, pycache: Path) -> dict[str, str]:
    """The command's environment, with the test's directory on PYTHONPATH."""
    return command_env(pycache, PYTHONPATH=str(tmp_path))


def run_userstore(*args: str, cwd: Path, env: dict[str, str], stdin: str = "") -> Done:
    """Run ``python -m userstore ARGS`` in ``cwd``; stdin is a pipe holding ``stdin``."""
    done = subprocess.run(
        [sys.executable, "-m", "userstore", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    return Done(tuple(args), done.returncode, done.stdout, done.stderr)


class Runner(Protocol):
    """Runs the command in the test's directory (the ``run`` fixture)."""

    def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Done: ...


@pytest.fixture
def run(tmp_path: Path, cli_env: dict[str, str]) -> Runner:
    """The command, run in the test's directory with the test's environment (or ``env``)."""

    def go(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Done:
        return run_userstore(*args, cwd=tmp_path, stdin=stdin, env=env or cli_env)

    return go


@dataclasses.dataclass
class CLIDatabase:
    """One test's database, and the command pointed at it."""

    name: str
    url: str
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str = "") -> Done:
        """Run the command with ``--url`` this database."""
        return run_userstore(*args, "--url", self.url, cwd=self.cwd, stdin=stdin, env=self.env)

    def ok(self, *args: str, stdin: str = "") -> Done:
        """Run the command and require exit status 0 and an empty stderr."""
        done = self.run(*args, stdin=stdin)
        assert done.status == 0, str(done)
        assert done.stderr == "", str(done)
        return done

    def tables(self) -> set[str]:
        """The table names in the database now."""

        async def read() -> set[str]:
            engine = create_async_engine(self.url)
            try:
                async with engine.connect() as connection:
                    names = await connection.run_sync(lambda c: inspect(c).get_table_names())
                    return set(names)
            finally:
                await engine.dispose()

        return run_async(read())

    def execute(self, *statements: str) -> list[Any]:
        """Run SQL statements in one transaction; return the rows of the last one."""

        async def go() -> list[Any]:
            engine = create_async_engine(self.url)
            try:
                async with engine.begin() as connection:
                    rows: list[Any] = []
                    for statement in statements:
                        result = await connection.execute(text(statement))
                        rows = list(result) if result.returns_rows else []
                    return rows
            finally:
                await engine.dispose()

        return run_async(go())


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture(params=CLI_BACKENDS)
def cli_db(
    request: pytest.FixtureRequest,
    backend_registry: dict[str, Backend],
    tmp_path: Path,
    cli_env: dict[str, str],
) -> Iterator[CLIDatabase]:
    """A fresh database on SQLite or PostgreSQL for one test, and the command aimed at it."""
    name: str = request.param
    run_url = backend_url(backend_registry, name)
    env = cli_env
    if name == "sqlite":
        yield CLIDatabase(name, f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", tmp_path, env)
        return
    server = make_url(run_url)
    database = f"userstore_cli_{secrets.token_hex(4)}"
    run_async(_admin(run_url, f'CREATE DATABASE "{database}"'))
    try:
        url = server.set(database=database).render_as_string(hide_password=False)
        yield CLIDatabase(name, url, tmp_path, env)
    finally:
        run_async(_admin(run_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


MODELS_MODULE = '''\
"""An application's models: userstore's mixins, a custom column, and a table of its own."""

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from userstore_sqlalchemy import (
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
)
from userstore_sqlalchemy.access_token import SQLAlchemyBaseAccessTokenTableUUID


class Base(DeclarativeBase):
    pass


class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    nickname: Mapped[str | None] = mapped_column(String(50), nullable=True)
    oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


class Invoice(Base):
    __tablename__ = "invoice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id = mapped_column(ForeignKey("user.id", ondelete="cascade"))
'''


@pytest.fixture
def models_module(tmp_path: Path) -> str:
    """``app_models:Base``, a module written in the test's directory (on PYTHONPATH)."""
    (tmp_path / "app_models.py").write_text(MODELS_MODULE)
    return "app_models:Base"
