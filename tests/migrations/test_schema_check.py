"""The first call on tables fudb 7 made, or on none, raises SchemaOutdated naming the fix.

Both faces: the drop-in database classes on the application's own session and
models, and ``userstore.connect()``.  The tables are fudb 7's (fudb_schema.py).
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import userstore
from userstore import SchemaOutdated, UserStoreError
from userstore_sqlalchemy import SQLAlchemyAccessTokenDatabase, SQLAlchemyUserDatabase

from .fudb_schema import create_fudb_tables, write_fudb_rows
from .models import models_for
from .project import run
from .scenario import EMAILS, LINKS, TOKENS

FUDB_GAPS = (
    "table 'user' has no column email_key",
    "table 'user' has no unique index or constraint on email_key",
    "table 'oauth_account' has no unique index or constraint on (oauth_name, account_id)",
)


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture
def fudb_url(scratch_url: str) -> str:
    """The scratch database with fudb 7's tables and rows."""

    def setup(connection: Connection) -> None:
        tables = create_fudb_tables(connection, "uuid")
        write_fudb_rows(connection, tables, "uuid", EMAILS, LINKS, TOKENS)

    run(scratch_url, setup)
    return scratch_url


@pytest_asyncio.fixture
async def engine(scratch_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(scratch_url, poolclass=pool.NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_drop_in_classes_raise_schema_outdated_naming_upgrade(
    fudb_url: str, engine: AsyncEngine
) -> None:
    models = models_for("uuid")
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        with pytest.raises(SchemaOutdated) as raised:
            await users.get_by_email("ada@example.com")
        first_line = str(raised.value).splitlines()[0]
        assert raised.value.problems == FUDB_GAPS
        assert first_line.startswith("; ".join(FUDB_GAPS) + ": a fastapi-users-db-sqlalchemy 7")
        assert f"`userstore upgrade --url {shown(fudb_url)}`" in first_line
        assert "upgrade_from_fastapi_users" in first_line
        assert raised.value.__cause__ is None  # not a database error: a finding

        # every call says the same until the schema is fixed, writes and tokens too
        with pytest.raises(SchemaOutdated):
            await users.create({"email": "new@example.com", "hashed_password": "h"})
        tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
        with pytest.raises(SchemaOutdated):
            await tokens.get_by_token("a" * 43)
    copy = pickle.loads(pickle.dumps(raised.value))
    assert (copy.problems, copy.fix) == (raised.value.problems, raised.value.fix)
    assert isinstance(raised.value, UserStoreError)


async def test_connect_raises_schema_outdated_naming_upgrade(fudb_url: str) -> None:
    async with userstore.connect(fudb_url) as store, store.session() as session:
        with pytest.raises(SchemaOutdated) as raised:
            await session.users.get_by_email("ada@example.com")
    first_line = str(raised.value).splitlines()[0]
    assert raised.value.problems == FUDB_GAPS
    assert f"`userstore upgrade --url {shown(fudb_url)}`" in first_line


async def test_connect_on_the_applications_models_names_them(fudb_url: str) -> None:
    models = models_for("uuid")
    base = next(c for c in models.User.__mro__ if "registry" in vars(c))  # its DeclarativeBase
    async with userstore.connect(fudb_url, models=base) as store, store.session() as session:
        with pytest.raises(SchemaOutdated) as raised:
            await session.users.get_by_email("ada@example.com")
    source = f"{base.__module__}:{base.__qualname__}"
    assert f"--url {shown(fudb_url)} --models {source}`" in str(raised.value)


async def test_missing_tables_name_init(scratch_url: str, engine: AsyncEngine) -> None:
    models = models_for("uuid")
    async with async_sessionmaker(engine)() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        with pytest.raises(SchemaOutdated) as raised:
            await users.get_by_email("ada@example.com")
    assert raised.value.problems == (
        "table 'user' does not exist",
        "table 'oauth_account' does not exist",
        "table 'accesstoken' does not exist",
    )
    assert f"`userstore init --url {shown(scratch_url)}`" in str(raised.value)


async def test_a_table_gone_after_the_check_is_found_at_its_error(
    scratch_url: str, engine: AsyncEngine
) -> None:
    models = models_for("uuid")
    async with engine.begin() as connection:
        await connection.run_sync(models.metadata.create_all)
    async with async_sessionmaker(engine)() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        assert await users.get_by_email("ada@example.com") is None  # checked: all there
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE oauth_account"))
    async with async_sessionmaker(engine)() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        with pytest.raises(SchemaOutdated) as raised:
            await users.get_by_email("ada@example.com")
    assert raised.value.problems == ("table 'oauth_account' does not exist",)


async def test_a_userstore_schema_is_checked_once_per_engine(
    scratch_url: str, engine: AsyncEngine
) -> None:
    models = models_for("uuid")
    async with engine.begin() as connection:
        await connection.run_sync(models.metadata.create_all)
    for _ in range(2):
        async with async_sessionmaker(engine)() as session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            assert await users.get_by_email("ada@example.com") is None
            assert users._runner.schema.verified
