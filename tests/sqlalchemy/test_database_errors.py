"""Database errors the contract does not name: ``UserStoreError`` keeping the driver's reason.

An error that is neither a lost connection nor a constraint violation (a write a
read-only session refuses, a value the column's type refuses) says what the
database said, in its first line, unless that line may quote a stored value.  A
table older than the model is found before any such error: ``SchemaOutdated``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Integer, String, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from userstore import (
    ReadOnlyServer,
    SchemaOutdated,
    StoreUnavailable,
    UserStoreError,
)
from userstore_sqlalchemy import GUID, SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from userstore_sqlalchemy.dialects import shim_for

from ..backends import Backend
from ..conftest import backend_url
from ..secrets._watch import exception_texts
from .conftest import created


class OlderBase(DeclarativeBase):
    pass


class OlderUser(OlderBase):
    """The user table as an older schema had it: no ``email_key`` column."""

    __tablename__ = "older_user"
    id: Mapped[Any] = mapped_column(GUID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    hashed_password: Mapped[str] = mapped_column(String(1024))


class CurrentBase(DeclarativeBase):
    pass


class CurrentUser(SQLAlchemyBaseUserTableUUID, CurrentBase):
    __tablename__ = "older_user"


class Opaque(TypeDecorator[Any]):
    """An application's type that does not say which Python type it holds."""

    impl = Integer
    cache_ok = True


class OpaqueBase(DeclarativeBase):
    pass


class OpaqueUser(SQLAlchemyBaseUserTableUUID, OpaqueBase):
    __tablename__ = "opaque_user"
    score: Mapped[Any] = mapped_column(Opaque, nullable=True)


@pytest_asyncio.fixture
async def older_sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with created(engine, OlderBase.metadata):
        yield async_sessionmaker(engine, expire_on_commit=False)


# what makes a session refuse writes, on each backend
READ_ONLY = {
    "sqlite": "PRAGMA query_only = ON",
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}


async def test_a_write_a_read_only_server_refuses_is_read_only_server_naming_it(
    engine: AsyncEngine,
) -> None:
    """A replica (or a session made read-only) refuses the INSERT: a typed error, the same
    on every backend, that names the server and says nothing was written."""
    async with created(engine, CurrentBase.metadata):
        statement = READ_ONLY[engine.dialect.name]

        @event.listens_for(engine.sync_engine, "connect")
        def read_only(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()  # asyncpg's adapter ran it in a transaction

        await engine.dispose()  # new connections, read-only from their start
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            users = SQLAlchemyUserDatabase(session, CurrentUser)
            assert await users.get_by_email("ada@example.com") is None
            with pytest.raises(UserStoreError) as write:
                await users.create({"email": "ada@example.com", "hashed_password": "h"})
            async with session.begin():
                with pytest.raises(ReadOnlyServer) as inside:
                    await users.create({"email": "ada@example.com", "hashed_password": "h"})
        event.remove(engine.sync_engine, "connect", read_only)
        await engine.dispose()
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            assert (
                await SQLAlchemyUserDatabase(session, CurrentUser).get_by_email("ada@example.com")
                is None
            )
    error = write.value
    assert type(error) is ReadOnlyServer
    assert isinstance(error, StoreUnavailable)
    location = shim_for(engine.dialect).location(engine.url)
    assert error.server == location == inside.value.server
    message = str(error)
    assert location in message, message
    assert "read-only" in message, message
    assert "\n" not in message


async def test_a_table_older_than_the_model_is_schema_outdated(
    older_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with older_sessions() as session:
        users = SQLAlchemyUserDatabase(session, CurrentUser)
        with pytest.raises(SchemaOutdated) as lookup:
            await users.get_by_email("ada@example.com")
        with pytest.raises(SchemaOutdated) as write:
            await users.create({"email": "ada@example.com", "hashed_password": "h"})
    for error in (lookup.value, write.value):
        assert "table 'older_user' has no column email_key" in str(error)


@pytest.mark.parametrize(
    "backend",
    [pytest.param(name, marks=pytest.mark.backend(name)) for name in ("postgres", "mysql")],
)
async def test_a_refused_value_is_never_quoted(
    backend: str, backend_registry: dict[str, Backend]
) -> None:
    """The driver's message would quote the value its column refused; the error does not.

    (SQLite stores text in an integer column, so it refuses nothing here.)
    """
    hashed = f"hash-{secrets.token_hex(8)}"
    value = f"score-{secrets.token_hex(8)}"
    engine = create_async_engine(backend_url(backend_registry, backend))
    try:
        async with created(engine, OpaqueBase.metadata), async_sessionmaker(engine)() as session:
            users = SQLAlchemyUserDatabase(session, OpaqueUser)
            with pytest.raises(UserStoreError) as info:
                await users.create(
                    {"email": "ada@example.com", "hashed_password": hashed, "score": value}
                )
    finally:
        await engine.dispose()
    assert str(info.value).startswith("database error (")
    for text in exception_texts(info.value):
        assert value not in text
        assert hashed not in text
