"""Behaviour per backend: fastapi-users-db-sqlalchemy 7 beside userstore, from our own runs.

Runs the same probes against both adapters on SQLite (aiosqlite, a temp file),
PostgreSQL (asyncpg) and MySQL/MariaDB (aiomysql), each wired exactly like the
FastAPI Users SQLAlchemy tutorial, and writes the observed outcomes as a markdown
table to ``benchmarks/results/behaviour.md`` (and prints it).

fastapi-users-db-sqlalchemy 7 pins SQLAlchemy < 2.1, so this runs in its own
environment, not the workspace's (``benchmarks/behaviour.sh`` does these steps)::

    # from the repository root
    export UV_PYTHON_DOWNLOADS=never
    uv venv /tmp/bh-venv --python 3.11
    uv pip install --python /tmp/bh-venv 'fastapi-users-db-sqlalchemy==7.*' \\
        aiosqlite asyncpg aiomysql -e protocol -e adapters/sqlalchemy
    /tmp/bh-venv/bin/python benchmarks/behaviour.py

Server URLs come from ``USERSTORE_TEST_POSTGRES_URL`` and ``USERSTORE_TEST_MYSQL_URL``
(defaults: the local servers below).  Each run of one adapter on one server gets a
scratch database ``bh_<hex>`` that is dropped afterwards; nothing else is touched.
``--backend sqlite`` (repeatable) limits the run; ``--output PATH`` moves the file.
"""

import argparse
import asyncio
import dataclasses
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

DEFAULT_URLS = {
    "postgres": "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+aiomysql://root@127.0.0.1:3306/test",
}
URL_VARIABLES = {
    "postgres": "USERSTORE_TEST_POSTGRES_URL",
    "mysql": "USERSTORE_TEST_MYSQL_URL",
}
BACKENDS = ("sqlite", "postgres", "mysql")
BACKEND_TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB/MySQL"}
ADAPTERS = {"fudb 7": "fastapi_users_db_sqlalchemy", "userstore": "userstore_sqlalchemy"}
PROBE_TIMEOUT_S = 120
BULK_USERS = 1000
RESULTS = Path(__file__).resolve().parent / "results" / "behaviour.md"


# -- the application's models, as in the FastAPI Users tutorial ---------------------------


@dataclasses.dataclass(frozen=True)
class Models:
    users_module: ModuleType
    tokens_module: ModuleType
    base: type[DeclarativeBase]
    user: type[Any]
    oauth_account: type[Any]
    access_token: type[Any]


def declare_models(package: str) -> Models:
    """Declare the tutorial's models on a fresh ``DeclarativeBase`` with ``package``'s mixins."""
    lib = importlib.import_module(package)
    tokens = importlib.import_module(f"{package}.access_token")

    class Base(DeclarativeBase):
        pass

    class OAuthAccount(lib.SQLAlchemyBaseOAuthAccountTableUUID, Base):
        pass

    class User(lib.SQLAlchemyBaseUserTableUUID, Base):
        oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

    class AccessToken(tokens.SQLAlchemyBaseAccessTokenTableUUID, Base):
        pass

    return Models(lib, tokens, Base, User, OAuthAccount, AccessToken)


@dataclasses.dataclass
class Run:
    """One adapter on one backend: its engine, sessions and models."""

    backend: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    models: Models

    def users(self, session: AsyncSession) -> Any:
        m = self.models
        return m.users_module.SQLAlchemyUserDatabase(session, m.user, m.oauth_account)

    def tokens(self, session: AsyncSession) -> Any:
        m = self.models
        return m.tokens_module.SQLAlchemyAccessTokenDatabase(session, m.access_token)

    @asynccontextmanager
    async def user_db(self) -> AsyncIterator[Any]:
        async with self.sessions() as session:
            yield self.users(session)

    async def scalar(self, statement: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(statement)).scalar()


# -- outcomes ----------------------------------------------------------------------------


def describe(error: BaseException) -> str:
    """Short name of an exception; SQLAlchemy wrappers add the driver's class or code."""
    name = type(error).__name__
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, sa_exc.StatementError) and error.orig is not None:
        cause = error.orig.__cause__ or error.orig
        args = getattr(cause, "args", ())
        if args and isinstance(args[0], int):  # PyMySQL: (code, message)
            return f"{name} ({args[0]})"
        if type(cause).__name__ != name:
            return f"{name} ({type(cause).__name__})"
    return name


def qualified(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}"


async def attempt(awaitable: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """Await; return ``(result, None)`` or ``(None, error)``."""
    try:
        return await awaitable, None
    except Exception as error:
        return None, error


def found(user: Any) -> str:
    return "found" if user is not None else "None"


async def create_user(db: Any, email: str) -> Any:
    return await db.create({"email": email, "hashed_password": "x"})


def oauth_account(account_id: str, access_token: str = "provider-token") -> dict[str, Any]:
    return {
        "oauth_name": "github",
        "account_id": account_id,
        "account_email": "octocat@x.io",
        "access_token": access_token,
        "expires_at": None,
        "refresh_token": None,
    }


async def lookup(run: Run, email: str) -> str:
    async with run.user_db() as db:
        user, error = await attempt(db.get_by_email(email))
    return describe(error) if error else found(user)


async def create(run: Run, email: str) -> str:
    async with run.user_db() as db:
        _, error = await attempt(create_user(db, email))
    return describe(error) if error else "created"


async def user_with_account(run: Run, email: str, account_id: str) -> uuid.UUID:
    async with run.user_db() as db:
        user = await create_user(db, email)
        await db.add_oauth_account(user, oauth_account(account_id))
        return uuid.UUID(str(user.id))


# -- probes ------------------------------------------------------------------------------

Probe = Callable[[Run], Awaitable[str]]
PROBES: list[tuple[str, Probe]] = []


def probe(label: str) -> Callable[[Probe], Probe]:
    def register(function: Probe) -> Probe:
        PROBES.append((label, function))
        return function

    return register


@probe("non-ASCII case: create `ÉLODIE@exemple.fr`, get_by_email(`élodie@exemple.fr`)")
async def non_ascii_case(run: Run) -> str:
    async with run.user_db() as db:
        await create_user(db, "ÉLODIE@exemple.fr")
    return await lookup(run, "élodie@exemple.fr")


@probe("ß vs SS: create `straße@x.io`; get_by_email / create `STRASSE@x.io`")
async def sharp_s(run: Run) -> str:
    async with run.user_db() as db:
        await create_user(db, "straße@x.io")
    return f"lookup {await lookup(run, 'STRASSE@x.io')}; create {await create(run, 'STRASSE@x.io')}"


@probe("trailing space: create `pad@x.io␠`; get_by_email / create `pad@x.io`")
async def trailing_space(run: Run) -> str:
    async with run.user_db() as db:
        await create_user(db, "pad@x.io ")
    return f"lookup {await lookup(run, 'pad@x.io')}; create {await create(run, 'pad@x.io')}"


@probe("case variant: create `A@x.io`, then create `a@x.io`")
async def case_variant(run: Run) -> str:
    async with run.user_db() as db:
        await create_user(db, "A@x.io")
    outcome = await create(run, "a@x.io")
    if outcome != "created":
        return outcome
    return f"created; get_by_email {await lookup(run, 'a@x.io')}"


@probe("over-long email: create with a 400-char email")
async def long_email(run: Run) -> str:
    email = "a" * (400 - len("@x.io")) + "@x.io"
    async with run.user_db() as db:
        user, error = await attempt(create_user(db, email))
    if error:
        return describe(error)
    user_table = run.models.user
    stored = await run.scalar(select(func.length(user_table.email)).where(user_table.id == user.id))
    return "stored, 400 chars kept" if stored == 400 else f"stored truncated to {stored} chars"


@probe("NUL byte: create `nul\\0@x.io`")
async def nul_byte(run: Run) -> str:
    email = "nul\x00@x.io"
    async with run.user_db() as db:
        user, error = await attempt(create_user(db, email))
    if error:
        return describe(error)
    user_table = run.models.user
    stored = await run.scalar(select(user_table.email).where(user_table.id == user.id))
    return "stored intact" if stored == email else f"stored as {stored!r}"


@probe("OAuth account_id case: link (github, `AbC`), get_by_oauth_account(github, `abc`)")
async def account_id_case(run: Run) -> str:
    await user_with_account(run, "case-oauth@x.io", "AbC")
    async with run.user_db() as db:
        user, error = await attempt(db.get_by_oauth_account("github", "abc"))
    return describe(error) if error else found(user)


@probe("same OAuth account linked to a second user")
async def account_twice(run: Run) -> str:
    await user_with_account(run, "first-owner@x.io", "shared-1")
    async with run.user_db() as db:
        second = await create_user(db, "second-owner@x.io")
        _, error = await attempt(db.add_oauth_account(second, oauth_account("shared-1")))
    if error:
        return describe(error)
    async with run.user_db() as db:
        user, error = await attempt(db.get_by_oauth_account("github", "shared-1"))
    return f"linked twice; lookup {describe(error) if error else found(user)}"


@probe("delete a user that has an OAuth account (get, then delete)")
async def delete_with_account(run: Run) -> str:
    user_id = await user_with_account(run, "owner-deleted@x.io", "deleted-1")
    async with run.user_db() as db:
        user = await db.get(user_id)
        _, error = await attempt(db.delete(user))
    table = run.models.oauth_account
    left = await run.scalar(select(func.count()).select_from(table).where(table.user_id == user_id))
    return f"{describe(error) if error else 'deleted'}; accounts left: {left}"


@probe("delete a user that has an access token: tokens left")
async def delete_with_token(run: Run) -> str:
    async with run.sessions() as session:
        user = await create_user(run.users(session), "token-owner@x.io")
        user_id = uuid.UUID(str(user.id))
        await run.tokens(session).create({"token": secrets.token_urlsafe(32), "user_id": user_id})
    async with run.user_db() as db:
        user = await db.get(user_id)
        _, error = await attempt(db.delete(user))
    table = run.models.access_token
    left = await run.scalar(select(func.count()).select_from(table).where(table.user_id == user_id))
    return f"{describe(error) + '; ' if error else ''}tokens left: {left}"


@probe("session after a duplicate create: next create on the same session")
async def session_after_duplicate(run: Run) -> str:
    async with run.user_db() as db:
        await create_user(db, "dup-session@x.io")
        await attempt(create_user(db, "dup-session@x.io"))
        _, error = await attempt(create_user(db, "after-dup@x.io"))
    return describe(error) if error else "usable"


@probe("exception raised by a duplicate email create")
async def duplicate_exception(run: Run) -> str:
    async with run.user_db() as db:
        await create_user(db, "raw-dup@x.io")
    async with run.user_db() as db:
        _, error = await attempt(create_user(db, "raw-dup@x.io"))
    return qualified(error) if error else "no error (created twice)"


@probe("get(`not-a-uuid`)")
async def malformed_id(run: Run) -> str:
    async with run.user_db() as db:
        user, error = await attempt(db.get("not-a-uuid"))
    return describe(error) if error else found(user)


@probe("get(`str(user.id)`): an existing id given as a string")
async def string_id(run: Run) -> str:
    async with run.user_db() as db:
        user = await create_user(db, "string-id@x.io")
    async with run.user_db() as db:
        found_user, error = await attempt(db.get(str(user.id)))
    return describe(error) if error else found(found_user)


@probe("get_by_token with a naive max_age (UTC wall clock minus 1 h)")
async def naive_max_age(run: Run) -> str:
    token = secrets.token_urlsafe(32)
    async with run.sessions() as session:
        user = await create_user(run.users(session), "naive-age@x.io")
        await run.tokens(session).create({"token": token, "user_id": user.id})
    max_age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    async with run.sessions() as session:
        result, error = await attempt(run.tokens(session).get_by_token(token, max_age))
    return describe(error) if error else found(result)


@probe("add_oauth_account with a 5000-char access_token")
async def long_provider_token(run: Run) -> str:
    async with run.user_db() as db:
        user = await create_user(db, "long-token@x.io")
        _, error = await attempt(db.add_oauth_account(user, oauth_account("long-1", "t" * 5000)))
    if error:
        return describe(error)
    table = run.models.oauth_account
    stored = await run.scalar(
        select(func.length(table.access_token)).where(table.account_id == "long-1")
    )
    return "5000 chars kept" if stored == 5000 else f"stored truncated to {stored} chars"


@probe(f"get_by_email: how EXPLAIN of the SQL sent reads `user` ({BULK_USERS} users, ANALYZEd)")
async def email_index(run: Run) -> str:
    async with run.sessions() as session:
        user = run.models.user
        session.add_all(user(email=f"bulk{i}@x.io", hashed_password="x") for i in range(BULK_USERS))
        await session.commit()
    await analyze(run)
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sync_engine = run.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        async with run.user_db() as db:
            await db.get_by_email(f"bulk{BULK_USERS // 2}@x.io")
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    if len(sent) != 1:
        return f"{len(sent)} SELECTs sent"
    statement, parameters = sent[0]
    return await user_table_access(run, statement, parameters)


async def analyze(run: Run) -> None:
    statement = "ANALYZE TABLE `user`" if run.backend == "mysql" else "ANALYZE"
    async with run.engine.connect() as connection:
        await connection.exec_driver_sql(statement)
        await connection.commit()


async def user_table_access(run: Run, statement: str, parameters: Any) -> str:
    """How the plan reads the ``user`` table: ``index (name)`` or ``full scan``."""
    accesses: list[str] = []
    async with run.engine.connect() as connection:
        if run.backend == "sqlite":
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            for row in rows:
                _, _, rest = row.detail.partition(" ")
                if rest.split(" ")[0] == "user":
                    index = rest.split(" INDEX ")[1].split(" ")[0] if " INDEX " in rest else None
                    accesses.append(f"index ({index})" if index else "full scan")
        elif run.backend == "postgres":
            rows = await connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {statement}", parameters
            )
            plan = rows.scalar()
            for node in plan_nodes(json.loads(plan) if isinstance(plan, str) else plan):
                if node.get("Relation Name") == "user":
                    index = node.get("Index Name")
                    accesses.append(f"index ({index})" if index else "full scan")
        else:
            rows = await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            for row in rows.mappings():
                if row["table"] == "user":
                    key = row["key"]
                    full = row["type"] == "ALL" or key is None
                    accesses.append("full scan" if full else f"index ({key})")
    return "; ".join(accesses) or "user table not in plan"


def plan_nodes(plan: Any) -> list[dict[str, Any]]:
    if isinstance(plan, list):
        return [node for item in plan for node in plan_nodes(item)]
    if isinstance(plan, dict):
        nodes = [plan] if "Node Type" in plan else []
        for key in ("Plan", "Plans"):
            if key in plan:
                nodes.extend(plan_nodes(plan[key]))
        return nodes
    return []


# -- runs --------------------------------------------------------------------------------


def server_url(backend: str) -> str:
    return os.environ.get(URL_VARIABLES[backend]) or DEFAULT_URLS[backend]


@asynccontextmanager
async def scratch_database(backend: str) -> AsyncIterator[str]:
    """Yield the URL of an empty database, removed afterwards."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="bh_")
        try:
            yield f"sqlite+aiosqlite:///{folder}/behaviour.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    url = make_url(server_url(backend))
    name = f"bh_{secrets.token_hex(6)}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            force = " WITH (FORCE)" if backend == "postgres" else ""
            async with admin.connect() as connection:
                await connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}{force}")
    finally:
        await admin.dispose()


SERVER_QUERIES = {
    "sqlite": "SELECT 'SQLite ' || sqlite_version(), 'BINARY'",
    "postgres": (
        "SELECT 'PostgreSQL ' || current_setting('server_version'), "
        "'collation ' || datcollate FROM pg_database WHERE datname = current_database()"
    ),
    "mysql": "SELECT VERSION(), CONCAT('collation ', @@collation_database)",
}


async def run_adapter(backend: str, package: str) -> tuple[dict[str, str], str]:
    """Run every probe for one adapter on one backend; return outcomes and the server."""
    models = declare_models(package)
    async with scratch_database(backend) as url:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(models.base.metadata.create_all)
                version, collation = (
                    await connection.exec_driver_sql(SERVER_QUERIES[backend])
                ).one()
            run = Run(backend, engine, async_sessionmaker(engine, expire_on_commit=False), models)
            outcomes = {label: await run_probe(function, run) for label, function in PROBES}
            async with engine.begin() as connection:
                await connection.run_sync(models.base.metadata.drop_all)
        finally:
            await engine.dispose()
    return outcomes, f"{version} ({collation})" if backend != "sqlite" else version


async def run_probe(function: Probe, run: Run) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return await function(run)
    except Exception as error:
        return f"probe failed: {describe(error)}"


# -- report ------------------------------------------------------------------------------


def versions(servers: dict[str, str]) -> str:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    packages = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "fastapi-users-db-sqlalchemy",
            "fastapi-users",
            "userstore-sqlalchemy",
            "SQLAlchemy",
            "aiosqlite",
            "asyncpg",
            "aiomysql",
            "PyMySQL",
        )
    )
    found_servers = "; ".join(servers[b] for b in BACKENDS if b in servers)
    return (
        f"Versions: {packages}; Python {platform.python_version()}, "
        f"sqlite3 library {sqlite3.sqlite_version}. Servers: {found_servers}. "
        f"Run on {dt.datetime.now(dt.UTC).date().isoformat()} (UTC)."
    )


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(
    columns: list[tuple[str, str]],
    outcomes: dict[tuple[str, str], dict[str, str]],
    servers: dict[str, str],
) -> str:
    header = ["probe", *(f"{BACKEND_TITLES[b]} · {a}" for b, a in columns)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for label, _ in PROBES:
        row = [label, *(outcomes[column].get(label, "not run") for column in columns)]
        lines.append("| " + " | ".join(cell(text) for text in row) + " |")
    notes = [
        "",
        "fudb 7 = fastapi-users-db-sqlalchemy 7; both adapters wired as in the FastAPI Users "
        "SQLAlchemy tutorial (plain `create_async_engine(url)`, "
        "`async_sessionmaker(engine, expire_on_commit=False)`), fresh tables per run.",
        "",
        versions(servers),
    ]
    differing = userstore_differences(columns, outcomes)
    notes += ["", "userstore outcomes that differ across backends: " + (differing or "none.")]
    return "\n".join(lines + notes) + "\n"


def userstore_differences(
    columns: list[tuple[str, str]], outcomes: dict[tuple[str, str], dict[str, str]]
) -> str:
    ours = [column for column in columns if column[1] == "userstore"]
    found_rows = []
    for label, _ in PROBES:
        seen = {backend: outcomes[(backend, adapter)].get(label) for backend, adapter in ours}
        if len(set(seen.values())) > 1:
            values = ", ".join(f"{BACKEND_TITLES[b]}: {v}" for b, v in seen.items())
            found_rows.append(f"{label} ({values})")
    return "; ".join(found_rows)


async def main(backends: list[str]) -> str:
    columns = [(backend, adapter) for backend in backends for adapter in ADAPTERS]
    outcomes: dict[tuple[str, str], dict[str, str]] = {}
    servers: dict[str, str] = {}
    for backend, adapter in columns:
        print(f"running {adapter} on {backend}...", file=sys.stderr)
        try:
            outcomes[(backend, adapter)], servers[backend] = await run_adapter(
                backend, ADAPTERS[adapter]
            )
        except Exception as error:
            failed = f"not run: {describe(error)}"
            outcomes[(backend, adapter)] = {label: failed for label, _ in PROBES}
    return render(columns, outcomes, servers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    table = asyncio.run(main(arguments.backend or list(BACKENDS)))
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(table, encoding="utf-8")
    print(table)
