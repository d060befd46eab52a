"""MySQL 8 and MariaDB (aiomysql, asyncmy): collations, strict mode, time zone, UUID, error codes.

What this backend does differently, and how the shim makes it behave as the
contract says:

- Default collations ignore case and accents and (``PAD SPACE``) trailing spaces,
  so every string column userstore compares gets ``utf8mb4`` with a binary
  ``NO PAD`` collation: ``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on
  MySQL 8 (where ``utf8mb4_bin`` still pads).
- ``TEXT`` holds 64 KiB; unbounded text is ``LONGTEXT``.
- ``DATETIME`` drops fractions unless declared ``DATETIME(6)``; it has no zone, so
  values are stored as naive UTC.
- MariaDB 10.7+ has a native ``UUID`` type; MySQL 8 has none (``CHAR(36)``).
- A non-strict ``sql_mode`` truncates over-long values silently; every connection
  gets a strict one.  The default isolation (REPEATABLE READ) would let a session
  read a stale snapshot after another session's commit, unlike the other backends,
  so connections run READ COMMITTED unless the application chose a level itself;
  that is also the level SQLAlchemy restores on a connection given another one
  for a while (the ``isolation_level`` execution option) when it returns to the pool.
- MariaDB 10.5+ has ``INSERT ... RETURNING``; MySQL 8 does not.  SQLAlchemy reads
  this from the server version, and userstore never needs RETURNING: ids are
  generated client-side or read from ``lastrowid``.
- A connection without a database has no default one to create tables in, so a
  URL must name one (``InvalidURL`` otherwise, before connecting).
- Errors carry a numeric code; the key name of a duplicate is only in the message
  text (MySQL 8 prefixes it with the table name), the one thing read from it.
- Writers waiting for a key that another transaction wrote and then rolls back
  (an email, an OAuth link) each hold a shared lock on it and each then want it
  exclusive: InnoDB ends that with a deadlock (1213), rolling back all but one,
  where PostgreSQL and SQLite let them go one after another.  The adapter runs
  such a write again, and it ends as it would have: stored, or refused because
  the survivor took the key.

aiomysql (pymysql's errors) and asyncmy raise the same ``(code, message)``
arguments, bind the same values (UUIDs as strings, naive datetimes) and take
the same setup statements.  One text differs: asyncmy appends the socket error
to "Can't connect to MySQL server on 'h'" (``([Errno 111] ...)``), which the
shim leaves out, as aiomysql does, so both say the same.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine, UserDefinedType

from ._base import (
    POSITION_MARK,
    DialectShim,
    Fetch,
    Violation,
    driver_error,
    engine_isolation_level,
)

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MySQLShim"]

SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
_DUPLICATE_KEY = re.compile(r"for key '(?:[^']*\.)?([^'.]+)'")
_FK_NAME = re.compile(r"CONSTRAINT `([^`]+)`")
# server gone, lost, killed, too many connections, can't connect, shutdown in progress;
# 1047 is what a Galera node answers while it is not part of the primary component
# ("WSREP has not yet prepared node for application use": quorum lost, or joining),
# 1180 its COMMIT at the moment it loses the component ("Got error 6 'Not connected
# to Primary Component' during COMMIT")
_UNAVAILABLE = {
    *(1040, 1047, 1053, 1180, 1927, 2002, 2003, 2006, 2013, 2014, 2045, 2055, 4031),
}
# the server runs with --read-only (a replica), or the transaction is READ ONLY
_READ_ONLY = {1290, 1792}
# errors whose message names only the schema or the server's state, never a value:
# no database, access denied, unknown database/table/column/key, table exists,
# lock wait, deadlock, read-only, too long / out of range / truncated for a column
_VALUE_FREE = {
    *(1044, 1045, 1046, 1049, 1050, 1051, 1054, 1061, 1071, 1091, 1109, 1118, 1142, 1143),
    *(1146, 1170, 1205, 1213, 1227, 1264, 1265, 1290, 1406, 1792, 1836),
}
_TLS = "aiomysql connects over TLS when given ssl_ca=<file> (and ssl_cert, ssl_key)"
_OPTION_HINTS = {
    "ssl_mode": _TLS,
    "sslmode": _TLS,
    "ssl": _TLS,
    "database": "give the database as the URL's path (/<database>)",
    "dbname": "give the database as the URL's path (/<database>)",
    "timeout": "aiomysql's is connect_timeout (seconds)",
}
# ER_LOCK_DEADLOCK: the transaction was rolled back, to end a deadlock or, on Galera,
# because another node's conflicting write was certified first (also at COMMIT)
_DEADLOCK = 1213
_SOCKET_ERROR = re.compile(r" \(\[Errno -?\d+\].*\)$")  # asyncmy's suffix


class _NativeUUID(UserDefinedType[str]):
    """MariaDB's ``UUID`` column type (values travel as hyphenated strings)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "UUID"


_SERVER_STATUS_IN_TRANS = 0x0001
"""``SERVER_STATUS_IN_TRANS`` of the protocol's status flags."""


class MySQLShim(DialectShim):
    """The shim for ``mysql`` and ``mariadb`` (aiomysql, asyncmy; pymysql for tooling)."""

    name = "mysql"
    dialect_names: ClassVar[tuple[str, ...]] = ("mysql", "mariadb")
    driver_packages: ClassVar[frozenset[str]] = frozenset({"aiomysql", "asyncmy", "pymysql"})
    default_port: ClassVar[int | None] = 3306
    requires_database: ClassVar[bool] = True

    def fetcher(self, dialect: Dialect) -> Fetch | None:
        """A cursor of the driver's, executed and read whole (aiomysql, asyncmy).

        aiomysql's is SQLAlchemy's subclass, which sends no ``SHOW WARNINGS``.
        The lookup opens a transaction (autocommit is off, as SQLAlchemy keeps
        it); the pool's return rolls it back, as after any lookup: two round trips.
        """
        if dialect.driver not in ("aiomysql", "asyncmy"):
            return None
        return _mysql_fetch

    def open_transaction(self, dbapi_connection: Any) -> bool | None:
        """The in-transaction flag of the server's last OK packet (aiomysql, asyncmy, PyMySQL).

        Every OK packet carries the session's status; the flag is cleared by the
        answer to ``COMMIT`` or ``ROLLBACK`` and set by that of a statement run
        inside a transaction.
        """
        driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        status = getattr(driver, "server_status", None)
        if not isinstance(status, int):
            return None
        return bool(status & _SERVER_STATUS_IN_TRANS)

    @staticmethod
    def is_mariadb(dialect: Dialect) -> bool:
        """Whether the server is MariaDB (known after the first connection)."""
        return bool(getattr(dialect, "is_mariadb", False))

    def binary_collation(self, dialect: Dialect) -> str:
        """The exact, NO PAD collation of utf8mb4 on this server."""
        return "utf8mb4_nopad_bin" if self.is_mariadb(dialect) else "utf8mb4_0900_bin"

    def uuid_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """Native ``UUID`` on MariaDB 10.7+, else ``CHAR(36)`` in ASCII."""
        version = getattr(dialect, "server_version_info", None) or ()
        if self.is_mariadb(dialect) and tuple(version[:2]) >= (10, 7):
            return _NativeUUID()
        return mysql.CHAR(36, charset="ascii", collation="ascii_bin")

    def datetime_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """``DATETIME(6)``: microseconds, naive UTC."""
        return mysql.DATETIME(fsp=6)

    def exact_string_type(self, dialect: Dialect, length: int | None) -> TypeEngine[Any]:
        """``VARCHAR(n)`` or ``LONGTEXT`` in utf8mb4 with the binary NO PAD collation."""
        collation = self.binary_collation(dialect)
        if length is None:
            return mysql.LONGTEXT(charset="utf8mb4", collation=collation)
        return mysql.VARCHAR(length, charset="utf8mb4", collation=collation)

    def driver_parameters(self, dialect: Dialect) -> frozenset[str] | None:
        """The ``connect()`` keywords of aiomysql (SQLAlchemy reads ``ssl_*`` into its ``ssl``)."""
        if dialect.driver != "aiomysql":
            return None
        return frozenset(
            {
                *inspect.signature(importlib.import_module("aiomysql").connect).parameters,
                "async_creator_fn",
            }
        )

    def option_hint(self, dialect: Dialect, name: str) -> str:
        """The aiomysql equivalent of an option other MySQL clients take."""
        return _OPTION_HINTS.get(name, "")

    def connection_setup(self, dialect: Dialect) -> list[str]:
        """utf8mb4, strict sql_mode, UTC, and READ COMMITTED unless the engine sets a level."""
        statements = [
            "SET NAMES utf8mb4",
            f"SET SESSION sql_mode = '{SQL_MODE}'",
            "SET SESSION time_zone = '+00:00'",
        ]
        if engine_isolation_level(dialect) is None:
            statements.append("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        if self.is_mariadb(dialect):
            # on a Galera node, a read waits until the node has applied every write the
            # cluster committed before it began: what one node stored, another reads
            statements.append("SET SESSION wsrep_sync_wait = IF(@@wsrep_on, 1, 0)")
        return statements

    def write_position(self, connection: Connection) -> Any:
        """``@@gtid_binlog_pos`` on MariaDB (``None`` without a binary log), else ``None``."""
        if not self.is_mariadb(connection.dialect):
            return None
        position = connection.exec_driver_sql(POSITION_MARK + "SELECT @@gtid_binlog_pos").scalar()
        return str(position) if position else None

    def replayed(self, connection: Connection, needed: Any) -> Any:
        """``needed`` if ``MASTER_GTID_WAIT(needed, 0)`` says the replica has applied it."""
        if not self.is_mariadb(connection.dialect):
            return None
        if needed is None:  # no write to wait for: the replica answers, that is all
            return ""
        waited = connection.exec_driver_sql(
            POSITION_MARK + "SELECT MASTER_GTID_WAIT(%s, 0)", (str(needed),)
        )
        return needed if waited.scalar() == 0 else None

    def covers(self, position: Any, needed: Any) -> bool:
        """Whether GTID list ``position`` reaches ``needed``'s sequence number in each domain.

        ``@@gtid_binlog_pos`` is ``domain-server-seq`` per replication domain
        (``0-1-41,1-1-7``); within a domain a later transaction has a higher seq,
        whichever server wrote it.  ``""`` (nothing written) is covered by any.
        """
        reached = _gtid_seqs(position)
        return all(reached.get(domain, -1) >= seq for domain, seq in _gtid_seqs(needed).items())

    def on_connect(self, dbapi_connection: DBAPIConnection, dialect: Dialect) -> None:
        """Run the setup; READ COMMITTED becomes the level the pool restores."""
        super().on_connect(dbapi_connection, dialect)
        _restore_read_committed(dialect)

    async def prepare(self, connection: AsyncConnection) -> bool:
        """Run the setup on a connection opened before userstore saw the engine."""
        done = await super().prepare(connection)
        _restore_read_committed(connection.dialect)
        return done

    def violation(self, error: DBAPIError) -> Violation | None:
        """Classify by error number; key names come from the message, the only place."""
        exc = driver_error(error)
        code, message = _code(exc), str(exc.args[1] if len(exc.args) > 1 else exc)
        if code == 1062:
            match = _DUPLICATE_KEY.search(message)
            return Violation("unique", match.group(1) if match else None)
        if code in (1216, 1452):
            match = _FK_NAME.search(message)
            return Violation("foreign_key", match.group(1) if match else None)
        if code in (1217, 1451):
            return Violation("referenced")
        if code in (1048, 1364, 3819, 4025):
            return Violation("other")
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        """Lost or refused connections, by client and server error numbers."""
        if error.connection_invalidated:
            return True
        exc = driver_error(error)
        return _code(exc) in _UNAVAILABLE or isinstance(exc, (OSError, ConnectionError))

    def is_retryable(self, error: DBAPIError) -> bool:
        """A deadlock or a Galera certification failure (a lock wait timeout does not count)."""
        return _code(driver_error(error)) == _DEADLOCK

    def is_read_only(self, error: DBAPIError) -> bool:
        """1290 for a server running ``--read-only`` (a replica), 1792 for a READ ONLY transaction.

        1290 is also "the server runs with an option that prevents this statement"
        for other options; a user store's writes meet only ``--read-only`` and
        ``--super-read-only`` so.
        """
        return _code(driver_error(error)) in _READ_ONLY

    def message(self, error: DBAPIError) -> str:
        """The driver's message without its error number (``(2003, "Can't connect...")``)."""
        exc = driver_error(error)
        args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
        if len(args) > 1 and isinstance(args[0], int):
            lines = _SOCKET_ERROR.sub("", str(args[1])).strip().splitlines()
            return f"{lines[0] if lines else ''} [{args[0]}]".strip()
        return super().message(error)

    def safe_message(self, error: DBAPIError) -> str | None:
        """The first line, for the errors known to quote no value.

        pymysql sends parameters inside the statement's text, which a syntax error
        quotes, so any other error gives its number only.
        """
        if _code(driver_error(error)) not in _VALUE_FREE:
            return None
        return super().safe_message(error)

    def error_code(self, error: DBAPIError) -> str | None:
        """``error NNNN``."""
        code = _code(driver_error(error))
        return f"error {code}" if code is not None else None

    async def sever(self, connection: AsyncConnection, admin: AsyncConnection) -> None:
        """``KILL`` the connection's thread id, from ``admin``."""
        result = await connection.exec_driver_sql("SELECT CONNECTION_ID()")
        thread_id = int(result.scalar_one())
        await admin.exec_driver_sql(f"KILL {thread_id}")


def _restore_read_committed(dialect: Dialect) -> None:
    # SQLAlchemy read the server's default (REPEATABLE READ) at the first connect
    # and sets it back on a connection that had an isolation_level option.  The
    # shim makes every connection READ COMMITTED, so that is the level to restore;
    # there is no public hook for "the level connections start with" other than
    # the dialect's ``default_isolation_level``.  Only an engine without an
    # isolation_level of its own is touched (the application's choice wins).
    # tests/sqlalchemy/test_private_apis.py checks the attribute SQLAlchemy reads.
    if engine_isolation_level(dialect) is None:
        dialect.default_isolation_level = "READ COMMITTED"


def _code(exc: Any) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _gtid_seqs(position: Any) -> dict[int, int]:
    """``{domain: seq}`` of a MariaDB GTID list (``"0-1-41,1-1-7"``; ``""`` is none)."""
    seqs: dict[int, int] = {}
    for gtid in str(position or "").split(","):
        if gtid.strip():
            domain, _, seq = gtid.strip().split("-")
            seqs[int(domain)] = max(int(seq), seqs.get(int(domain), -1))
    return seqs


async def _mysql_fetch(dbapi_connection: Any, sql: str, parameters: Any) -> Any:
    driver = dbapi_connection.driver_connection
    cursor_class = getattr(getattr(dbapi_connection, "dbapi", None), "Cursor", None)
    async with driver.cursor(*(() if cursor_class is None else (cursor_class,))) as cursor:
        await cursor.execute(sql, parameters)
        return await cursor.fetchall()
