"""SQLite (aiosqlite): foreign keys on, WAL, a busy timeout, and errors by extended code.

SQLite ignores foreign keys unless asked on every connection, so cascades would
silently not happen; a second writer fails at once unless a busy timeout makes it
wait.  Its integrity errors name no constraint, only ``table.column`` pairs, so
that list is the one thing read from the message.  Its default BINARY collation
already compares exactly.

A closed driver connection must fail loudly: SQLAlchemy's aiosqlite adapter skips
``commit()`` on a closed aiosqlite connection without a word, which would make a
transaction whose connection was closed look committed while its writes were
lost.  The shim refuses that COMMIT (``StoreUnavailable``) and replaces a closed
connection at pool checkout instead of handing it out again.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from ._base import DialectShim, Violation, driver_error

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["SQLiteShim"]

BUSY_TIMEOUT_MS = 30_000

_UNIQUE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL"}


class SQLiteShim(DialectShim):
    """The shim for ``sqlite`` (aiosqlite, and pysqlite for synchronous tooling)."""

    name = "sqlite"
    dialect_names: ClassVar[tuple[str, ...]] = ("sqlite",)
    driver_packages: ClassVar[frozenset[str]] = frozenset({"aiosqlite", "sqlite3"})

    def location(self, url: URL) -> str:
        """The database file (or ``:memory:``)."""
        return f"SQLite database {url.database or ':memory:'}"

    def cannot_reach(self, url: URL, reason: str) -> str:
        """Say that the database file cannot be opened, and why."""
        return f"cannot open {self.location(url)} ({reason})"

    def connection_setup(self, dialect: Dialect) -> list[str]:
        """Foreign keys on, a 30 s busy timeout, WAL (a no-op for in-memory databases)."""
        return [
            "PRAGMA foreign_keys = ON",
            f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
            "PRAGMA journal_mode = WAL",
        ]

    async def prepare(self, connection: AsyncConnection) -> bool:
        """Switch foreign keys on for a connection checked out before userstore saw its engine.

        ``PRAGMA foreign_keys`` is a no-op inside a transaction (the application may
        have written first on this connection): the setting is read back, and if
        it did not take, the connection stays unprepared so its next checkout,
        outside any transaction, does it.
        """
        await connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        await connection.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        result = await connection.exec_driver_sql("PRAGMA foreign_keys")
        return bool(result.scalar())

    def install(self, engine: Engine) -> None:
        """Replace closed connections at checkout; refuse a COMMIT on a closed one."""
        event.listen(engine, "checkout", _replace_closed)
        event.listen(engine, "commit", _refuse_lost_commit)

    async def before_savepoint(self, connection: AsyncConnection) -> None:
        """Open the transaction the driver has deferred, so RELEASE does not commit it.

        On a closed connection the BEGIN is sent anyway, to fail as a lost connection.
        """
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if driver is not None and not _in_transaction(driver):
            await connection.exec_driver_sql("BEGIN")

    async def before_table_rebuild(self, connection: AsyncConnection) -> None:
        """Foreign keys off: a rebuilt table is dropped, which would cascade to its rows' owners.

        Alembic's batch mode copies a table, drops the old one and renames the copy;
        with foreign keys on, the drop of ``user`` would delete every row that
        references it (``ON DELETE CASCADE``).  The connection is idle here, outside a
        transaction, where the PRAGMA takes.
        """
        await connection.exec_driver_sql("PRAGMA foreign_keys = OFF")

    async def after_table_rebuild(self, connection: AsyncConnection) -> None:
        """Foreign keys on again, as every connection of the engine has them."""
        await connection.exec_driver_sql("PRAGMA foreign_keys = ON")

    def violation(self, error: DBAPIError) -> Violation | None:
        """Classify by the extended result code; columns come from the message."""
        exc = driver_error(error)
        code = getattr(exc, "sqlite_errorname", "")
        if code in _UNIQUE:
            table, columns = _columns(str(exc))
            return Violation("unique", table=table, columns=columns)
        if code == "SQLITE_CONSTRAINT_FOREIGNKEY":
            return Violation("foreign_key")
        if code.startswith("SQLITE_CONSTRAINT"):
            return Violation("other")
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        """Lost connections, a lock that outlived the busy timeout, an unreadable file."""
        if error.connection_invalidated:
            return True
        code = str(getattr(driver_error(error), "sqlite_errorname", ""))
        return "_".join(code.split("_")[:2]) in _UNAVAILABLE

    async def sever(self, connection: AsyncConnection, admin: AsyncConnection) -> None:
        """Close the driver connection under SQLAlchemy's feet (SQLite has no server to ask)."""
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.close()


def _in_transaction(driver: Any) -> bool:
    """Whether the driver connection (aiosqlite or sqlite3) is in a transaction; not if closed."""
    try:
        return bool(driver.in_transaction)
    except (ValueError, sqlite3.ProgrammingError):  # aiosqlite's, sqlite3's "closed"
        return False


def is_closed(driver: Any) -> bool:
    """Whether the aiosqlite (or sqlite3) connection ``driver`` has been closed."""
    try:
        driver.in_transaction  # noqa: B018  # raises once the connection is closed
    except (ValueError, sqlite3.ProgrammingError):
        return True
    return False


def _replace_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # the pool discards a connection whose checkout raises this, and opens a new one
    if is_closed(record.driver_connection):
        raise DisconnectionError("the SQLite connection was closed")


def _refuse_lost_commit(connection: Connection) -> None:
    # runs just before the driver's commit, which would do nothing on a closed connection
    driver = connection.connection.driver_connection
    if driver is None or not is_closed(driver):
        return
    connection.invalidate()
    lost = sqlite3.OperationalError("the connection was closed; its transaction is lost")
    raise OperationalError("COMMIT", None, lost, connection_invalidated=True)


def _columns(message: str) -> tuple[str | None, tuple[str, ...]]:
    # "UNIQUE constraint failed: user.email_key" / "...: t.a, t.b"
    _, _, tail = message.partition(":")
    pairs = [part.strip().rpartition(".") for part in tail.split(",") if part.strip()]
    return (pairs[0][0] or None if pairs else None), tuple(column for _, _, column in pairs)
