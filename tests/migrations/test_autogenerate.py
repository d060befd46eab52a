"""Autogenerate on userstore's models: the generated file runs unedited, both ways, and
a second autogenerate after the upgrade finds nothing to do, on every backend."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import TIMESTAMP, BigInteger, Column, MetaData, String, Table, Text, inspect
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import userstore_sqlalchemy
from userstore import OAuthAccountAlreadyLinked, UserAlreadyExists
from userstore_sqlalchemy import (
    GUID,
    ExactString,
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyUserDatabase,
    UTCDateTime,
)
from userstore_sqlalchemy.migrations import (
    alembic_options,
    compare_type,
    process_revision_directives,
    render_item,
)

from .models import models_for
from .project import Project, run

DIALECTS = [sqlite.dialect(), postgresql.dialect(), mysql.dialect()]


def render(type_: Any) -> tuple[Any, set[str]]:
    context = AutogenContext(MigrationContext.configure(dialect_name="sqlite"))
    return render_item("type", type_, context), context.imports


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (GUID(), "userstore_sqlalchemy.GUID()"),
        (UTCDateTime(), "userstore_sqlalchemy.UTCDateTime()"),
        (ExactString(320), "userstore_sqlalchemy.ExactString(320)"),
        (ExactString(), "userstore_sqlalchemy.ExactString()"),
    ],
)
def test_types_render_by_public_name_with_their_import(type_: Any, expected: str) -> None:
    rendered, imports = render(type_)
    assert rendered == expected
    assert imports == {"import userstore_sqlalchemy"}
    rebuilt = eval(rendered, {"userstore_sqlalchemy": userstore_sqlalchemy})
    for dialect in DIALECTS:
        assert rebuilt.compile(dialect=dialect) == type_.compile(dialect=dialect)


def test_other_types_and_items_are_left_to_alembic() -> None:
    assert render(String(10)) == (False, set())
    assert render(BigInteger()) == (False, set())
    context = AutogenContext(MigrationContext.configure(dialect_name="sqlite"))
    assert render_item("column", Column("x", GUID()), context) is False
    assert not context.imports


def test_index_drops_before_their_table_drop_are_left_out() -> None:
    kept = ops.ModifyTableOps("other", [ops.DropIndexOp("ix_other_a", "other")])
    downgrade = ops.DowngradeOps(
        [
            ops.ModifyTableOps("oauth_account", [ops.DropIndexOp("ix_oauth_account_user_id")]),
            ops.DropTableOp("oauth_account"),
            kept,
        ]
    )
    script = ops.MigrationScript("r", ops.UpgradeOps([]), downgrade)
    process_revision_directives(MigrationContext.configure(dialect_name="mysql"), None, [script])
    assert [type(op) for op in downgrade.ops] == [ops.DropTableOp, ops.ModifyTableOps]
    assert downgrade.ops[1] is kept
    assert len(kept.ops) == 1


COMPARISONS = [
    # (dialect, reflected type, model type, verdict: True differs, False same, None Alembic's)
    ("postgresql", String(1024), ExactString(), True),  # fudb's tokens: Alembic misses it
    ("postgresql", String(), ExactString(320), True),
    ("postgresql", String(), ExactString(), False),
    ("postgresql", Text(), ExactString(), False),  # TEXT is unbounded VARCHAR there
    ("postgresql", String(320), ExactString(320), None),
    ("sqlite", String(320), ExactString(320), None),
    ("postgresql", postgresql.TIMESTAMP(timezone=True), UTCDateTime(), None),
    ("postgresql", postgresql.TIMESTAMP(), UTCDateTime(), True),
    ("sqlite", TIMESTAMP(), UTCDateTime(), True),
    ("mysql", mysql.DATETIME(), UTCDateTime(), True),  # no fractions: Alembic misses it
    ("mysql", mysql.DATETIME(fsp=6), UTCDateTime(), None),
    ("mysql", mysql.VARCHAR(320), ExactString(320), True),  # the table's default collation
    ("mysql", mysql.VARCHAR(320, collation="utf8mb4_0900_bin"), ExactString(320), None),
    ("mysql", mysql.CHAR(36), GUID(), False),  # fudb's ids stay
    ("mysql", sqltypes.UUID(), GUID(), False),  # MariaDB's UUID, as SQLAlchemy reflects it
    ("mysql", mysql.VARCHAR(36), GUID(), None),
    ("postgresql", postgresql.UUID(), GUID(), None),
    ("mysql", BigInteger(), BigInteger(), None),
    ("mssql", String(1024), ExactString(), None),  # no shim: none of our business
]


@pytest.mark.parametrize(("dialect", "reflected", "model", "verdict"), COMPARISONS)
def test_compare_type_verdicts(dialect: str, reflected: Any, model: Any, verdict: Any) -> None:
    context = MigrationContext.configure(dialect_name=dialect)  # offline: no connection
    inspected = Column("c", reflected)
    Table("t", MetaData(), inspected)
    assert compare_type(context, inspected, Column("c", model), reflected, model) is verdict


async def _exercise(url: str, models: types.SimpleNamespace) -> None:
    """The contract's unique rules hold on the migrated schema (constraint names included)."""
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
            ada = await users.create({"email": "Ada@Example.com", "hashed_password": "h"})
            with pytest.raises(UserAlreadyExists):
                await users.create({"email": "ADA@example.COM", "hashed_password": "h"})
            link = {
                "oauth_name": "github",
                "account_id": "42",
                "account_email": "ada@example.com",
                "access_token": "t" * 5000,
                "expires_at": 2**40,
            }
            await users.add_oauth_account(ada, link)
            bob = await users.create({"email": "bob@example.com", "hashed_password": "h"})
            with pytest.raises(OAuthAccountAlreadyLinked):
                await users.add_oauth_account(bob, link)
            await tokens.create({"token": "k" * 43, "user_id": ada.id})
            found = await users.get_by_oauth_account("github", "42")
            assert found is not None
            assert found.id == ada.id
            assert found.oauth_accounts[0].access_token == "t" * 5000
            await users.delete(found)
            assert await tokens.get_by_token("k" * 43) is None
    finally:
        await engine.dispose()


def _tables(url: str) -> set[str]:
    return set(run(url, lambda connection: inspect(connection).get_table_names()))


@pytest.mark.parametrize("ids", ["uuid", "int"])
def test_autogenerate_upgrade_check_downgrade(
    scratch_url: str, project_dir: Path, ids: Any
) -> None:
    models = models_for(ids)
    project = Project(project_dir, scratch_url, models.metadata)

    source = project.autogenerate("r1")
    assert "import userstore_sqlalchemy\n" in source
    assert "userstore_sqlalchemy.types" not in source
    if ids == "uuid":
        assert "userstore_sqlalchemy.GUID()" in source
    if scratch_url.startswith("sqlite"):
        assert "op.batch_alter_table(" in source

    project.upgrade()
    assert {"user", "oauth_account", "accesstoken"} <= _tables(scratch_url)
    project.check()  # a second autogenerate finds nothing to do
    asyncio.run(_exercise(scratch_url, models))

    project.downgrade()
    assert not {"user", "oauth_account", "accesstoken"} & _tables(scratch_url)
    project.upgrade()  # the downgrade left nothing in the way
    project.check()


def test_alembic_options_batch_only_on_sqlite(db_url: str) -> None:
    def options(connection: Any) -> dict[str, Any]:
        return alembic_options(connection)

    found = run(db_url, options)
    assert found["render_as_batch"] is db_url.startswith("sqlite")
    assert found["render_item"] is render_item
    assert found["compare_type"] is compare_type
    assert found["process_revision_directives"] is process_revision_directives
