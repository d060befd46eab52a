"""``userstore upgrade`` (and ``init``) on tables and rows fastapi-users-db-sqlalchemy 7 made.

The tables and rows are fudb 7's (tests/migrations/fudb_schema.py, checked against
fudb 7 itself by verify_fudb_schema.py); one user has a password hash made by
FastAPI Users' own ``PasswordHelper``.  On SQLite, PostgreSQL and MySQL/MariaDB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi_users.password import PasswordHelper
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from userstore_sqlalchemy import SQLAlchemyUserDatabase

from ..migrations.fudb_schema import create_fudb_tables, fudb_tables, write_fudb_rows
from ..migrations.models import models_for
from ..migrations.project import drop_tables, run
from ..migrations.scenario import (
    EMAILS,
    LINKS,
    TABLES,
    TOKENS,
    fudb_tables_at,
    rows_of,
    use_as_userstore,
)
from ..migrations.snapshot import schema_snapshot
from .conftest import Done, run_userstore

PASSWORD = "correct horse battery staple"


class FudbDatabase:
    """fudb 7's tables and rows in the run's scratch database, and the command aimed at it."""

    def __init__(
        self,
        url: str,
        cwd: Path,
        env: dict[str, str],
        emails: list[str],
        links: list[tuple[int, str, str]],
    ) -> None:
        self.url = url
        self.cwd = cwd
        self.env = env
        self.hash = PasswordHelper().hash(PASSWORD)

        def setup(connection: Connection) -> None:
            tables = create_fudb_tables(connection, "uuid")
            write_fudb_rows(connection, tables, "uuid", emails, links, TOKENS)
            ada = tables.user.c.email == "Ada@Example.com"
            connection.execute(update(tables.user).where(ada).values(hashed_password=self.hash))

        run(url, setup)

    @property
    def shown(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def run(self, *args: str) -> Done:
        return run_userstore(*args, "--url", self.url, cwd=self.cwd, env=self.env)

    def state(self) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        """The tables as the database describes them, and every row of fudb's columns."""

        def read(connection: Connection) -> tuple[dict[str, Any], dict[str, list[Any]]]:
            tables = fudb_tables_at(self.url, "uuid")
            return schema_snapshot(connection, TABLES), rows_of(connection, tables)

        return run(self.url, read)


@pytest.fixture
def make_fudb(db_url: str, tmp_path: Path, cli_env: dict[str, str]) -> Iterator[Any]:
    """Build fudb's database with the given emails; its tables are dropped after the test."""
    try:
        yield lambda emails=EMAILS, links=LINKS: FudbDatabase(
            db_url, tmp_path, cli_env, list(emails), list(links)
        )
    finally:
        drop_tables(db_url)


def test_init_on_a_fudb_schema_says_what_is_wrong_and_names_upgrade(make_fudb: Any) -> None:
    db = make_fudb()
    before = db.state()
    done = db.run("init")
    assert done.status == 2, str(done)
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("userstore: table 'user' has no column email_key; ")
    assert f"`userstore upgrade --url {db.shown}`" in line
    assert "schema ready" not in done.stdout
    assert db.state() == before


def test_other_commands_on_a_fudb_schema_name_upgrade(make_fudb: Any) -> None:
    db = make_fudb()
    done = db.run("users", "show", "ada@example.com")
    assert done.status == 2, str(done)
    assert f"`userstore upgrade --url {db.shown}`" in done.stderr
    assert "are the tables there" not in done.stderr
    assert "database error" not in done.stderr


def test_dry_run_reports_the_plan_and_changes_nothing(make_fudb: Any) -> None:
    db = make_fudb()
    before = db.state()
    done = db.run("upgrade", "--dry-run")
    assert done.status == 0, str(done)
    lines = done.stdout.splitlines()
    assert lines[0] == f"userstore upgrade {db.shown}: found a fastapi-users-db-sqlalchemy 7 schema"
    assert "  user: added email_key" in lines
    assert f"  user.email_key: filled {len(EMAILS)} row(s)" in lines
    assert "  user: created unique index ix_user_email_key" in lines
    assert "  oauth_account: created unique constraint uq_oauth_account_oauth_name_account_id" in (
        lines
    )
    assert lines[-1].endswith("step(s) to take (dry run: nothing was changed)")
    assert db.state() == before

    document = db.run("upgrade", "--dry-run", "--json").json()
    assert document["dry_run"] is True
    assert document["changed"] is False
    assert document["conflicts"] == []
    assert document["steps"] == [line.strip() for line in lines[1:-1]]
    assert db.state() == before


def test_conflicting_rows_are_listed_and_nothing_changes(make_fudb: Any) -> None:
    # two emails with one key ("straße" and "STRASSE" differ under the collation of
    # fudb's unique index on all three backends) and an OAuth account linked twice
    db = make_fudb([*EMAILS, "STRASSE@x.io"], [*LINKS, (3, "github", "AbC")])
    before = db.state()
    done = db.run("upgrade")
    assert done.status == 1, str(done)
    assert "2 conflict(s) stop the upgrade; nothing was changed." in done.stdout
    assert "'strasse@x.io'" in done.stdout
    assert "straße@x.io" in done.stdout
    assert "STRASSE@x.io" in done.stdout
    assert "'github', 'AbC'" in done.stdout
    assert db.state() == before

    document = db.run("upgrade", "--json").json()
    keys = {(c["table"], tuple(c["key"])) for c in document["conflicts"]}
    assert keys == {("user", ("strasse@x.io",)), ("oauth_account", ("github", "AbC"))}
    assert document["changed"] is False
    assert db.state() == before


def test_upgrade_keeps_every_row_and_fudb_users_log_in(make_fudb: Any) -> None:
    db = make_fudb()
    _, rows_before = db.state()
    done = db.run("upgrade", "--progress")
    assert done.status == 0, str(done)
    assert done.stdout.splitlines()[-1].endswith("step(s), every row kept")
    assert f"user: filling email_key: {len(EMAILS)}/{len(EMAILS)} (100%)" in done.stderr
    _, rows_after = db.state()
    assert rows_after == rows_before

    async def log_in() -> None:
        models = models_for("uuid")
        engine = create_async_engine(db.url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
                ada = await users.get_by_email("aDA@example.COM")
                assert ada is not None
                verified, _ = PasswordHelper().verify_and_update(PASSWORD, ada.hashed_password)
                assert verified
        finally:
            await engine.dispose()
        await use_as_userstore(db.url, models, "uuid")

    asyncio.run(log_in())

    again = db.run("upgrade")
    assert again.status == 0, str(again)
    assert "found userstore's schema" in again.stdout
    assert "nothing to upgrade: the schema is up to date" in again.stdout
    ready = db.run("init")
    assert ready.status == 0, str(ready)
    assert ready.stdout.startswith("schema ready at")


def test_foreign_keys_without_cascade_get_it(db_url: str, tmp_path: Path, cli_env: Any) -> None:
    """Tables made some other way: userstore's models delete a user's rows by the cascade."""

    def setup(connection: Connection) -> None:
        tables = fudb_tables(connection.dialect.name, "uuid")
        for table in (tables.oauth_account, tables.accesstoken):
            for key in table.foreign_key_constraints:
                key.ondelete = None
        tables.metadata.create_all(connection)
        write_fudb_rows(connection, tables, "uuid", EMAILS, LINKS, TOKENS)

    def cascades(connection: Connection) -> dict[str, list[Any]]:
        found = inspect(connection)
        return {
            name: [key["options"].get("ondelete") for key in found.get_foreign_keys(name)]
            for name in ("oauth_account", "accesstoken")
        }

    try:
        run(db_url, setup)
        assert run(db_url, cascades) == {"oauth_account": [None], "accesstoken": [None]}
        done = run_userstore("upgrade", "--url", db_url, cwd=tmp_path, env=cli_env)
        assert done.status == 0, str(done)
        assert "  oauth_account.user_id: foreign key to user ON DELETE CASCADE" in done.stdout
        assert "  accesstoken.user_id: foreign key to user ON DELETE CASCADE" in done.stdout
        assert "still missing" not in done.stdout
        found = run(db_url, cascades)
        assert found == {"oauth_account": ["CASCADE"], "accesstoken": ["CASCADE"]}

        async def delete_ada() -> None:
            models = models_for("uuid")
            engine = create_async_engine(db_url)
            try:
                async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                    users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
                    ada = await users.get_by_email("ada@example.com")
                    assert ada is not None
                    await users.delete(ada)
                    links = await session.execute(text("SELECT COUNT(*) FROM oauth_account"))
                    assert links.scalar_one() == len(LINKS) - 2  # Ada's two went with her
                    tokens = await session.execute(text("SELECT COUNT(*) FROM accesstoken"))
                    assert tokens.scalar_one() == len(TOKENS) - 1
            finally:
                await engine.dispose()

        asyncio.run(delete_ada())
    finally:
        drop_tables(db_url)
