"""PostgreSQL (asyncpg, psycopg): native UUID and timestamptz; errors by SQLSTATE and constraint.

PostgreSQL already compares text exactly under a deterministic collation,
enforces foreign keys and keeps microseconds, so the shim mostly reads the
driver's structured error fields.  One thing differs from the others: a failed
statement aborts the whole transaction, which the adapter answers with a
SAVEPOINT inside a caller's transaction (on every backend, so that the session
state agrees).

The two asyncio drivers differ only in their error objects and in how they
name the server's process for a connection:

- asyncpg's exceptions carry ``sqlstate``, ``constraint_name``, ``table_name``
  and ``detail``; psycopg's carry ``sqlstate`` and a ``diag`` object with
  ``constraint_name``, ``table_name`` and ``message_detail``.
- A failure to connect is an ``OSError`` (or a server error with its SQLSTATE)
  from asyncpg, but from psycopg one ``OperationalError`` without SQLSTATE whose
  text is libpq's: ``connection to server at "h", port 5432 failed: Connection
  refused``, ``failed to resolve host 'h': ...``, or the server's ``FATAL:``
  answer.  The shim reads the reason from that text, so that both drivers say
  ``cannot reach h:5432 (connection refused)`` or ``cannot connect to h:5432:
  database "app" does not exist`` alike.
- The backend pid is ``get_server_pid()`` on asyncpg, ``info.backend_pid`` on psycopg.

Both take ``uuid.UUID`` objects and aware datetimes, and return aware
datetimes (psycopg in the session's time zone; the column type converts to UTC).

URLs: asyncpg takes libpq's ``sslmode`` values under the name ``ssl``, so
``?sslmode=require`` (what hosted PostgreSQL hands out) is passed on as
``ssl=require``; libpq parameters asyncpg lacks are refused naming its equivalent.
A URL without a database connects to the user's default one, as libpq does.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import DateTime, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from userstore import InvalidURL

from ._base import POSITION_MARK, DialectShim, Fetch, Violation, ViolationKind, driver_error

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["PostgreSQLShim"]

_UNAVAILABLE_CLASSES = ("08", "53", "57")  # connection, resources, operator intervention
# serialization_failure, deadlock_detected: the transaction was rolled back
_RETRYABLE = frozenset({"40001", "40P01"})
# a WAL position (pg_lsn, ``16/B374D848``) as its byte offset, which every driver reads
_WAL_OFFSET = POSITION_MARK + "SELECT (%s - '0/0'::pg_lsn)::bigint"
_READ_ONLY = "25006"  # read_only_sql_transaction: a hot standby, or a READ ONLY transaction
# libpq's text for a failed connection, as psycopg raises it (no SQLSTATE)
_SERVER_ANSWER = re.compile(r"\b(?:FATAL|ERROR):\s+(.+)")
_NETWORK_FAILURE = re.compile(r"connection to server (?:at|on) .*? failed: (.+)")
_UNRESOLVED_HOST = re.compile(r"failed to resolve host '[^']*': (?:\[Errno -?\d+\] )?(.+)")

# data exceptions (class 22) whose message quotes no value: too long, out of range,
# a character the server cannot store (jsonb's \u0000)
_VALUE_FREE_DATA_STATES = {"22001", "22003", "22P05"}

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's ``sslmode`` values, which asyncpg takes as ``ssl``."""

# SQLAlchemy's asyncpg dialect reads these itself; the rest go to asyncpg.connect()
_DIALECT_PARAMETERS = {"prepared_statement_cache_size", "prepared_statement_name_func"}
_SSL_CONTEXT = (
    "asyncpg takes certificates and keys as an ssl.SSLContext: "
    "connect_args={'ssl': ssl.create_default_context(cafile=...)}"
)
_SERVER_SETTING = (
    "asyncpg sets it as a server setting: connect_args={{'server_settings': {{{!r}: ...}}}}"
)
# libpq's connection parameters, and what asyncpg takes instead
_LIBPQ_HINTS = {
    "connect_timeout": "asyncpg's is timeout, in seconds: connect_args={'timeout': 10}",
    "dbname": "give the database as the URL's path (/<database>)",
    "application_name": _SERVER_SETTING.format("application_name"),
    "options": "give each setting in connect_args={'server_settings': {...}}",
    "sslrootcert": _SSL_CONTEXT,
    "sslcert": _SSL_CONTEXT,
    "sslkey": _SSL_CONTEXT,
    "sslcrl": _SSL_CONTEXT,
    "sslpassword": _SSL_CONTEXT,
}


class PostgreSQLShim(DialectShim):
    """The shim for ``postgresql`` (asyncpg and psycopg)."""

    name = "postgresql"
    dialect_names: ClassVar[tuple[str, ...]] = ("postgresql",)
    driver_packages: ClassVar[frozenset[str]] = frozenset({"asyncpg", "psycopg"})
    default_port: ClassVar[int | None] = 5432
    alone_in_autocommit: ClassVar[bool] = True

    def uuid_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """Native ``UUID``."""
        return postgresql.UUID(as_uuid=True)

    def binds_uuid_objects(self, dialect: Dialect) -> bool:
        """Asyncpg and psycopg take ``uuid.UUID`` for native columns."""
        return True

    def datetime_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """``TIMESTAMP WITH TIME ZONE`` (microsecond precision)."""
        return DateTime(timezone=True)

    def stores_naive_utc(self, dialect: Dialect) -> bool:
        """Timestamptz takes and gives aware datetimes."""
        return False

    def fetcher(self, dialect: Dialect) -> Fetch | None:
        """The lookup sent alone, in one round trip, on either driver.

        asyncpg's ``fetch`` (its statement cache prepares a lookup once per
        connection); psycopg's ``execute`` with the connection in autocommit for
        the call (a flag of the client: no ``BEGIN`` is sent).
        """
        return _asyncpg_fetch if dialect.driver == "asyncpg" else _psycopg_fetch

    def driver_parameters(self, dialect: Dialect) -> frozenset[str] | None:
        """The ``connect()`` keywords of asyncpg, and those SQLAlchemy's dialect reads itself."""
        if dialect.driver != "asyncpg":
            return None
        names = (
            set(inspect.signature(importlib.import_module("asyncpg").connect).parameters)
            | _DIALECT_PARAMETERS
        )
        return frozenset(names | {"async_creator_fn"})

    def option_hint(self, dialect: Dialect, name: str) -> str:
        """The asyncpg equivalent of a libpq connection parameter."""
        return _LIBPQ_HINTS.get(name, "")

    def check_connect_args(self, dialect: Dialect, params: Mapping[str, Any]) -> None:
        """Refuse what asyncpg would; ``sslmode`` counts as its ``ssl``."""
        if dialect.driver == "asyncpg":
            params = asyncpg_ssl(params)
        super().check_connect_args(dialect, params)

    def install(self, engine: Engine) -> None:
        """On asyncpg, read libpq's ``sslmode`` (``?sslmode=require``) as asyncpg's ``ssl``."""
        if engine.dialect.driver == "asyncpg":
            event.listen(engine, "do_connect", _translate_sslmode)

    def violation(self, error: DBAPIError) -> Violation | None:
        """Classify by SQLSTATE; both drivers give the constraint and table names."""
        exc = driver_error(error)
        state = getattr(exc, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        fields = getattr(exc, "diag", None) or exc  # psycopg's Diagnostic, or asyncpg's error
        name = getattr(fields, "constraint_name", None)
        table = getattr(fields, "table_name", None)
        if state == "23505":
            return Violation("unique", name, table)
        if state == "23503":
            # the same SQLSTATE covers a missing parent and a parent still referenced
            detail = str(getattr(fields, "message_detail", None) or getattr(fields, "detail", ""))
            kind: ViolationKind = "referenced" if "is still referenced" in detail else "foreign_key"
            return Violation(kind, name, table)
        if state is not None and state.startswith("23"):
            return Violation("other", name, table)
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        """Lost connections, and SQLSTATE classes 08, 53 and 57 (shutdown, too many clients)."""
        if error.connection_invalidated:
            return True
        exc = driver_error(error)
        state = str(getattr(exc, "sqlstate", "") or "")
        if state.startswith(_UNAVAILABLE_CLASSES):
            return True
        if _libpq_network_reason(exc) is not None:
            return True
        return isinstance(exc, (OSError, ConnectionError))

    def write_position(self, connection: Connection) -> Any:
        """``pg_current_wal_lsn()``: the WAL position every committed transaction lies before."""
        return _offset(connection.exec_driver_sql(_WAL_OFFSET % "pg_current_wal_lsn()").scalar())

    def replayed(self, connection: Connection, needed: Any) -> Any:
        """``pg_last_wal_replay_lsn()`` (``None`` on a server that is not a standby)."""
        replay = connection.exec_driver_sql(_WAL_OFFSET % "pg_last_wal_replay_lsn()")
        return _offset(replay.scalar())

    def covers(self, position: Any, needed: Any) -> bool:
        """WAL positions are byte offsets: a later one includes every earlier commit."""
        return bool(position >= needed)

    def is_retryable(self, error: DBAPIError) -> bool:
        """A deadlock or a serialization failure: the server rolled the transaction back."""
        return _sqlstate(error) in _RETRYABLE

    def is_read_only(self, error: DBAPIError) -> bool:
        """``cannot execute INSERT in a read-only transaction``: a standby answered."""
        return _sqlstate(error) == _READ_ONLY

    def safe_message(self, error: DBAPIError) -> str | None:
        """The first line, unless it may quote a value.

        Classes 22 (data exceptions: ``invalid input syntax for type uuid: "..."``)
        and 23 (integrity) may, as may asyncpg's own refusals of a parameter.
        """
        exc = driver_error(error)
        state = _sqlstate(error)
        if state.startswith("23") or isinstance(exc, ValueError):
            return None
        if state.startswith("22") and state not in _VALUE_FREE_DATA_STATES:
            return None
        return super().safe_message(error)

    def error_code(self, error: DBAPIError) -> str | None:
        """``SQLSTATE xxxxx``."""
        state = _sqlstate(error)
        return f"SQLSTATE {state}" if state else None

    def message(self, error: DBAPIError) -> str:
        """The reason a connection failed, the same for both drivers.

        psycopg's text is libpq's whole account (``connection failed: connection
        to server at ... failed: FATAL:  database "app" does not exist``): only the
        server's answer, or the network failure, is kept.
        """
        exc = driver_error(error)
        network = _libpq_network_reason(exc)
        if network is not None:
            return network
        text = str(exc)
        answer = _SERVER_ANSWER.search(text) if getattr(exc, "sqlstate", None) is None else None
        if answer is not None:
            return answer.group(1).strip()
        return super().message(error)

    async def sever(self, connection: AsyncConnection, admin: AsyncConnection) -> None:
        """``pg_terminate_backend`` on the connection's backend pid, from ``admin``."""
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        info = getattr(driver, "info", None)  # psycopg's ConnectionInfo
        pid = info.backend_pid if info is not None else driver.get_server_pid()
        await admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")


def _offset(value: Any) -> int | None:
    return None if value is None else int(value)


def _sqlstate(error: DBAPIError) -> str:
    exc = driver_error(error)
    return str(getattr(exc, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")


def asyncpg_ssl(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with libpq's ``sslmode`` given as asyncpg's ``ssl`` (same values).

    Raises :class:`~userstore.InvalidURL` for a mode libpq does not have, or for
    ``ssl`` and ``sslmode`` that disagree.
    """
    found = dict(params)
    for name in ("ssl", "sslmode"):
        value = found.get(name)
        if isinstance(value, str) and value not in SSL_MODES:
            raise InvalidURL(
                f"{name}={value!r} is not an SSL mode (use one of {', '.join(SSL_MODES)}; "
                "for certificates pass an ssl.SSLContext: connect_args={'ssl': context})",
                part=name,
            )
    if "sslmode" in found:
        mode = found.pop("sslmode")
        if found.get("ssl") not in (None, mode):
            raise InvalidURL("give ssl or sslmode, not both", part="sslmode")
        found["ssl"] = mode
    return found


def _translate_sslmode(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    # runs before each new connection; SQLAlchemy connects with the edited cparams
    translated = asyncpg_ssl(cparams)
    cparams.clear()
    cparams.update(translated)


def _libpq_network_reason(exc: Any) -> str | None:
    """The network failure in a libpq connection error (psycopg's), or ``None``.

    ``None`` too when the server answered (a ``FATAL:`` line), or for any error
    that carries a SQLSTATE or is not a connection failure.
    """
    if getattr(exc, "sqlstate", None) is not None or not hasattr(exc, "pgconn"):
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    unresolved = _UNRESOLVED_HOST.search(first)
    if unresolved is not None:
        return f"unknown host: {unresolved.group(1).strip()}"
    failed = _NETWORK_FAILURE.search(first)
    if failed is None or _SERVER_ANSWER.search(failed.group(1)):
        return None
    reason = failed.group(1).strip()
    if reason.lower() == "connection refused":
        return "connection refused"
    if reason.lower().startswith("timeout expired"):
        return "timed out"
    return reason


async def _asyncpg_fetch(dbapi_connection: Any, sql: str, parameters: Any) -> Any:
    return await dbapi_connection.driver_connection.fetch(sql, *parameters)


async def _psycopg_fetch(dbapi_connection: Any, sql: str, parameters: Any) -> Any:
    driver = dbapi_connection.driver_connection
    if driver.autocommit:
        cursor = await driver.execute(sql, parameters)
        return await cursor.fetchall()
    await driver.set_autocommit(True)
    try:
        cursor = await driver.execute(sql, parameters)
        return await cursor.fetchall()
    finally:
        await driver.set_autocommit(False)
