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

The driver cursor of a failed statement is released when the error is raised, not
left to the garbage collector: freeing it takes its connection's mutex, which that
connection's thread holds for as long as a later statement waits for the write
lock, and the collector runs on the event loop (see ``_release_failed_cursor``).

An integer id once handed out is never handed out again, as on PostgreSQL and
MariaDB, whose counters are not transactional.  Integer keys of userstore's
tables are ``AUTOINCREMENT`` (see ``models``), so SQLite's counters live in
``sqlite_sequence``; but a rollback restores that table too, and the next insert
would get the rolled-back id.  So every transaction that writes begins with the
shim's own savepoint, and a rollback of one that inserted becomes: read the
counters, roll back to that savepoint (undoing all the work), raise the counters
back to what was handed out, and commit only that.  The write lock is held from
the first write to the end, so no other connection, in this process or another,
can insert in between.  A rolled-back savepoint is handled the same way inside
its transaction: the counters are raised again before the next insert or the
commit.
"""

from __future__ import annotations

import sqlite3
import traceback
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Dialect, Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.util import asbool

from userstore import InvalidURL

from ._base import DialectShim, Fetch, Violation, driver_error
from ._sqlite_ids import _in_transaction, is_closed, keep_ids

__all__ = ["BUSY_TIMEOUT_MS", "DRIVER_OPTIONS", "SQLiteShim"]


if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

BUSY_TIMEOUT_MS = 30_000

_UNIQUE = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}

# the query options SQLAlchemy's SQLite dialects hand to the driver; with uri=true the
# others go into SQLite's own URI (mode=ro, cache=shared...)
DRIVER_OPTIONS = frozenset(
    {"uri", "timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"}
)

_UNAVAILABLE = {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL"}


class SQLiteShim(DialectShim):
    """The shim for ``sqlite`` (aiosqlite, and pysqlite for synchronous tooling)."""

    name = "sqlite"
    dialect_names: ClassVar[tuple[str, ...]] = ("sqlite",)
    driver_packages: ClassVar[frozenset[str]] = frozenset({"aiosqlite", "sqlite3"})
    commit_outcome_known = True

    def location(self, url: URL) -> str:
        """The database file (or ``:memory:``)."""
        return f"SQLite database {url.database or ':memory:'}"

    def cannot_reach(self, url: URL, reason: str) -> str:
        """Say that the database file cannot be opened, and why."""
        return f"cannot open {self.location(url)} ({reason})"

    def check_url(self, url: URL) -> None:
        """Refuse a host, user or port, and query options SQLite would silently ignore.

        Without ``uri=true`` only the driver's options count; any other (``mode=ro``)
        would be dropped and the file opened read-write.
        """
        if url.host or url.port or url.username or url.password:
            raise InvalidURL(
                "a SQLite URL names a file, not a server: sqlite:///relative/path.db, "
                "sqlite:////absolute/path.db or sqlite:// (in memory)",
                part="host",
            )
        query = dict(url.query)
        if not asbool(query.get("uri", False)):
            ignored = sorted(set(query) - DRIVER_OPTIONS)
            if ignored:
                name = ignored[0]
                raise InvalidURL(
                    f"SQLite ignores the query option {name!r} unless the URL also has "
                    f"uri=true (SQLite URI parameters); driver options: "
                    f"{', '.join(sorted(DRIVER_OPTIONS))}",
                    part=name,
                )

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

    def open_transaction(self, dbapi_connection: Any) -> bool | None:
        """``sqlite3.Connection.in_transaction``, which aiosqlite reads without a thread hop."""
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        value = getattr(driver, "in_transaction", None)
        return value if isinstance(value, bool) else None

    def fetcher(self, dialect: Dialect) -> Fetch | None:
        """One hop to aiosqlite's thread (``execute_fetchall``), opening no transaction."""
        return _aiosqlite_fetch if dialect.driver == "aiosqlite" else None

    def install(self, engine: Engine) -> None:
        """Replace closed connections at checkout; refuse a COMMIT on a closed one.

        And release the driver cursor of every failed statement at once, and keep
        integer ids handed out by a rolled-back transaction or savepoint from being
        handed out again (whoever rolls back: userstore, or the application's own
        ``session.rollback()``).
        """
        event.listen(engine, "checkout", _replace_closed)
        event.listen(engine, "commit", _refuse_lost_commit)
        event.listen(engine, "handle_error", _release_failed_cursor)
        keep_ids(engine)

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

    def is_read_only(self, error: DBAPIError) -> bool:
        """``attempt to write a readonly database``: a read-only file, or ``mode=ro``."""
        code = str(getattr(driver_error(error), "sqlite_errorname", ""))
        return code.startswith("SQLITE_READONLY")

    def error_code(self, error: DBAPIError) -> str | None:
        """The extended result code (``SQLITE_ERROR``)."""
        code = getattr(driver_error(error), "sqlite_errorname", None)
        return str(code) if code else None

    async def sever(self, connection: AsyncConnection, admin: AsyncConnection) -> None:
        """Close the driver connection under SQLAlchemy's feet (SQLite has no server to ask)."""
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.close()


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


def _release_failed_cursor(context: ExceptionContext) -> None:
    """Free what the failed statement's frames hold (its driver cursor) now, not in the GC.

    A refused write (a duplicate key) leaves its sqlite3 cursor holding a statement
    still marked in use: the cursor's own reset after the failed step returned the
    step's error, which the sqlite3 module takes as "not reset".  Freeing that
    cursor resets the statement again, and ``sqlite3_reset`` takes the connection's
    mutex.  On SQLAlchemy 2.0 the aiosqlite adapter never closes that cursor; it
    stays a local of the adapter's ``execute`` frame, held by the error's traceback,
    and the error's reference cycles (frames holding the exceptions whose tracebacks
    hold the frames) leave it to the garbage collector.  The collector runs on the
    event loop's thread, and by then the pool may have handed the connection to
    another session whose INSERT waits in the connection's thread for the write
    lock, holding the mutex for up to the busy timeout: the loop stops, the writer
    holding the lock cannot commit, and every waiting writer fails with SQLITE_BUSY.

    Here the finished frames of the tracebacks of the error and of its causes (the
    driver's error, which SQLAlchemy 2.1 wraps) drop their locals, and the lines of
    the tracebacks stay: the cursor is freed now, by the event loop while its
    connection is idle, or by the connection's own thread.  Frames still running
    are left alone.
    """
    error: BaseException | None = context.original_exception
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__


def _columns(message: str) -> tuple[str | None, tuple[str, ...]]:
    # "UNIQUE constraint failed: user.email_key" / "...: t.a, t.b"
    _, _, tail = message.partition(":")
    pairs = [part.strip().rpartition(".") for part in tail.split(",") if part.strip()]
    return (pairs[0][0] or None if pairs else None), tuple(column for _, _, column in pairs)


async def _aiosqlite_fetch(dbapi_connection: Any, sql: str, parameters: Any) -> Any:
    return await dbapi_connection.driver_connection.execute_fetchall(sql, parameters)
