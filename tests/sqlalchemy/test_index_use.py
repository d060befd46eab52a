"""Lookups are index lookups on every backend (docs/contract.md sections 3 and 10).

The exact SQL and parameters each lookup sends are captured with an engine event
and explained on the same database, loaded with enough rows (2000 users, each with
an OAuth account and a token) that the planner would rather scan if it could.
"""

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from userstore import email_key
from userstore_sqlalchemy import SQLAlchemyAccessTokenDatabase, SQLAlchemyUserDatabase
from userstore_sqlalchemy.types import uuid7

from .conftest import StatementLog
from .tutorial import AccessToken, OAuthAccount, User

pytestmark = pytest.mark.usefixtures("tables")

ROWS = 2000
NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def token_of(n: int) -> str:
    return f"{n:043d}"


async def load_rows(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4() for _ in range(ROWS)]
    users = [
        {
            "id": ids[n],
            "email": f"User{n}@Example.com",
            "email_key": email_key(f"User{n}@Example.com"),
            "hashed_password": "h",
            "is_active": True,
            "is_superuser": False,
            "is_verified": False,
        }
        for n in range(ROWS)
    ]
    accounts = [
        {
            "id": uuid7(),
            "user_id": ids[n],
            "oauth_name": ("github", "google")[n % 2],
            "account_id": str(n),
            "account_email": f"user{n}@example.com",
            "access_token": "a",
        }
        for n in range(ROWS)
    ]
    tokens = [{"token": token_of(n), "user_id": ids[n], "created_at": NOW} for n in range(ROWS)]
    async with engine.begin() as connection:
        await connection.execute(insert(User), users)
        await connection.execute(insert(OAuthAccount), accounts)
        await connection.execute(insert(AccessToken), tokens)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        name = connection.dialect.name
        for table in ("user", "oauth_account", "accesstoken"):
            quoted = connection.dialect.identifier_preparer.quote(table)
            if name == "postgresql":
                await connection.exec_driver_sql(f"ANALYZE {quoted}")
            elif name in ("mysql", "mariadb"):
                await connection.exec_driver_sql(f"ANALYZE TABLE {quoted}")
        if name == "sqlite":
            await connection.exec_driver_sql("ANALYZE")


async def capture_lookups(engine: AsyncEngine, log: StatementLog) -> dict[str, tuple[str, Any]]:
    """The one statement (SQL, parameters) each lookup sends, for an existing row."""
    captured: dict[str, tuple[str, Any]] = {}
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, AccessToken)
        await users.get(uuid.uuid4())  # connection setup
        lookups = {
            "get_by_email": lambda: users.get_by_email("USER1234@example.com"),
            "get_by_oauth_account": lambda: users.get_by_oauth_account("github", "1234"),
            "get_by_token": lambda: tokens.get_by_token(token_of(1234)),
            "get_by_token max_age": lambda: tokens.get_by_token(token_of(1234), max_age=NOW),
        }
        for name, lookup in lookups.items():
            with log.measure():
                assert await lookup() is not None, name
            (captured[name],) = log.statements
    return captured


async def explain(connection: AsyncConnection, statement: str, parameters: Any) -> list[str]:
    """The plan of ``statement`` as text lines, one per plan node (MariaDB: per table)."""
    name = connection.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if name == "sqlite" else "EXPLAIN "
    result = await connection.exec_driver_sql(prefix + statement, parameters)
    rows = [dict(row) for row in result.mappings()]
    if name == "sqlite":
        return [row["detail"] for row in rows]
    if name == "postgresql":
        return [row["QUERY PLAN"].strip().removeprefix("->").strip() for row in rows]
    return [f"{row['table']} {row['type']} key={row['key']}" for row in rows]


def full_scans(backend: str, plan: list[str]) -> list[str]:
    if backend == "sqlite":
        return [line for line in plan if line.startswith("SCAN")]
    if backend == "postgres":
        return [line for line in plan if "Seq Scan" in line]
    return [line for line in plan if " ALL " in line or " index " in line or "key=None" in line]


EXPECTED = {
    "sqlite": {
        "get_by_email": [
            "SEARCH user USING INDEX ix_user_email_key (email_key=?)",
            "SEARCH oauth_account USING INDEX ix_oauth_account_user_id (user_id=?) LEFT-JOIN",
        ],
        "get_by_oauth_account": [
            "SEARCH user USING INDEX sqlite_autoindex_user_1 (id=?)",
            "SEARCH oauth_account USING INDEX sqlite_autoindex_oauth_account_2"
            " (oauth_name=? AND account_id=?)",
            "SEARCH oauth_account USING INDEX ix_oauth_account_user_id (user_id=?) LEFT-JOIN",
        ],
        "get_by_token": ["SEARCH accesstoken USING INDEX sqlite_autoindex_accesstoken_1 (token=?)"],
    },
    "postgres": {
        "get_by_email": [
            'Index Scan using ix_user_email_key on "user"',
            "Index Scan using ix_oauth_account_user_id on oauth_account",
        ],
        "get_by_oauth_account": [
            'Index Scan using user_pkey on "user"',
            "Index Scan using uq_oauth_account_oauth_name_account_id on oauth_account",
            "Index Scan using ix_oauth_account_user_id on oauth_account",
        ],
        "get_by_token": ["Index Scan using accesstoken_pkey on accesstoken"],
    },
    "mysql": {
        "get_by_email": [
            "user const key=ix_user_email_key",
            "oauth_account ref key=ix_oauth_account_user_id",
        ],
        "get_by_oauth_account": [
            "user const key=PRIMARY",
            "oauth_account const key=uq_oauth_account_oauth_name_account_id",
            "oauth_account ref key=ix_oauth_account_user_id",
        ],
        "get_by_token": ["accesstoken const key=PRIMARY"],
    },
}


async def test_lookups_use_an_index(
    engine: AsyncEngine, log: StatementLog, backend_name: str
) -> None:
    await load_rows(engine)
    captured = await capture_lookups(engine, log)
    async with engine.connect() as connection:
        for lookup, (statement, parameters) in captured.items():
            plan = await explain(connection, statement, parameters)
            assert full_scans(backend_name, plan) == [], (lookup, plan)
            expected = EXPECTED[backend_name][lookup.removesuffix(" max_age")]
            for node in expected:
                assert any(line.startswith(node) for line in plan), (lookup, node, plan)
