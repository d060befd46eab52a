"""Connections the pool opened before userstore saw the engine get the shim's setup too.

The FastAPI Users tutorial creates its tables at startup on a connection that then
waits in the pool; an application may also write on its session before building the
adapter. Deleting a user must still delete its accounts and tokens (on SQLite that
needs foreign keys on, which a PRAGMA inside a transaction silently fails to do).
"""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from userstore_sqlalchemy import SQLAlchemyUserDatabase
from userstore_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase

from .tutorial import AccessToken, OAuthAccount, User

ACCOUNT = {
    "oauth_name": "github",
    "account_id": "7",
    "account_email": "e@x.io",
    "access_token": "t",
}


async def _leftovers(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        accounts = await connection.scalar(select(func.count()).select_from(OAuthAccount))
        tokens = await connection.scalar(select(func.count()).select_from(AccessToken))
    return int(accounts or 0), int(tokens or 0)


async def test_delete_cascades_when_the_app_wrote_first(engine: AsyncEngine, tables: None) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        session.add(User(email="first@x.io", email_key="first@x.io", hashed_password="h"))
        await session.flush()  # the application's own write opens the transaction
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, AccessToken)
        user = await users.create({"email": "gone@x.io", "hashed_password": "h"})
        user = await users.add_oauth_account(user, ACCOUNT)
        await tokens.create({"token": "t" * 43, "user_id": user.id})
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        found = await users.get_by_email("GONE@x.io")
        assert found is not None
        await users.delete(found)
    assert await _leftovers(engine) == (0, 0)
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        other = await users.create({"email": "other@x.io", "hashed_password": "h"})
        other = await users.add_oauth_account(other, ACCOUNT)  # the link is free again
        assert len(other.oauth_accounts) == 1


# What each backend's shim sets on a connection, read back from the connection.
_SETTINGS = {
    "sqlite": [("PRAGMA foreign_keys", 1), ("PRAGMA busy_timeout", 30_000)],
    "mysql": [
        ("SELECT @@session.time_zone", "+00:00"),
        ("SELECT LOCATE('STRICT_ALL_TABLES', @@session.sql_mode) > 0", 1),
    ],
    "postgresql": [],  # the shim sets nothing on PostgreSQL connections
}


async def test_the_first_call_sets_up_a_connection_the_app_checked_out(
    engine: AsyncEngine, tables: None
) -> None:
    # the tables were created on a connection that now waits in the pool, unprepared;
    # the application's own read checks it out before the adapter exists
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        await session.execute(select(func.count()).select_from(User))
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        assert await users.get_by_email("nobody@x.io") is None
        connection = await session.connection()
        for query, expected in _SETTINGS[engine.dialect.name]:
            assert (await connection.exec_driver_sql(query)).scalar() == expected, query
