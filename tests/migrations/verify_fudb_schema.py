"""Check fudb_schema.py against fastapi-users-db-sqlalchemy 7 itself, on every backend.

Run from the repository root where fastapi-users-db-sqlalchemy 7 (and so
SQLAlchemy 2.0) is installed, e.g. the behaviour venv benchmarks/behaviour.sh builds::

    /tmp/bh-venv/bin/python -m tests.migrations.verify_fudb_schema [--backend NAME]...

For each backend (SQLite, and the servers named by USERSTORE_TEST_POSTGRES_URL and
USERSTORE_TEST_MYSQL_URL, each in a scratch database) and each id kind, it creates
the tables with fudb 7's own mixins, takes the database's description of them
(snapshot.py), drops them, does the same with the reproduction, and compares.
Exit status 1 on any difference, which is printed.

``--migrate`` (needs alembic and pytest too) goes on to the rows: it writes the
migration tests' rows through fudb 7's own adapter (``create``,
``add_oauth_account``, the access-token ``create``), checks that fudb_schema.py's
writer stores exactly the same values, then runs the migration tests' Alembic
migration on fudb's database, checks that autogenerate finds nothing left to
change, that every row is unchanged, and that userstore finds and protects them::

    uv venv /tmp/fudb-venv --python 3.11
    uv pip install --python /tmp/fudb-venv 'fastapi-users-db-sqlalchemy==7.*' \\
        'sqlalchemy[asyncio]<2.1' alembic pytest aiosqlite asyncpg aiomysql \\
        -e protocol -e adapters/sqlalchemy
    /tmp/fudb-venv/bin/python -m tests.migrations.verify_fudb_schema --migrate

``--upgrade`` (needs fastapi-users too) does the same with the ``userstore
upgrade`` command instead of Alembic, on rows fudb 7 wrote plus a user whose
password hash FastAPI Users' ``PasswordHelper`` made: every row is unchanged,
that user is found by another case of its email and its password verifies::

    /tmp/fudb-venv/bin/python -m tests.migrations.verify_fudb_schema --upgrade

``--save FILE`` also writes fudb's snapshots to FILE (JSON); ``--against FILE``
needs no fudb: it compares the reproduction, built with the SQLAlchemy at hand
(2.1 in the workspace), to the snapshots saved there::

    /tmp/bh-venv/bin/python -m tests.migrations.verify_fudb_schema --save /tmp/fudb7.json
    uv run python -m tests.migrations.verify_fudb_schema --against /tmp/fudb7.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pprint
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, relationship

from tests.backends import MAIN_BACKENDS, resolve

from .fudb_schema import IdKind, fudb_rows, fudb_tables, write_fudb_rows
from .snapshot import schema_snapshot

TABLES = ("user", "oauth_account", "accesstoken")
ID_KINDS: tuple[IdKind, ...] = ("uuid", "int")


def fudb_models(ids: IdKind) -> types.SimpleNamespace:
    """fudb 7's mixins, declared as its docs do (the int variant with ``ondelete="cascade"``)."""
    from fastapi_users_db_sqlalchemy import (
        SQLAlchemyBaseOAuthAccountTable,
        SQLAlchemyBaseOAuthAccountTableUUID,
        SQLAlchemyBaseUserTable,
        SQLAlchemyBaseUserTableUUID,
    )
    from fastapi_users_db_sqlalchemy.access_token import (
        SQLAlchemyBaseAccessTokenTable,
        SQLAlchemyBaseAccessTokenTableUUID,
    )

    class Base(DeclarativeBase):
        pass

    if ids == "uuid":

        class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
            pass

        class User(SQLAlchemyBaseUserTableUUID, Base):
            oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

        class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
            pass

    else:

        class OAuthAccount(SQLAlchemyBaseOAuthAccountTable[int], Base):  # type: ignore[no-redef]
            id = Column(Integer, primary_key=True)

            @declared_attr
            def user_id(cls) -> Any:
                return Column(Integer, ForeignKey("user.id", ondelete="cascade"), nullable=False)

        class User(SQLAlchemyBaseUserTable[int], Base):  # type: ignore[no-redef]
            id = Column(Integer, primary_key=True)
            oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

        class AccessToken(SQLAlchemyBaseAccessTokenTable[int], Base):  # type: ignore[no-redef]
            @declared_attr
            def user_id(cls) -> Any:
                return Column(Integer, ForeignKey("user.id", ondelete="cascade"), nullable=False)

    return types.SimpleNamespace(
        metadata=Base.metadata, User=User, OAuthAccount=OAuthAccount, AccessToken=AccessToken
    )


def snapshot_of(connection: Connection, metadata: MetaData) -> dict[str, Any]:
    metadata.create_all(connection)
    try:
        return schema_snapshot(connection, TABLES)
    finally:
        metadata.drop_all(connection)


def _plain(snapshot: dict[str, Any]) -> Any:
    return json.loads(json.dumps(snapshot))


async def compare(url: str, saved: dict[str, Any] | None, store: dict[str, Any]) -> list[str]:
    """Compare fudb's tables (or the ``saved`` snapshots) with the reproduction on ``url``."""
    engine = create_async_engine(url)
    problems = []
    try:
        for ids in ID_KINDS:
            async with engine.begin() as connection:
                name = connection.dialect.name
                key = f"{name}/{ids}"
                if saved is None:
                    metadata = fudb_models(ids).metadata
                    original = _plain(await connection.run_sync(snapshot_of, metadata))
                    store[key] = original
                else:
                    original = saved[key]
                copy = await connection.run_sync(snapshot_of, fudb_tables(name, ids).metadata)
            copy = _plain(copy)
            if original != copy:
                problems.append(
                    f"{key}:\nfudb 7:\n{pprint.pformat(original)}\n"
                    f"reproduction:\n{pprint.pformat(copy)}"
                )
            else:
                print(f"{key}: identical tables")
                if "-v" in sys.argv:
                    pprint.pprint(original)
    finally:
        await engine.dispose()
    return problems


async def write_through_fudb(url: str, models: types.SimpleNamespace, ids: IdKind) -> None:
    """Create fudb's tables and write the scenario's rows with fudb 7's own adapter."""
    from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
    from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase

    from .scenario import EMAILS, LINKS, TOKENS

    rows = fudb_rows(ids, EMAILS, LINKS, TOKENS)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(models.metadata.create_all)
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            created = [await users.create(dict(row)) for row in rows.users]
            for (owner, _, _), link in zip(LINKS, rows.links, strict=True):
                await users.add_oauth_account(
                    created[owner - 1], {k: v for k, v in link.items() if k != "user_id"}
                )
            tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
            for token in rows.tokens:
                await tokens.create(dict(token))
    finally:
        await engine.dispose()


def migrate(url: str, ids: IdKind, tmp: Path) -> list[str]:
    """fudb writes, the reproduction's writer agrees, the migration carries every row over."""
    from .models import models_for
    from .project import Project, drop_tables, run
    from .scenario import (
        EMAILS,
        LINKS,
        MIGRATION,
        TOKENS,
        fudb_tables_at,
        rows_of,
        use_as_userstore,
    )

    key = f"{url.split('+')[0]}/{ids}"
    problems = []
    tables = fudb_tables_at(url, ids)
    try:
        drop_tables(url)
        asyncio.run(write_through_fudb(url, fudb_models(ids), ids))
        written_by_fudb = run(url, rows_of, tables)
        drop_tables(url)

        def reproduce(connection: Connection) -> dict[str, list[Any]]:
            tables.metadata.create_all(connection)
            write_fudb_rows(connection, tables, ids, EMAILS, LINKS, TOKENS)
            return rows_of(connection, tables)

        if run(url, reproduce) != written_by_fudb:
            problems.append(f"{key}: fudb_schema.write_fudb_rows stores other values than fudb")
        drop_tables(url)

        asyncio.run(write_through_fudb(url, fudb_models(ids), ids))
        models = models_for(ids)
        project = Project(tmp / f"alembic-{ids}", url, models.metadata)
        project.write("r1", None, MIGRATION.format(batch_size=7))
        project.upgrade()
        project.check()
        if run(url, rows_of, tables) != written_by_fudb:
            problems.append(f"{key}: rows changed by the migration")
        asyncio.run(use_as_userstore(url, models, ids))
        print(f"{key}: rows written by fudb 7 moved over; autogenerate finds no difference")
    finally:
        drop_tables(url)
    return problems


async def fudb_user_with_password(url: str, models: types.SimpleNamespace, password: str) -> None:
    """One more user, created by fudb 7's adapter with a hash FastAPI Users made."""
    from fastapi_users.password import PasswordHelper
    from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase

    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            await users.create(
                {
                    "email": "Grace.Hopper@Example.com",
                    "hashed_password": PasswordHelper().hash(password),
                }
            )
    finally:
        await engine.dispose()


def upgrade_command(url: str, ids: IdKind) -> list[str]:
    """fudb 7 writes the rows; ``userstore upgrade`` moves them; userstore logs the user in."""
    import subprocess

    from fastapi_users.password import PasswordHelper

    from userstore_sqlalchemy import SQLAlchemyUserDatabase as UserstoreUsers

    from .models import models_for
    from .project import drop_tables, run
    from .scenario import fudb_tables_at, rows_of, use_as_userstore

    key = f"{url.split('+')[0]}/{ids}"
    password = "correct horse battery staple"
    tables = fudb_tables_at(url, ids)
    problems = []
    try:
        drop_tables(url)
        fudb = fudb_models(ids)
        asyncio.run(write_through_fudb(url, fudb, ids))
        asyncio.run(fudb_user_with_password(url, fudb, password))
        before = run(url, rows_of, tables)
        command = [sys.executable, "-m", "userstore", "upgrade", "--url", url]
        if ids == "int":
            command += ["--id-type", "int"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        print(done.stdout, end="")
        if done.returncode != 0:
            problems.append(f"{key}: userstore upgrade exited {done.returncode}: {done.stderr}")
            return problems
        if run(url, rows_of, tables) != before:
            problems.append(f"{key}: rows changed by userstore upgrade")
        models = models_for(ids)

        async def log_in() -> bool:
            engine = create_async_engine(url, poolclass=pool.NullPool)
            try:
                async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                    users = UserstoreUsers(session, models.User, models.OAuthAccount)
                    grace = await users.get_by_email("grace.HOPPER@example.COM")
                    if grace is None:
                        return False
                    verified, _ = PasswordHelper().verify_and_update(
                        password, grace.hashed_password
                    )
                    return bool(verified)
            finally:
                await engine.dispose()

        if not asyncio.run(log_in()):
            problems.append(f"{key}: the fudb-made user does not log in after userstore upgrade")
        asyncio.run(use_as_userstore(url, models, ids))
        print(f"{key}: rows written by fudb 7 moved over by userstore upgrade; the user logs in")
    finally:
        drop_tables(url)
    return problems


def main() -> int:
    import sqlalchemy

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", action="append", choices=MAIN_BACKENDS)
    parser.add_argument("--migrate", action="store_true", help="also migrate fudb-written rows")
    parser.add_argument(
        "--upgrade", action="store_true", help="also run userstore upgrade on fudb-written rows"
    )
    parser.add_argument("--save", type=Path, help="write fudb's snapshots to this JSON file")
    parser.add_argument("--against", type=Path, help="compare with snapshots saved earlier")
    parser.add_argument("-v", action="store_true", help="print each snapshot")
    args = parser.parse_args()
    saved = json.loads(args.against.read_text()) if args.against else None
    if saved is None or args.migrate or args.upgrade:
        import fastapi_users_db_sqlalchemy

        origin = f"fastapi-users-db-sqlalchemy {fastapi_users_db_sqlalchemy.__version__}"
    else:
        origin = f"snapshots in {args.against}"
    print(f"{origin}, reproduction on SQLAlchemy {sqlalchemy.__version__}")
    problems: list[str] = []
    store: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.backend or MAIN_BACKENDS:
            with resolve(name, Path(tmp)) as backend:
                if backend.url is None:
                    problems.append(f"{name}: unavailable: {backend.reason}")
                    continue
                problems += asyncio.run(compare(backend.url, saved, store))
                if args.migrate:
                    for ids in ID_KINDS:
                        problems += migrate(backend.url, ids, Path(tmp))
                if args.upgrade:
                    for ids in ID_KINDS:
                        problems += upgrade_command(backend.url, ids)
    if args.save:
        args.save.write_text(json.dumps(store, indent=1))
    for problem in problems:
        print(problem)
    print("FAILED" if problems else "OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
