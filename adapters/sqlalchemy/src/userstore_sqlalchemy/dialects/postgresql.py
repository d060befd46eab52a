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
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from ._base import DialectShim, Violation, ViolationKind, driver_error

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["PostgreSQLShim"]

_UNAVAILABLE_CLASSES = ("08", "53", "57")  # connection, resources, operator intervention
# libpq's text for a failed connection, as psycopg raises it (no SQLSTATE)
_SERVER_ANSWER = re.compile(r"\b(?:FATAL|ERROR):\s+(.+)")
_NETWORK_FAILURE = re.compile(r"connection to server (?:at|on) .*? failed: (.+)")
_UNRESOLVED_HOST = re.compile(r"failed to resolve host '[^']*': (?:\[Errno -?\d+\] )?(.+)")


class PostgreSQLShim(DialectShim):
    """The shim for ``postgresql`` (asyncpg and psycopg)."""

    name = "postgresql"
    dialect_names: ClassVar[tuple[str, ...]] = ("postgresql",)
    driver_packages: ClassVar[frozenset[str]] = frozenset({"asyncpg", "psycopg"})
    default_port: ClassVar[int | None] = 5432

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
