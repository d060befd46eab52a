"""The move from fastapi-users-db-sqlalchemy 7: its tables, with rows, through a real Alembic run.

The tables are fudb 7's (fudb_schema.py; verify_fudb_schema.py checks them against
fudb 7 itself).  After the migration autogenerate finds nothing left to change
against userstore's models, every row is still there with the same values, and
the userstore adapter works on them.  Conflicting rows stop it before any change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, column, create_engine, inspect, select, table, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from userstore import email_key
from userstore_sqlalchemy import ExactString, SQLAlchemyUserDatabase
from userstore_sqlalchemy.migrations import MigrationBlocked, upgrade_from_fastapi_users

from .fudb_schema import IdKind, create_fudb_tables, fudb_tables, new_id, write_fudb_rows
from .models import models_for
from .project import Project, run
from .scenario import (
    EMAILS,
    LINKS,
    MIGRATION,
    TABLES,
    TOKENS,
    dialect_of,
    fudb_tables_at,
    rows_of,
    use_as_userstore,
)
from .snapshot import schema_snapshot

FULLWIDTH_MASS = "\uff2da\u00df@x.io"  # full-width M, then "aß"


@pytest.mark.parametrize("ids", ["uuid", "int"])
def test_fudb_tables_move_over_with_every_row(
    scratch_url: str, project_dir: Path, ids: IdKind
) -> None:
    def setup(connection: Connection) -> dict[str, list[Any]]:
        tables = create_fudb_tables(connection, ids)
        write_fudb_rows(connection, tables, ids, EMAILS, LINKS, TOKENS)
        return rows_of(connection, tables)

    before = run(scratch_url, setup)
    assert len(before["user"]) == len(EMAILS)
    models = models_for(ids)
    project = Project(project_dir, scratch_url, models.metadata)

    pending = project.diffs()
    kinds = {diff[0] if isinstance(diff, tuple) else diff[0][0] for diff in pending}
    assert {"add_column", "add_index", "add_constraint", "remove_index"} <= kinds
    if scratch_url.startswith("mysql"):  # the collation alone is a change to make
        changed = {diff[0][3] for diff in pending if isinstance(diff, list)}
        assert {"email", "hashed_password", "oauth_name", "account_id", "token"} <= changed

    project.write("r1", None, MIGRATION.format(batch_size=7))
    project.upgrade()
    project.check()  # nothing left between the database and userstore's models

    after = run(scratch_url, rows_of, fudb_tables_at(scratch_url, ids))
    assert after == before

    def keys(connection: Connection) -> list[tuple[str, str]]:
        table = models.User.__table__
        return [tuple(row) for row in connection.execute(select(table.c.email, table.c.email_key))]

    assert sorted(run(scratch_url, keys)) == sorted((e, email_key(e)) for e in EMAILS)

    def again(connection: Connection) -> list[str]:
        return upgrade_from_fastapi_users(Operations(MigrationContext.configure(connection)))

    assert run(scratch_url, again) == []  # every step is already done
    asyncio.run(use_as_userstore(scratch_url, models, ids))


def test_conflicting_rows_stop_it_before_any_change(scratch_url: str, project_dir: Path) -> None:
    # U+FDFA is one character, 18 once NFKC-normalised: a 41-character email, a 653 key
    too_long = "\ufdfa" * 36 + "@x.io"
    emails = [
        *("straße@x.io", "ok@x.io", "STRASSE@x.io"),
        *(FULLWIDTH_MASS, "mass@X.io", "Maß@x.io"),
        too_long,
    ]
    links = [(1, "github", "7"), (2, "github", "7"), (2, "github", "8"), (3, "GitHub", "7")]

    def setup(connection: Connection) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        tables = create_fudb_tables(connection, "uuid")
        write_fudb_rows(connection, tables, "uuid", emails, links, TOKENS)
        return schema_snapshot(connection, TABLES), rows_of(connection, tables)

    before = run(scratch_url, setup)
    project = Project(project_dir, scratch_url, models_for("uuid").metadata)
    project.write("r1", None, MIGRATION.format(batch_size=2))
    with pytest.raises(MigrationBlocked) as raised:
        project.upgrade()

    dialect = dialect_of(scratch_url)

    def uid(n: int) -> str:
        return str(new_id(dialect, "uuid", n))

    found = {
        (c.table, c.key): [tuple(str(v) for v in row) for row in c.rows]
        for c in raised.value.conflicts
    }
    assert found == {
        ("user", ("strasse@x.io",)): [(uid(1), "straße@x.io"), (uid(3), "STRASSE@x.io")],
        ("user", ("maß@x.io".casefold(),)): [
            (uid(4), FULLWIDTH_MASS),
            (uid(5), "mass@X.io"),
            (uid(6), "Maß@x.io"),
        ],
        ("user", (email_key(too_long),)): [(uid(7), too_long)],
        ("oauth_account", ("github", "7")): [
            (uid(1001), uid(1)),
            (uid(1002), uid(2)),
        ],
    }
    message = str(raised.value)
    assert "nothing was changed" in message
    assert "'STRASSE@x.io'" in message
    assert "'mass@X.io'" in message

    def state(connection: Connection) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        return (
            schema_snapshot(connection, TABLES),
            rows_of(connection, fudb_tables(dialect, "uuid")),
        )

    assert run(scratch_url, state) == before
    versions = run(
        scratch_url,
        lambda c: (
            c.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            if inspect(c).has_table("alembic_version")
            else []
        ),
    )
    assert versions == []


@pytest.mark.backend("sqlite")
def test_sqlite_with_foreign_keys_on_is_refused(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        with engine.begin() as connection:
            tables = create_fudb_tables(connection, "uuid")
            write_fudb_rows(
                connection, tables, "uuid", ["a@x.io"], [(1, "github", "1")], TOKENS[:1]
            )
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA foreign_keys = ON")
            before = schema_snapshot(connection, TABLES), rows_of(connection, tables)
            operations = Operations(MigrationContext.configure(connection))
            with pytest.raises(RuntimeError, match="foreign_keys is ON"):
                upgrade_from_fastapi_users(operations)
            assert (schema_snapshot(connection, TABLES), rows_of(connection, tables)) == before
    finally:
        engine.dispose()


@pytest.mark.backend("sqlite")
def test_rows_of_deleted_users_stop_it(tmp_path: Path) -> None:
    """fudb on SQLite left a deleted user's accounts and tokens behind; they are listed."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'orphans.db'}"

    def setup(connection: Connection) -> dict[str, list[Any]]:
        tables = create_fudb_tables(connection, "uuid")
        links = [(1, "github", "7"), (2, "github", "7"), (2, "google", "8")]
        write_fudb_rows(connection, tables, "uuid", ["a@x.io", "b@x.io"], links, TOKENS)
        gone = tables.user.c.id == new_id("sqlite", "uuid", 2)
        connection.execute(tables.user.delete().where(gone))
        return rows_of(connection, tables)

    before = run(url, setup)
    project = Project(tmp_path / "alembic", url, models_for("uuid").metadata)
    project.write("r1", None, MIGRATION.format(batch_size=1000))
    with pytest.raises(MigrationBlocked) as raised:
        project.upgrade()
    gone = str(new_id("sqlite", "uuid", 2))
    found = {(c.table, c.key, len(c.rows)) for c in raised.value.conflicts}
    # the link (github, 7) of the deleted user is reported as left behind, not as a duplicate
    assert found == {("oauth_account", (gone,), 2), ("accesstoken", (gone,), 1)}
    assert run(url, rows_of, fudb_tables("sqlite", "uuid")) == before


def test_a_partial_earlier_run_is_completed(scratch_url: str, project_dir: Path) -> None:
    """MySQL commits each ALTER on its own: a run that stopped halfway is run again."""

    def setup(connection: Connection) -> None:
        tables = create_fudb_tables(connection, "uuid")
        write_fudb_rows(connection, tables, "uuid", EMAILS, LINKS, TOKENS)
        operations = Operations(MigrationContext.configure(connection))
        operations.add_column("user", Column("email_key", ExactString(640), nullable=True))
        user = table("user", column("id"), column("email_key"))
        first = new_id(connection.dialect.name, "uuid", 1)
        connection.execute(
            update(user).where(user.c.id == first).values(email_key=email_key(EMAILS[0]))
        )

    run(scratch_url, setup)
    models = models_for("uuid")
    project = Project(project_dir, scratch_url, models.metadata)
    project.write("r1", None, MIGRATION.format(batch_size=5))
    project.upgrade()
    project.check()
    asyncio.run(use_as_userstore(scratch_url, models, "uuid"))


def test_a_userstore_schema_is_left_alone(scratch_url: str) -> None:
    models = models_for("uuid")

    async def create() -> None:
        engine = create_async_engine(scratch_url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(models.metadata.create_all)
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
                await users.create({"email": "Ada@Example.com", "hashed_password": "h"})
        finally:
            await engine.dispose()

    asyncio.run(create())

    def upgrade(connection: Connection) -> list[str]:
        return upgrade_from_fastapi_users(Operations(MigrationContext.configure(connection)))

    assert run(scratch_url, upgrade) == []


ZONE = {  # set on the migration's connection; SQLite has no session time zone
    "postgresql": ("SET TIME ZONE 'Asia/Kolkata'", "SHOW TIME ZONE", "Asia/Kolkata"),
    "mysql": ("SET time_zone = '+05:30'", "SELECT @@session.time_zone", "+05:30"),
}


def test_token_times_survive_a_session_in_another_time_zone(scratch_url: str) -> None:
    """MySQL converts TIMESTAMP by the session's zone; fudb's sessions used the server's."""

    def setup(connection: Connection) -> dict[str, list[Any]]:
        tables = create_fudb_tables(connection, "uuid")
        write_fudb_rows(connection, tables, "uuid", EMAILS[:2], [], TOKENS)
        return rows_of(connection, tables)

    before = run(scratch_url, setup)

    def migrate(connection: Connection) -> tuple[dict[str, list[Any]], str | None]:
        zone = ZONE.get(connection.dialect.name)
        if zone:
            connection.exec_driver_sql(zone[0])
        upgrade_from_fastapi_users(Operations(MigrationContext.configure(connection)))
        rows = rows_of(connection, fudb_tables(connection.dialect.name, "uuid"))
        return rows, connection.exec_driver_sql(zone[1]).scalar() if zone else None

    after, zone_after = run(scratch_url, migrate)
    assert after == before
    assert zone_after == (
        ZONE[dialect_of(scratch_url)][2] if dialect_of(scratch_url) in ZONE else None
    )
