"""What every dialect shim provides; each backend's module overrides only what differs."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from sqlalchemy import CHAR, DateTime, String, Text
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.types import TypeEngine

from userstore import InvalidURL

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["DialectShim", "Fetch", "Violation", "ViolationKind", "engine_isolation_level"]

Fetch = Callable[[Any, str, Any], Awaitable[Sequence[Sequence[Any]]]]
"""A driver call running one lookup: ``await fetch(dbapi_connection, sql, parameters)``."""

ViolationKind = Literal["unique", "foreign_key", "referenced", "other"]


@dataclasses.dataclass(frozen=True)
class Violation:
    """An integrity error, read from the driver's structured fields where it has them.

    ``constraint`` is the name the database reports (PostgreSQL, MySQL); SQLite
    reports none, only ``columns``.
    """

    kind: ViolationKind
    constraint: str | None = None
    table: str | None = None
    columns: tuple[str, ...] = ()


class DialectShim:
    """Defaults that suit a standards-following backend; subclasses override what differs."""

    name: ClassVar[str]
    """The backend's name in messages (``sqlite``, ``postgresql``, ``mysql``)."""

    dialect_names: ClassVar[tuple[str, ...]] = ()

    driver_packages: ClassVar[frozenset[str]] = frozenset()
    """Top-level packages of the backend's drivers, whose exceptions SQLAlchemy may
    let out of ``connect()`` unwrapped (2.0 does, for asyncpg's refusals)."""

    default_port: ClassVar[int | None] = None
    """The server's port when a URL names none."""

    requires_database: ClassVar[bool] = False
    """Whether a URL must name a database (the server has no default one for the user)."""

    # -- types ---------------------------------------------------------------------------

    commit_outcome_known: ClassVar[bool] = False
    """Whether a COMMIT whose connection was lost surely kept nothing (SQLite: no server).

    A server that received COMMIT may have committed before the connection
    dropped; an embedded database rolls a closed connection's transaction back.
    """

    alone_in_autocommit: ClassVar[bool] = False
    """Whether a statement outside a transaction is cheaper on an autocommit connection.

    On PostgreSQL's drivers autocommit is a flag of the client: a lookup, or a
    write of one statement, is sent alone, without the ``BEGIN`` and
    ``ROLLBACK`` or ``COMMIT`` around it (one round trip instead of three).
    On MySQL switching a connection to autocommit and back costs two or three
    statements, more than the ``ROLLBACK`` it would save.
    """

    def open_transaction(self, dbapi_connection: Any) -> bool | None:
        """Whether the connection is inside a transaction, if the driver knows without I/O.

        ``None`` when it cannot tell.  A pool then skips the ``ROLLBACK`` it would
        send on an idle connection's return (:func:`userstore_sqlalchemy.create_engine`).
        """
        return None

    def fetcher(self, dialect: Dialect) -> Fetch | None:
        """The driver's own call that runs a lookup and returns its rows, if the shim has one.

        ``fetch(dbapi_connection, sql, parameters)``, awaited in SQLAlchemy's greenlet
        on a pooled connection outside any transaction: ``sql`` is compiled for the
        dialect, ``parameters`` in its paramstyle, bound values already processed.
        The call must leave the connection as the pool's reset expects it (on
        PostgreSQL, sending no ``BEGIN``).  ``None``: lookups take the ORM's way
        (:mod:`userstore_sqlalchemy._direct`).
        """
        return None

    def uuid_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """Column type for UUIDs: hyphenated text unless the backend has a native type."""
        return CHAR(36)

    def binds_uuid_objects(self, dialect: Dialect) -> bool:
        """Whether the driver takes ``uuid.UUID`` objects (else the hyphenated string)."""
        return False

    def datetime_type(self, dialect: Dialect) -> TypeEngine[Any]:
        """Column type for UTC datetimes with microseconds."""
        return DateTime(timezone=True)

    def stores_naive_utc(self, dialect: Dialect) -> bool:
        """Whether datetimes are bound and read as naive UTC (no time zone on the column)."""
        return True

    def exact_string_type(self, dialect: Dialect, length: int | None) -> TypeEngine[Any]:
        """A string column that compares exactly: case, accents and trailing spaces count."""
        return String(length) if length is not None else Text()

    # -- connections ---------------------------------------------------------------------

    def location(self, url: URL) -> str:
        """Where ``url`` points, for messages: ``host:port`` (the default port if none is given)."""
        port = url.port or self.default_port
        host = url.host or "localhost"
        return f"{host}:{port}" if port else host

    def cannot_reach(self, url: URL, reason: str) -> str:
        """Say in one line that the database at ``url`` cannot be reached, and why."""
        return f"cannot reach {self.location(url)} ({reason})"

    def check_url(self, url: URL) -> None:
        """Refuse, before any connection, a URL this backend cannot use.

        Raises :class:`~userstore.InvalidURL` naming the part: a port out of
        range, or no database where the backend needs one.
        """
        port = url.port
        if port is not None and not 0 < port < 65536:
            raise InvalidURL(f"the port {port} is out of range (1-65535)", part="port")
        if self.requires_database and not url.database:
            raise InvalidURL(
                f"the URL names no database (add /<database> after {self.location(url)})",
                part="database",
            )

    def driver_parameters(self, dialect: Dialect) -> frozenset[str] | None:
        """The keyword arguments the dialect's driver takes when connecting (``None``: unknown)."""
        return None

    def option_hint(self, dialect: Dialect, name: str) -> str:
        """What to use instead of an option the driver does not take (``""``: nothing)."""
        return ""

    def check_connect_args(self, dialect: Dialect, params: Mapping[str, Any]) -> None:
        """Refuse, before any connection, connect arguments the driver would reject.

        ``params`` are what the driver's ``connect()`` would get: the URL's parts
        and query options as the dialect reads them, and ``connect_args``.
        """
        accepted = self.driver_parameters(dialect)
        if accepted is None:
            return
        for name in sorted(params):
            if name not in accepted:
                raise self.unknown_option(dialect, name)

    def unknown_option(self, dialect: Dialect, name: str) -> InvalidURL:
        """The error for an option the driver does not take, saying what to use instead."""
        hint = self.option_hint(dialect, name) or "drop it from the URL's query string"
        return InvalidURL(f"{dialect.driver} takes no option {name!r}: {hint}", part=name)

    def connection_setup(self, dialect: Dialect) -> list[str]:
        """Statements run once on every new connection (through the connect event)."""
        return []

    async def prepare(self, connection: AsyncConnection) -> bool:
        """Set up a connection checked out before userstore saw its engine.

        Returns whether the setup took; if not, the next checkout does it.
        """
        for statement in self.connection_setup(connection.dialect):
            await connection.exec_driver_sql(statement)
        return True

    def on_connect(self, dbapi_connection: DBAPIConnection, dialect: Dialect) -> None:
        """Run ``connection_setup`` on a new DBAPI connection."""
        statements = self.connection_setup(dialect)
        if not statements:
            return
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    def install(self, engine: Engine) -> None:
        """Add the backend's own listeners to ``engine`` (called once per engine)."""

    async def before_savepoint(self, connection: AsyncConnection) -> None:
        """Make sure a real transaction is open before a SAVEPOINT (SQLite needs this)."""

    async def before_table_rebuild(self, connection: AsyncConnection) -> None:
        """Prepare an idle connection for a schema upgrade that may rebuild tables."""

    async def after_table_rebuild(self, connection: AsyncConnection) -> None:
        """Give the connection back the setup :meth:`before_table_rebuild` changed."""

    # -- errors --------------------------------------------------------------------------

    def violation(self, error: DBAPIError) -> Violation | None:
        """Classify an integrity error, or ``None`` if ``error`` is not one."""
        return None

    def is_unavailable(self, error: DBAPIError) -> bool:
        """Whether ``error`` means the server cannot be reached or the connection is gone."""
        return bool(error.connection_invalidated)

    def is_retryable(self, error: DBAPIError) -> bool:
        """Whether the server rolled the whole transaction back to end a lock conflict.

        A write that failed so is run again (when it is the whole transaction):
        had it come a moment later, it would have waited and then either stored
        its row or met the winner's key.  Backends that make waiters wait do not.
        """
        return False

    # -- replicas (userstore_sqlalchemy.routing); their queries start with POSITION_MARK --

    def write_position(self, connection: Connection) -> Any:
        """The primary's position after the writes committed so far, or ``None`` (no replicas)."""
        return None

    def replayed(self, connection: Connection, needed: Any) -> Any:
        """The replica's replayed position if it is ``needed`` or newer, else what it has reached.

        ``None`` when the server is no replica this shim can ask.
        """
        return None

    def covers(self, position: Any, needed: Any) -> bool:
        """Whether ``position`` includes every write ``needed`` does."""
        return bool(position == needed)

    def is_read_only(self, error: DBAPIError) -> bool:
        """Whether the server refused a write because it takes none (a replica)."""
        return False

    def message(self, error: DBAPIError) -> str:
        """The first line of the driver's own message for ``error`` (for connection failures).

        Only errors that carry no stored values go through this: failures to
        connect or to create tables, never constraint violations.
        """
        exc = driver_error(error)
        lines = str(exc).strip().splitlines()
        return lines[0] if lines else type(exc).__name__

    def safe_message(self, error: DBAPIError) -> str | None:
        """The driver's first line for ``error``, or ``None`` if it may quote a stored value.

        Integrity errors may (a duplicate key's value, PostgreSQL's failing row);
        each backend names the others whose messages may.
        """
        if isinstance(error, IntegrityError):
            return None
        return self.message(error)

    def error_code(self, error: DBAPIError) -> str | None:
        """The driver's code for ``error`` (``SQLSTATE 42703``, ``error 1054``), if it has one."""
        return None

    # -- testing -------------------------------------------------------------------------

    async def sever(self, connection: AsyncConnection, admin: AsyncConnection) -> None:
        """Kill ``connection`` from the server side, using ``admin`` (a second connection)."""
        raise NotImplementedError(f"{type(self).__name__} cannot sever a connection")


POSITION_MARK = "/* userstore: replica position */ "
"""The start of the queries that read a primary's or replica's position (not counted as
an operation's statements by the test harness)."""


def engine_isolation_level(dialect: Dialect) -> str | None:
    """The isolation level the application gave the engine (``create_engine(isolation_level=)``).

    ``None`` when it gave none; else its name as SQLAlchemy reads it
    (``"read_committed"`` is ``"READ COMMITTED"``).  SQLAlchemy keeps the setting
    on the dialect, as ``_on_connect_isolation_level`` since 2.0
    (tests/sqlalchemy/test_private_apis.py pins it); ``isolation_level`` is where
    older releases kept it.
    """
    level = getattr(dialect, "_on_connect_isolation_level", None)
    if level is None:
        level = getattr(dialect, "isolation_level", None)
    return str(level).replace("_", " ").upper() if level is not None else None


def driver_error(error: DBAPIError) -> Any:
    """Return the driver's own exception behind ``error`` (unwrapping SQLAlchemy's adaptation)."""
    try:
        found = getattr(error, "driver_exception")  # noqa: B009  # SQLAlchemy 2.1 only
    except (AttributeError, ValueError):  # 2.0; or an emulated error built without one
        found = None
    if found is not None:
        return found
    orig = error.orig
    if not type(orig).__module__.startswith("sqlalchemy."):
        return orig  # the driver's own class (a cause of its own is no business of ours)
    cause = getattr(orig, "__cause__", None)  # 2.0's adaptation holds the driver's error here
    return cause if cause is not None else orig
