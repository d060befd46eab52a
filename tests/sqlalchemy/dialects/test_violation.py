"""Each shim's ``violation()`` on integrity errors raised by the real servers.

PostgreSQL and MariaDB name the constraint; SQLite names only the columns.  The
server backends run through each of their asyncio drivers, whose error objects
differ (asyncpg's and psycopg's fields, aiomysql's and asyncmy's arguments).
"""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pymysql
import pytest
import pytest_asyncio
from sqlalchemy import delete, insert, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from userstore_sqlalchemy.dialects import MySQLShim, Violation, shim_for

from ...backends import Backend
from ...conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url
from ..conftest import created
from ..tutorial import AccessToken, Base, OAuthAccount, User, tutorial_int_models

NO_CASCADE = tutorial_int_models(None)


@pytest.fixture(params=[*BACKEND_PARAMS, *DRIVER_PARAMS])
def db_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """Every backend, and each server through its other driver: the errors are the driver's."""
    return backend_url(backend_registry, request.param)


def user_row(email: str) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "email": email, "email_key": email.lower(), "hashed_password": "h"}


def account_row(user_id: uuid.UUID, account_id: str = "1") -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "oauth_name": "github",
        "account_id": account_id,
        "account_email": "a@x.io",
        "access_token": "a",
    }


@pytest_asyncio.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection set up by the shim (SQLite: foreign keys on), on the tutorial's tables."""
    async with created(engine, Base.metadata), engine.connect() as connection:
        await shim_for(engine.dialect).prepare(connection)
        await connection.commit()
        yield connection


async def violation_of(connection: AsyncConnection, statement: Any, rows: Any) -> Violation | None:
    """Run a statement that must fail; return what the shim reads from the error."""
    with pytest.raises(sa_exc.IntegrityError) as info:
        await connection.execute(statement, rows)
    await connection.rollback()
    return shim_for(connection.dialect).violation(info.value)


async def foreign_key_name(connection: AsyncConnection, table: str) -> str | None:
    def read(sync: Connection) -> str | None:
        (fk,) = inspect(sync).get_foreign_keys(table)
        return fk["name"]

    return await connection.run_sync(read)


async def test_duplicate_email_key(connection: AsyncConnection, backend_name: str) -> None:
    await connection.execute(insert(User), [user_row("a@x.io")])
    await connection.commit()
    found = await violation_of(connection, insert(User), [user_row("A@x.io")])
    expected = {
        "sqlite": Violation("unique", table="user", columns=("email_key",)),
        "postgres": Violation("unique", "ix_user_email_key", "user"),
        "mysql": Violation("unique", "ix_user_email_key"),
    }[backend_name]
    assert found == expected


async def test_duplicate_oauth_link(connection: AsyncConnection, backend_name: str) -> None:
    owner = user_row("a@x.io")
    await connection.execute(insert(User), [owner])
    await connection.execute(insert(OAuthAccount), [account_row(owner["id"])])
    await connection.commit()
    found = await violation_of(connection, insert(OAuthAccount), [account_row(owner["id"])])
    expected = {
        "sqlite": Violation("unique", table="oauth_account", columns=("oauth_name", "account_id")),
        "postgres": Violation("unique", "uq_oauth_account_oauth_name_account_id", "oauth_account"),
        "mysql": Violation("unique", "uq_oauth_account_oauth_name_account_id"),
    }[backend_name]
    assert found == expected


async def test_duplicate_token_primary_key(connection: AsyncConnection, backend_name: str) -> None:
    owner = user_row("a@x.io")
    token = {"token": "t" * 43, "user_id": owner["id"]}
    await connection.execute(insert(User), [owner])
    await connection.execute(insert(AccessToken), [token])
    await connection.commit()
    found = await violation_of(connection, insert(AccessToken), [token])
    expected = {
        "sqlite": Violation("unique", table="accesstoken", columns=("token",)),
        "postgres": Violation("unique", "accesstoken_pkey", "accesstoken"),
        "mysql": Violation("unique", "PRIMARY"),
    }[backend_name]
    assert found == expected


@pytest.mark.parametrize("model", [OAuthAccount, AccessToken], ids=["oauth_account", "accesstoken"])
async def test_missing_owner(connection: AsyncConnection, backend_name: str, model: Any) -> None:
    orphan = (
        account_row(uuid.uuid4())
        if model is OAuthAccount
        else {"token": "t" * 43, "user_id": uuid.uuid4()}
    )
    found = await violation_of(connection, insert(model), [orphan])
    assert found is not None
    assert found.kind == "foreign_key"
    if backend_name == "sqlite":
        assert found.constraint is None
    else:
        name = await foreign_key_name(connection, model.__tablename__)
        assert name
        assert found.constraint == name


async def test_owner_still_referenced(engine: AsyncEngine, backend_name: str) -> None:
    """Deleting a user its rows still point to, through a foreign key without ON DELETE."""
    async with created(engine, NO_CASCADE.metadata), engine.connect() as connection:
        await shim_for(engine.dialect).prepare(connection)
        await connection.execute(
            insert(NO_CASCADE.User),
            [{"id": 1, "email": "a@x.io", "email_key": "a@x.io", "hashed_password": "h"}],
        )
        await connection.execute(
            insert(NO_CASCADE.AccessToken), [{"token": "t" * 43, "user_id": 1}]
        )
        await connection.commit()
        found = await violation_of(connection, delete(NO_CASCADE.User), None)
        assert found is not None
        if backend_name == "sqlite":
            assert found == Violation(
                "foreign_key"
            )  # SQLite says only "FOREIGN KEY constraint failed"
        else:
            assert found.kind == "referenced"
            if backend_name == "postgres":
                assert found.constraint == await foreign_key_name(connection, "accesstoken")


async def test_other_errors_are_no_violation(connection: AsyncConnection) -> None:
    with pytest.raises(sa_exc.DBAPIError) as info:
        await connection.exec_driver_sql("SELECT * FROM no_such_table")
    await connection.rollback()
    assert shim_for(connection.dialect).violation(info.value) is None


# Messages of servers not running here ----------------------------------------------------


def mysql_error(code: int, message: str) -> sa_exc.DBAPIError:
    orig = pymysql.err.IntegrityError(code, message)
    return sa_exc.DBAPIError.instance("INSERT", (), orig, pymysql.err.Error)


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("Duplicate entry 'a@x.io' for key 'user.ix_user_email_key'", "ix_user_email_key"),
        ("Duplicate entry 'a@x.io' for key 'ix_user_email_key'", "ix_user_email_key"),
        ("Duplicate entry 'x' for key 'accesstoken.PRIMARY'", "PRIMARY"),
    ],
    ids=["mysql-8", "mariadb", "mysql-8-primary"],
)
def test_mysql_duplicate_key_names(message: str, name: str) -> None:
    assert MySQLShim().violation(mysql_error(1062, message)) == Violation("unique", name)
