"""The implementations compared, all with one interface.

- ``raw``: the driver alone (asyncpg, aiomysql, aiosqlite) sending the SQL
  userstore sends, in the fewest transactions (asyncpg: each statement alone,
  the server's autocommit; aiomysql: implicit transaction, then
  ``COMMIT``/``ROLLBACK``; aiosqlite: implicit ``BEGIN`` before a write,
  ``commit()``/``rollback()``), on one connection held for the run, with the
  connection settings userstore's dialect shim applies.  The floor.
- ``orm``: SQLAlchemy's ORM alone on userstore's models, sending the same
  statements, one session per call: what any ORM-based adapter costs at least.
- ``userstore``: ``userstore_sqlalchemy``'s databases; ``fudb``:
  fastapi-users-db-sqlalchemy 7's.  Both wired like the FastAPI Users tutorial
  (plain ``create_async_engine(url)``, ``async_sessionmaker(engine,
  expire_on_commit=False)``), one session and one adapter object per call, as a
  request does.  A user given to update, add_oauth_account or delete was loaded
  earlier and is attached to the call's session first (``session.add``, no I/O),
  as if the request had loaded it: fudb's add_oauth_account needs that.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import aiomysql
import aiosqlite
import asyncpg
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import contains_eager

from userstore import email_key
from userstore_sqlalchemy import SQLAlchemyStore, create_engine
from userstore_sqlalchemy.dialects.mysql import SQL_MODE
from userstore_sqlalchemy.dialects.sqlite import BUSY_TIMEOUT_MS
from userstore_sqlalchemy.types import uuid7

from ._databases import Database

__all__ = ["IMPLEMENTATIONS", "Impl", "make_impl"]

IMPLEMENTATIONS = ("raw", "orm", "userstore", "connect", "fudb")


class Impl:
    """What every implementation does; ``user`` arguments are what ``load`` returned."""

    name: str

    def __init__(self, database: Database) -> None:
        self.database = database

    async def open(self, pool_size: int | None = None) -> None:
        """Connect: one connection, or a pool of ``pool_size`` (concurrency runs)."""

    async def close(self) -> None: ...

    async def load(self, user_id: uuid.UUID) -> Any:
        """A user as this implementation hands it to update/add_oauth_account/delete."""
        raise NotImplementedError

    async def create(self, email: str, password: str) -> Any:
        raise NotImplementedError

    async def get(self, user_id: uuid.UUID) -> Any:
        raise NotImplementedError

    async def get_by_email(self, email: str) -> Any:
        raise NotImplementedError

    async def get_by_oauth_account(self, oauth_name: str, account_id: str) -> Any:
        raise NotImplementedError

    async def update(self, user: Any, password: str) -> Any:
        raise NotImplementedError

    async def add_oauth_account(self, user: Any, account: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def delete(self, user: Any) -> None:
        raise NotImplementedError

    async def create_token(self, token: str, user_id: uuid.UUID) -> Any:
        raise NotImplementedError

    async def get_by_token(self, token: str, max_age: dt.datetime) -> Any:
        raise NotImplementedError


# -- SQLAlchemy: the adapters and the bare ORM ------------------------------------------


class _SessionImpl(Impl):
    """An engine and session maker as in the FastAPI Users tutorial."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def _engine(self, **options: Any) -> AsyncEngine:
        return _create_async_engine(self.database.url, **options)

    async def open(self, pool_size: int | None = None) -> None:
        options = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
        self.engine = self._engine(**options)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()


class AdapterImpl(_SessionImpl):
    """``SQLAlchemyUserDatabase`` / ``SQLAlchemyAccessTokenDatabase`` of one package."""

    def __init__(self, database: Database, name: str) -> None:
        super().__init__(database)
        self.name = name
        models = database.models
        self.user_model = models.user
        self.account_model = models.oauth_account
        self.token_model = models.access_token
        self.user_db_class = models.users_module.SQLAlchemyUserDatabase
        self.token_db_class = models.tokens_module.SQLAlchemyAccessTokenDatabase

    async def load(self, user_id: uuid.UUID) -> Any:
        return await self.get(user_id)

    async def create(self, email: str, password: str) -> Any:
        async with self.sessions() as session:
            db = self.user_db_class(session, self.user_model, self.account_model)
            return await db.create({"email": email, "hashed_password": password})

    async def get(self, user_id: uuid.UUID) -> Any:
        async with self.sessions() as session:
            return await self.user_db_class(session, self.user_model, self.account_model).get(
                user_id
            )

    async def get_by_email(self, email: str) -> Any:
        async with self.sessions() as session:
            db = self.user_db_class(session, self.user_model, self.account_model)
            return await db.get_by_email(email)

    async def get_by_oauth_account(self, oauth_name: str, account_id: str) -> Any:
        async with self.sessions() as session:
            db = self.user_db_class(session, self.user_model, self.account_model)
            return await db.get_by_oauth_account(oauth_name, account_id)

    async def update(self, user: Any, password: str) -> Any:
        async with self.sessions() as session:
            session.add(user)  # as if this request had loaded it: no I/O
            db = self.user_db_class(session, self.user_model, self.account_model)
            return await db.update(user, {"hashed_password": password})

    async def add_oauth_account(self, user: Any, account: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            session.add(user)  # as if this request had loaded it: no I/O
            db = self.user_db_class(session, self.user_model, self.account_model)
            return await db.add_oauth_account(user, account)

    async def delete(self, user: Any) -> None:
        async with self.sessions() as session:
            session.add(user)  # as if this request had loaded it: no I/O
            db = self.user_db_class(session, self.user_model, self.account_model)
            await db.delete(user)

    async def create_token(self, token: str, user_id: uuid.UUID) -> Any:
        async with self.sessions() as session:
            db = self.token_db_class(session, self.token_model)
            return await db.create({"token": token, "user_id": user_id})

    async def get_by_token(self, token: str, max_age: dt.datetime) -> Any:
        async with self.sessions() as session:
            return await self.token_db_class(session, self.token_model).get_by_token(token, max_age)


class ConnectImpl(Impl):
    """``userstore.connect(url, models=Base)``: the store frameworks get, one session per call.

    Its engine is the store's own (``userstore_sqlalchemy.create_engine``), on
    userstore's models; a user from an earlier call is added to the call's session
    as the tutorial-wired adapters do.
    """

    name = "connect"

    async def open(self, pool_size: int | None = None) -> None:
        options = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 0}
        self.store = SQLAlchemyStore(
            self.database.url.render_as_string(hide_password=False),
            models=self.database.models.base,
            **options,
        )

    async def close(self) -> None:
        await self.store.close()

    async def load(self, user_id: uuid.UUID) -> Any:
        return await self.get(user_id)

    async def create(self, email: str, password: str) -> Any:
        async with self.store.session() as s:
            return await s.users.create({"email": email, "hashed_password": password})

    async def get(self, user_id: uuid.UUID) -> Any:
        async with self.store.session() as s:
            return await s.users.get(user_id)

    async def get_by_email(self, email: str) -> Any:
        async with self.store.session() as s:
            return await s.users.get_by_email(email)

    async def get_by_oauth_account(self, oauth_name: str, account_id: str) -> Any:
        async with self.store.session() as s:
            return await s.users.get_by_oauth_account(oauth_name, account_id)

    async def update(self, user: Any, password: str) -> Any:
        async with self.store.session() as s:
            s.session.add(user)  # as if this request had loaded it: no I/O
            return await s.users.update(user, {"hashed_password": password})

    async def add_oauth_account(self, user: Any, account: dict[str, Any]) -> Any:
        async with self.store.session() as s:
            s.session.add(user)
            return await s.users.add_oauth_account(user, account)

    async def delete(self, user: Any) -> None:
        async with self.store.session() as s:
            s.session.add(user)
            await s.users.delete(user)

    async def create_token(self, token: str, user_id: uuid.UUID) -> Any:
        async with self.store.session() as s:
            return await s.tokens.create({"token": token, "user_id": user_id})

    async def get_by_token(self, token: str, max_age: dt.datetime) -> Any:
        async with self.store.session() as s:
            return await s.tokens.get_by_token(token, max_age)


class OrmImpl(_SessionImpl):
    """The ORM alone, on userstore's models, sending the statements userstore sends.

    Its engine comes from ``userstore_sqlalchemy.create_engine``, so its
    connections get the same set-up (SQLite's foreign keys and WAL, MySQL's
    session variables) as those userstore uses.
    """

    name = "orm"

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        models = database.models
        user, account, token = models.user, models.oauth_account, models.access_token
        self.user_model, self.account_model, self.token_model = user, account, token
        base = (
            select(user)
            .outerjoin(user.oauth_accounts)
            .options(contains_eager(user.oauth_accounts))
            .execution_options(populate_existing=True)
        )
        owner = (
            select(account.user_id)
            .where(account.oauth_name == bindparam("name"))
            .where(account.account_id == bindparam("account"))
            .scalar_subquery()
        )
        self.by_id = base.where(user.id == bindparam("id"))
        self.by_email_key = base.where(user.email_key == bindparam("key"))
        self.by_account = base.where(user.id == owner)
        self.by_token = (
            select(token)
            .where(token.token == bindparam("token"))
            .where(token.created_at >= bindparam("since"))
        )

    def _engine(self, **options: Any) -> AsyncEngine:
        return create_engine(self.database.url.render_as_string(hide_password=False), **options)

    async def _one_user(self, statement: Any, params: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            result = await session.execute(statement, params)
            return result.unique().scalar_one_or_none()

    async def load(self, user_id: uuid.UUID) -> Any:
        return await self.get(user_id)

    async def create(self, email: str, password: str) -> Any:
        async with self.sessions() as session:
            user = self.user_model(email=email, hashed_password=password, oauth_accounts=[])
            session.add(user)
            await session.commit()
            return user

    async def get(self, user_id: uuid.UUID) -> Any:
        return await self._one_user(self.by_id, {"id": user_id})

    async def get_by_email(self, email: str) -> Any:
        return await self._one_user(self.by_email_key, {"key": email_key(email)})

    async def get_by_oauth_account(self, oauth_name: str, account_id: str) -> Any:
        return await self._one_user(self.by_account, {"name": oauth_name, "account": account_id})

    async def update(self, user: Any, password: str) -> Any:
        async with self.sessions() as session:
            session.add(user)
            user.hashed_password = password
            await session.commit()
            return user

    async def add_oauth_account(self, user: Any, account: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            linked = self.account_model(user_id=user.id, **account)
            session.add(linked)
            await session.commit()
            return user

    async def delete(self, user: Any) -> None:
        async with self.sessions() as session:
            await session.execute(
                delete(self.user_model).where(self.user_model.id == user.id),
                execution_options={"synchronize_session": False},
            )
            await session.commit()

    async def create_token(self, token: str, user_id: uuid.UUID) -> Any:
        async with self.sessions() as session:
            created = self.token_model(token=token, user_id=user_id)
            session.add(created)
            await session.commit()
            return created

    async def get_by_token(self, token: str, max_age: dt.datetime) -> Any:
        async with self.sessions() as session:
            result = await session.execute(self.by_token, {"token": token, "since": max_age})
            return result.scalar_one_or_none()


# -- raw drivers --------------------------------------------------------------------------

_USER_COLUMNS = ("id", "email", "email_key", "hashed_password")
_USER_FLAGS = ("is_active", "is_superuser", "is_verified")
_ACCOUNT_COLUMNS = (
    "id",
    "user_id",
    "oauth_name",
    "access_token",
    "expires_at",
    "refresh_token",
    "account_id",
    "account_email",
)


class Sql:
    """The statements userstore sends, for one backend's quoting and parameter style."""

    def __init__(self, backend: str) -> None:
        user = "`user`" if backend == "mysql" else '"user"'
        marker = {"postgres": "$", "mysql": "%s", "sqlite": "?"}[backend]

        def params(sql: str) -> str:
            if marker != "$":
                return sql.replace("?", marker)
            parts = sql.split("?")
            return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]

        account_cols = ", ".join(f"oauth_account.{c}" for c in _ACCOUNT_COLUMNS)
        user_cols = ", ".join(f"{user}.{c}" for c in (*_USER_COLUMNS, *_USER_FLAGS))
        joined = (
            f"SELECT {account_cols}, {user_cols} FROM {user} "
            f"LEFT OUTER JOIN oauth_account ON {user}.id = oauth_account.user_id WHERE "
        )
        self.by_id = params(joined + f"{user}.id = ?")
        self.by_email_key = params(joined + f"{user}.email_key = ?")
        self.by_account = params(
            joined + f"{user}.id = (SELECT oauth_account.user_id FROM oauth_account "
            "WHERE oauth_account.oauth_name = ? AND oauth_account.account_id = ?)"
        )
        columns = (*_USER_COLUMNS, *_USER_FLAGS)
        self.insert_user = params(
            f"INSERT INTO {user} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        self.update_user = params(f"UPDATE {user} SET hashed_password = ? WHERE {user}.id = ?")
        self.delete_user = params(f"DELETE FROM {user} WHERE {user}.id = ?")
        self.insert_account = params(
            f"INSERT INTO oauth_account ({', '.join(_ACCOUNT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_ACCOUNT_COLUMNS))})"
        )
        self.insert_token = params(
            "INSERT INTO accesstoken (user_id, token, created_at) VALUES (?, ?, ?)"
        )
        self.by_token = params(
            "SELECT accesstoken.user_id, accesstoken.token, accesstoken.created_at "
            "FROM accesstoken WHERE accesstoken.token = ? AND accesstoken.created_at >= ?"
        )


def _account_row(user_id: Any, account: dict[str, Any], new_id: Any) -> tuple[Any, ...]:
    return (
        new_id,
        user_id,
        account["oauth_name"],
        account["access_token"],
        account.get("expires_at"),
        account.get("refresh_token"),
        account["account_id"],
        account["account_email"],
    )


class RawImpl(Impl):
    """The driver alone; subclasses say how a statement is sent and a transaction ends.

    A user handle is its id; ``uuid`` turns an id into what the driver binds and
    ``timestamp`` a datetime into what the column stores.
    """

    name = "raw"
    pool: Any = None
    connection: Any = None

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.sql = Sql(database.backend)

    def uuid(self, value: uuid.UUID) -> Any:
        return str(value)

    def timestamp(self, value: dt.datetime) -> Any:
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    async def _read(self, connection: Any, sql: str, args: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    async def _write(self, connection: Any, sql: str, args: tuple[Any, ...]) -> int:
        raise NotImplementedError

    async def read(self, sql: str, *args: Any) -> list[Any]:
        """Run one query in its own transaction; return its rows."""
        if self.pool is None:
            return await self._read(self.connection, sql, args)
        async with self.pool.acquire() as connection:
            return await self._read(connection, sql, args)

    async def write(self, sql: str, *args: Any) -> int:
        """Run one statement in its own transaction; return the rows it changed."""
        if self.pool is None:
            return await self._write(self.connection, sql, args)
        async with self.pool.acquire() as connection:
            return await self._write(connection, sql, args)

    async def load(self, user_id: uuid.UUID) -> Any:
        return user_id

    async def create(self, email: str, password: str) -> Any:
        user_id = uuid.uuid4()
        await self.write(
            self.sql.insert_user,
            self.uuid(user_id),
            email,
            email_key(email),
            password,
            True,
            False,
            False,
        )
        return user_id

    async def get(self, user_id: uuid.UUID) -> Any:
        return await self.read(self.sql.by_id, self.uuid(user_id)) or None

    async def get_by_email(self, email: str) -> Any:
        return await self.read(self.sql.by_email_key, email_key(email)) or None

    async def get_by_oauth_account(self, oauth_name: str, account_id: str) -> Any:
        return await self.read(self.sql.by_account, oauth_name, account_id) or None

    async def update(self, user: Any, password: str) -> Any:
        await self.write(self.sql.update_user, password, self.uuid(user))
        return user

    async def add_oauth_account(self, user: Any, account: dict[str, Any]) -> Any:
        row = _account_row(self.uuid(user), account, self.uuid(uuid7()))
        await self.write(self.sql.insert_account, *row)
        return user

    async def delete(self, user: Any) -> None:
        await self.write(self.sql.delete_user, self.uuid(user))

    async def create_token(self, token: str, user_id: uuid.UUID) -> Any:
        now = dt.datetime.now(dt.UTC)
        await self.write(self.sql.insert_token, self.uuid(user_id), token, self.timestamp(now))
        return token

    async def get_by_token(self, token: str, max_age: dt.datetime) -> Any:
        rows = await self.read(self.sql.by_token, token, self.timestamp(max_age))
        return rows[0] if rows else None


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool as is: every call here ends its transaction."""


class AsyncpgRaw(RawImpl):
    """asyncpg; every statement alone (one round trip), the server committing a write as it runs.

    The pool skips asyncpg's reset query on release (``RESET ALL``, ``UNLISTEN``...,
    one more round trip): nothing here changes session state, and SQLAlchemy's
    pool sends nothing either.
    """

    async def open(self, pool_size: int | None = None) -> None:
        args = self.database.connect_args()
        if pool_size is None:
            self.connection = await asyncpg.connect(**args)
        else:
            self.pool = await asyncpg.create_pool(
                min_size=pool_size, max_size=pool_size, reset=_no_reset, **args
            )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        else:
            await self.connection.close()

    def uuid(self, value: uuid.UUID) -> Any:
        return value

    def timestamp(self, value: dt.datetime) -> Any:
        return value

    async def _read(self, connection: Any, sql: str, args: tuple[Any, ...]) -> list[Any]:
        return list(await connection.fetch(sql, *args))

    async def _write(self, connection: Any, sql: str, args: tuple[Any, ...]) -> int:
        status = await connection.execute(sql, *args)
        return int(status.rsplit(" ", 1)[-1])


_MYSQL_SETUP = (
    f"SET SESSION sql_mode = '{SQL_MODE}'",
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
)


async def _mysql_setup(connection: aiomysql.Connection) -> None:
    async with connection.cursor() as cursor:
        for statement in _MYSQL_SETUP:
            await cursor.execute(statement)


class AiomysqlRaw(RawImpl):
    """aiomysql with the shim's session settings; ``COMMIT``/``ROLLBACK`` end each call."""

    async def open(self, pool_size: int | None = None) -> None:
        args = self.database.connect_args()
        options = {
            "host": args["host"],
            "port": args["port"],
            "user": args["user"],
            "password": args["password"],
            "db": args["database"],
            "charset": "utf8mb4",
            "autocommit": False,
        }
        if pool_size is None:
            self.connection = await aiomysql.connect(**options)
            await _mysql_setup(self.connection)
            return
        self.pool = await aiomysql.create_pool(minsize=pool_size, maxsize=pool_size, **options)
        held = [await self.pool.acquire() for _ in range(pool_size)]
        for connection in held:
            await _mysql_setup(connection)
            await connection.commit()
            self.pool.release(connection)

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            await self.pool.wait_closed()
        else:
            self.connection.close()

    async def _read(self, connection: Any, sql: str, args: tuple[Any, ...]) -> list[Any]:
        async with connection.cursor() as cursor:
            await cursor.execute(sql, args)
            rows = await cursor.fetchall()
        await connection.rollback()
        return list(rows)

    async def _write(self, connection: Any, sql: str, args: tuple[Any, ...]) -> int:
        async with connection.cursor() as cursor:
            count = await cursor.execute(sql, args)
        await connection.commit()
        return int(count)


class AiosqliteRaw(RawImpl):
    """aiosqlite with the shim's pragmas; one hop per statement, one per commit/rollback."""

    async def open(self, pool_size: int | None = None) -> None:
        self.connection = await aiosqlite.connect(self.database.path)
        for pragma in (
            "PRAGMA foreign_keys = ON",
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode = WAL",
        ):
            await self.connection.execute(pragma)

    async def close(self) -> None:
        await self.connection.close()

    def timestamp(self, value: dt.datetime) -> Any:
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def _read(self, connection: Any, sql: str, args: tuple[Any, ...]) -> list[Any]:
        rows = await connection.execute_fetchall(sql, args)
        await connection.rollback()
        return list(rows)

    async def _write(self, connection: Any, sql: str, args: tuple[Any, ...]) -> int:
        cursor = await connection.execute(sql, args)
        await connection.commit()
        return int(cursor.rowcount)


_RAW = {"postgres": AsyncpgRaw, "mysql": AiomysqlRaw, "sqlite": AiosqliteRaw}


def make_impl(name: str, database: Database) -> Impl:
    """The implementation ``name`` on ``database`` (userstore's schema, or fudb's for fudb)."""
    if name == "raw":
        return _RAW[database.backend](database)
    if name == "orm":
        return OrmImpl(database)
    if name == "connect":
        return ConnectImpl(database)
    return AdapterImpl(database, name)
