"""PostgreSQL (asyncpg): native UUID and timestamptz; errors by SQLSTATE and constraint name.

PostgreSQL already compares text exactly under a deterministic collation,
enforces foreign keys and keeps microseconds, so the shim mostly reads asyncpg's
structured error fields.  One thing differs from the others: a failed statement
aborts the whole transaction, which the adapter answers with a SAVEPOINT inside
a caller's transaction (on every backend, so that the session state agrees).
"""

from __future__ import annotations

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


class PostgreSQLShim(DialectShim):
    """The shim for ``postgresql`` (asyncpg; psycopg works the same way)."""

    name = "postgresql"
    dialect_names: ClassVar[tuple[str, ...]] = ("postgresql",)
    driver_packages: ClassVar[frozenset[str]] = frozenset({"asyncpg"})
    default_port: ClassVar[int | None] = 5432

    def uuid_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """Native ``UUID``."""
        return postgresql.UUID(as_uuid=True)

    def binds_uuid_objects(self, dialect: Dialect) -> bool:
        """Asyncpg takes ``uuid.UUID`` for native columns."""
        return True

    def datetime_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """``TIMESTAMP WITH TIME ZONE`` (microsecond precision)."""
        return DateTime(timezone=True)

    def stores_naive_utc(self, dialect: Dialect) -> bool:
        """Timestamptz takes and gives aware datetimes."""
        return False

    def violation(self, error: DBAPIError) -> Violation | None:
        """Classify by SQLSTATE; asyncpg gives the constraint and table names."""
        exc = driver_error(error)
        state = getattr(exc, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        name = getattr(exc, "constraint_name", None)
        table = getattr(exc, "table_name", None)
        if state == "23505":
            return Violation("unique", name, table)
        if state == "23503":
            # the same SQLSTATE covers a missing parent and a parent still referenced
            detail = str(getattr(exc, "detail", "") or "")
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
        return isinstance(exc, (OSError, ConnectionError))

    async def sever(self, connection: AsyncConnection, admin: AsyncConnection) -> None:
        """``pg_terminate_backend`` on the connection's backend pid, from ``admin``."""
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        pid = driver.get_server_pid()
        await admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
