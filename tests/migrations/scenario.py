"""One fudb-era database for the migration tests and for verify_fudb_schema.py --migrate.

The rows (``EMAILS``, ``LINKS``, ``TOKENS``), the ready-made migration that moves
them over, a reader that returns every row in comparable form, and the checks
that the userstore adapter finds and protects them afterwards.
"""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from userstore import OAuthAccountAlreadyLinked, UserAlreadyExists
from userstore_sqlalchemy import SQLAlchemyAccessTokenDatabase, SQLAlchemyUserDatabase

from .fudb_schema import IdKind, fudb_tables, new_id

TABLES = ("user", "oauth_account", "accesstoken")

MIGRATION = """\
from alembic import op

from userstore_sqlalchemy.migrations import upgrade_from_fastapi_users


def upgrade() -> None:
    upgrade_from_fastapi_users(op, batch_size={batch_size})


def downgrade() -> None:
    raise NotImplementedError("the move to userstore's schema is one-way")
"""

EMAILS = [
    "Ada@Example.com",
    "ÉLODIE@exemple.fr",
    "straße@x.io",
    "bob@example.com",
    "\uff26\uff55\uff4c\uff4c@Width.jp",  # full-width "Full"
    *(f"user{n}@Example.org" for n in range(6, 24)),
]
LINKS = [(1, "github", "AbC"), (1, "google", "123"), (2, "github", "abc"), (4, "github", "AbC ")]
CREATED = dt.datetime(2024, 5, 17, 8, 30, 15, tzinfo=dt.UTC)
TOKENS = [(1, "a" * 43, CREATED), (2, "b" * 43, CREATED + dt.timedelta(days=1))]


def rows_of(connection: Connection, tables: types.SimpleNamespace) -> dict[str, list[Any]]:
    """Every row of fudb's columns, by primary key; ids and datetimes in comparable form."""

    def plain(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
        return str(value) if type(value).__name__ == "UUID" else value

    found = {}
    for name in TABLES:
        table = getattr(tables, name)
        (key,) = table.primary_key.columns
        columns = [table.c[column.name] for column in table.columns]
        rows = connection.execute(select(*columns).order_by(key))
        found[name] = [tuple(plain(value) for value in row) for row in rows]
    return found


def dialect_of(url: str) -> str:
    """The SQLAlchemy dialect name of ``url``: sqlite, postgresql or mysql."""
    return {"sqlite": "sqlite", "postgresql": "postgresql"}.get(url.split("+")[0], "mysql")


def fudb_tables_at(url: str, ids: IdKind) -> types.SimpleNamespace:
    """fudb's tables for the database at ``url``: its columns only (the migration adds some)."""
    return fudb_tables(dialect_of(url), ids)


async def use_as_userstore(url: str, models: types.SimpleNamespace, ids: IdKind) -> None:
    """The adapter finds the old rows by email key, OAuth link and token, and keeps the rules."""
    dialect = dialect_of(url)
    engine = create_async_engine(url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
            ada = await users.get_by_email("ada@EXAMPLE.COM")
            assert ada is not None
            assert str(ada.id) == str(new_id(dialect, ids, 1))
            assert ada.email == "Ada@Example.com"
            assert [a.account_id for a in ada.oauth_accounts] in (["AbC", "123"], ["123", "AbC"])
            assert (await users.get_by_email("STRASSE@X.IO")) is not None
            assert (await users.get_by_email("full@width.jp")) is not None
            found = await users.get_by_oauth_account("github", "abc")
            assert found is not None
            assert found.email == "ÉLODIE@exemple.fr"
            token = await tokens.get_by_token("a" * 43, max_age=CREATED)
            assert token is not None
            assert token.created_at == CREATED
            assert (
                await tokens.get_by_token("a" * 43, max_age=CREATED + dt.timedelta(seconds=1))
                is None
            )
            assert (await tokens.get_by_token("b" * 43)) is not None
            assert (await tokens.get_by_token("A" * 43)) is None  # exact, MySQL included

            with pytest.raises(UserAlreadyExists):
                await users.create({"email": "élodie@EXEMPLE.fr", "hashed_password": "h"})
            link = {
                "oauth_name": "github",
                "account_id": "AbC",
                "account_email": "x@example.com",
                "access_token": "x",
            }
            bob = await users.get_by_email("bob@example.com")
            assert bob is not None
            with pytest.raises(OAuthAccountAlreadyLinked):
                await users.add_oauth_account(bob, link)
            link.update(account_id="new", access_token="t" * 5000, expires_at=2**40)
            bob = await users.add_oauth_account(bob, link)
            again = await users.get_by_oauth_account("github", "new")
            assert again is not None
            assert again.oauth_accounts[-1].access_token == "t" * 5000
            assert again.oauth_accounts[-1].expires_at == 2**40
    finally:
        await engine.dispose()
