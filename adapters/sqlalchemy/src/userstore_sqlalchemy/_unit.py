"""The session machinery the user and token databases share.

- Every connection gets its dialect shim's setup once: through the engine's
  ``connect`` event for connections opened after userstore first saw the engine,
  lazily (flagged in the connection's ``info``) for those opened before.
- Writes commit before returning, unless the caller opened a transaction; then
  they run in a SAVEPOINT so a refused write loses only itself.
- Objects handed to or returned by a method stay readable without I/O: after a
  commit that expires them (``expire_on_commit=True``) their values are put back
  as committed, and after an error they get their pre-call values back.
- A write the server rolled back to end a lock conflict (MySQL's deadlocks) is
  run again, up to three times in all, when it is the whole transaction
  (:func:`retry_conflicts`).
- Driver and SQLAlchemy errors become the contract's typed errors, here only;
  a failure to open a connection becomes ``StoreUnavailable`` naming the server
  (``cannot reach 127.0.0.1:5432 (connection refused)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import re
import socket
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar, cast

from sqlalchemy import MetaData, Table, UniqueConstraint, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapper, Session, SessionTransactionOrigin, attributes
from sqlalchemy.orm.exc import StaleDataError

from userstore import (
    AccessTokenAlreadyExists,
    OAuthAccountAlreadyLinked,
    SchemaOutdated,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)

from ._schema_check import schema_check
from .dialects import DialectShim, Violation, shim_for

__all__ = [
    "ErrorMap",
    "Snapshot",
    "Unit",
    "clean_objects",
    "connect_error",
    "install_shim",
    "restore",
    "retry_conflicts",
    "snapshot",
]

_PREPARED = "userstore.prepared"
_UNPREPARED = object()
_ATTEMPTS = 3
_RETRYING = contextvars.ContextVar("userstore.retrying", default=False)
T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
# translated errors raised without their cause: the driver's message may quote a value
_withheld: weakref.WeakSet[BaseException] = weakref.WeakSet()

ErrorMap = dict[str, type[UserStoreError]]
"""Violation kind (``unique``, ``foreign_key``, ``referenced``) to the error it means here."""

Snapshot = list[tuple[Any, dict[str, Any]]]

_LOST_IN_TRANSACTION = "8s2b"
"""SQLAlchemy's code of "Can't reconnect until invalid transaction is rolled back"."""

_REFUSALS = (UserAlreadyExists, OAuthAccountAlreadyLinked, AccessTokenAlreadyExists, UserNotFound)


def install_shim(engine: Engine) -> DialectShim:
    """Have every connection of ``engine`` set up by its dialect's shim; return the shim.

    The setup runs when a connection is checked out of the pool and has not had
    it yet: the connection is idle then, outside any transaction (SQLite ignores
    ``PRAGMA foreign_keys`` inside one), and connections the pool opened before
    userstore saw the engine get it too.
    """
    shim = shim_for(engine.dialect)
    if engine in _engines:
        return shim

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not record.info.get(_PREPARED):
            shim.on_connect(dbapi_connection, engine.dialect)
            record.info[_PREPARED] = True

    shim.install(engine)
    event.listen(engine, "checkout", on_checkout)
    _engines.add(engine)
    return shim


class Unit:
    """Reads, writes, commits and error translation for one ``AsyncSession``."""

    def __init__(
        self, session: AsyncSession, mapper: Mapper[Any], also: Iterable[type[Any] | None] = ()
    ) -> None:
        self.session = session
        self.metadata: MetaData | None = getattr(mapper.local_table, "metadata", None)
        self._bind_arguments = {"mapper": mapper}
        bind = session.sync_session.get_bind(mapper)
        engine = bind.engine if not isinstance(bind, Engine) else bind
        self.engine = engine
        self.dialect = engine.dialect
        self.shim = install_shim(engine)
        # the tables of userstore's models in the mapper's registry (and ``also``'s),
        # checked on the first call on this engine (_schema_check.py)
        self.schema = schema_check(engine, mapper, also)

    async def connection(self) -> AsyncConnection:
        """The session's connection for our tables, prepared by the shim.

        A failure to open it raises ``StoreUnavailable`` naming the server; on the
        engine's first call, tables that lack what the models declare raise
        ``SchemaOutdated``.
        """
        try:
            connection = await self.session.connection(bind_arguments=self._bind_arguments)
        except Exception as error:
            mapped = connect_error(self.engine, error)
            if mapped is error:
                raise
            raise mapped from error
        # the pool record's info, as the checkout listener sees it; read without
        # get_raw_connection(), which costs a greenlet hop (~10 µs) on every call
        info = connection.info
        if not info.get(_PREPARED) and await self.shim.prepare(connection):
            info[_PREPARED] = True
        if not self.schema.verified:
            await connection.run_sync(self.schema.run)
        return connection

    async def query(self, run: Callable[[Session], T]) -> T:
        """``run(session)`` on the sync session, connecting in the same greenlet hop.

        What ``await self.connection()`` followed by ``await session.execute(...)``
        does, one hop to SQLAlchemy's greenlet fewer: a failure to open the
        connection raises ``StoreUnavailable`` naming the server, and a connection
        still without the shim's setup gets it (through :meth:`connection`) before
        ``run``.  Errors are not translated: :meth:`lookup` does that.
        """

        def connected(session: Session) -> Any:
            connection = self._connect(session)
            if not connection.info.get(_PREPARED):
                return _UNPREPARED
            if not self.schema.verified:
                self.schema.run(connection)
            return run(session)

        found = await self.session.run_sync(connected)
        if found is _UNPREPARED:
            await self.connection()
            found = await self.session.run_sync(run)
        return cast(T, found)

    def _connect(self, session: Session) -> Connection:
        try:
            return session.connection(bind_arguments=self._bind_arguments)
        except Exception as error:
            mapped = connect_error(self.engine, error)
            if mapped is error:
                raise
            raise mapped from error

    def refuse_held_key(self, model: Any, key: Any, error: type[UserStoreError]) -> None:
        """Refuse a primary key the session already holds an object for.

        The row exists, so the INSERT would fail; the flush would first warn with
        the key in the message (a clear access token), so refuse before it.
        """
        if key is None:
            return
        mapper: Mapper[Any] = inspect(model)
        if mapper.identity_key_from_primary_key((key,)) in self.session.sync_session.identity_map:
            table_name = getattr(mapper.local_table, "name", "?")
            columns = ", ".join(str(c.name) for c in mapper.primary_key)
            raise error(f"unique key {table_name}({columns}) is taken")

    def in_caller_transaction(self) -> bool:
        """Whether the caller opened the session's transaction (``session.begin()``)."""
        transaction = self.session.sync_session.get_transaction()
        return (
            transaction is not None and transaction.origin is not SessionTransactionOrigin.AUTOBEGIN
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        """Run a lookup: errors translated, the session rolled back after one."""
        try:
            await self.connection()
            yield
        except Exception as error:
            await self._read_failed(error)

    async def lookup(self, run: Callable[[Session], T]) -> T:
        """``await self.query(run)`` with :meth:`read`'s error handling.

        What ``async with self.read()`` around the query does, without a context
        manager around every lookup (~10 µs).
        """
        try:
            return await self.query(run)
        except Exception as error:
            await self._read_failed(error)
            raise  # not reached: _read_failed always raises

    async def _read_failed(self, error: Exception) -> NoReturn:
        """Raise the contract's error for a failed lookup, after rolling the session back."""
        mapped = self.translate(error, {})
        if mapped is None:
            raise error
        if not self.in_caller_transaction():
            held = snapshot(self._clean_objects())
            await self._rollback()
            mapped = await self._diagnose(mapped, error)
            restore(held)
        if mapped is error:
            raise error
        raise_translated(mapped, error)

    async def _diagnose(self, mapped: UserStoreError, error: BaseException) -> UserStoreError:
        """``SchemaOutdated`` if the tables now lack what the models need, else ``mapped``.

        For a database error the contract names no type for (an undefined column
        or table, say), after the rollback: the schema is checked again, and its
        gap, if it has one, is the error to raise.
        """
        if type(mapped) is not UserStoreError or not isinstance(error, sa_exc.DBAPIError):
            return mapped
        self.schema.verified = False

        def check(session: Session) -> None:
            self.schema.run(self._connect(session))

        try:
            await self.session.run_sync(check)
        except SchemaOutdated as outdated:
            return outdated
        except Exception:  # the check could not run: the original error says more
            return mapped
        finally:
            await self._rollback()
        return mapped

    def _clean_objects(self) -> list[Any]:
        return clean_objects(self.session)

    @asynccontextmanager
    async def write(
        self, errors: ErrorMap, keep: Iterable[Any] = (), *, table: Any = None
    ) -> AsyncIterator[None]:
        """Run a write: committed on exit, or inside a SAVEPOINT in the caller's transaction.

        ``keep`` are objects the caller holds: on error they get back the values
        they had on entry; after a commit they stay loaded.  ``table`` is the
        table written, to name a violated key the same way on every backend.
        """
        before = snapshot([*keep, *self._clean_objects()])
        session = self.session
        try:
            connection = await self.connection()
            if self.in_caller_transaction():
                await self.shim.before_savepoint(connection)
                async with session.begin_nested():
                    yield
                return
            yield
            # the commit expires every object of the session, not only ``keep``: what
            # earlier calls returned must stay readable too
            expires = session.sync_session.expire_on_commit
            after = snapshot([*keep, *self._clean_objects()]) if expires else None
            await session.commit()
            if after:
                restore(after)
        except Exception as error:
            mapped = self.translate(error, errors, table)
            if mapped is None:
                raise
            whole = not self.in_caller_transaction()
            if whole:
                await self._rollback()
                mapped = await self._diagnose(mapped, error)
            restore(before)
            if mapped is error:
                raise
            if whole and _RETRYING.get() and self._retryable(error):
                raise _Retry from None
            raise_translated(mapped, error)

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, sa_exc.DBAPIError) and self.shim.is_retryable(error)

    async def _rollback(self) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone; the pool drops it
            await self.session.rollback()

    def translate(
        self, error: BaseException, errors: ErrorMap, table: Any = None
    ) -> UserStoreError | None:
        """The contract's error for ``error``, or ``None`` if it is not a database error."""
        if isinstance(error, UserStoreError):
            return error
        if isinstance(error, StaleDataError):
            return UserNotFound("the row no longer exists")
        if isinstance(error, sa_exc.TimeoutError):
            return StoreUnavailable(_pool_exhausted(error))
        if isinstance(error, sa_exc.DBAPIError):
            if self.shim.is_unavailable(error):
                return StoreUnavailable(f"database unavailable ({type(error.orig).__name__})")
            violation = self.shim.violation(error)
            if violation is not None:
                if violation.table is None and table is not None:
                    violation = dataclasses.replace(violation, table=table.name)
                return _violation_error(violation, errors, self.metadata)
            return _database_error(self.shim, error)
        if isinstance(error, (OSError, asyncio.TimeoutError)):
            return StoreUnavailable(f"database unavailable ({type(error).__name__})")
        if isinstance(error, sa_exc.PendingRollbackError) and error.code == _LOST_IN_TRANSACTION:
            # a call after the connection died inside the caller's transaction
            return StoreUnavailable("the transaction was lost with its connection")
        if isinstance(error, sa_exc.SQLAlchemyError):
            return UserStoreError(f"database error ({type(error).__name__})")
        return None


def _database_error(shim: DialectShim, error: sa_exc.DBAPIError) -> UserStoreError:
    """``database error (OperationalError: no such column: user.email_key)``.

    The driver's first line is kept where it cannot quote a stored value; else its
    code alone, and the driver's exception is withheld from the chain too.
    """
    kind = type(error.orig).__name__
    detail = shim.safe_message(error)
    if detail is not None:
        return UserStoreError(f"database error ({kind}: {detail})")
    code = shim.error_code(error)
    mapped = UserStoreError(
        f"database error ({kind}, {code})" if code else f"database error ({kind})"
    )
    _withheld.add(mapped)
    return mapped


class _Retry(Exception):
    """A write to run again; raised only inside :func:`retry_conflicts`, which catches it."""


def retry_conflicts(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Run ``method`` again when its write was rolled back to end a lock conflict.

    :meth:`Unit.write` asks for that, after rolling back and restoring the
    objects, only outside a caller's transaction and only inside this wrapper;
    the last attempt raises its error as any other.
    """

    @functools.wraps(method)
    async def retrying(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        token = _RETRYING.set(True)
        try:
            for _ in range(_ATTEMPTS - 1):
                with contextlib.suppress(_Retry):
                    return await method(self, *args, **kwargs)
        finally:
            _RETRYING.reset(token)
        return await method(self, *args, **kwargs)

    return retrying


def connect_error(engine: Engine, error: Exception) -> Exception:
    """The error to raise when opening a connection to ``engine``'s database failed.

    Network failures and refusals by the server become ``StoreUnavailable`` whose
    one-line message names the server (``cannot reach db.example:5432 (connection
    refused)``, ``cannot connect to db.example:5432: password authentication
    failed for user "app"``); a keyword argument the driver's ``connect()`` refused
    (a query option of the URL, or ``connect_args``) becomes ``InvalidURL`` naming
    it; any other error is returned unchanged.
    """
    if isinstance(error, UserStoreError):
        return error
    shim = shim_for(engine.dialect)
    url = engine.url
    if isinstance(error, (OSError, asyncio.TimeoutError)):
        return StoreUnavailable(shim.cannot_reach(url, _network_reason(error)))
    if isinstance(error, sa_exc.DBAPIError):
        orig = error.orig
        if isinstance(orig, (OSError, asyncio.TimeoutError)):
            return StoreUnavailable(shim.cannot_reach(url, _network_reason(orig)))
        if shim.is_unavailable(error):
            return StoreUnavailable(shim.cannot_reach(url, shim.message(error)))
        return StoreUnavailable(f"cannot connect to {shim.location(url)}: {shim.message(error)}")
    option = _rejected_option(error)
    if option is not None:
        return shim.unknown_option(engine.dialect, option)
    if type(error).__module__.partition(".")[0] in shim.driver_packages:
        # SQLAlchemy 2.0 lets some driver errors out of connect() unwrapped (asyncpg's
        # InvalidCatalogNameError, InvalidPasswordError): a refusal all the same
        return StoreUnavailable(f"cannot connect to {shim.location(url)}: {error}")
    return error


_REJECTED_KEYWORD = re.compile(
    r"unexpected keyword argument '([^']+)'|'([^']+)' is an invalid keyword argument"
)


def _rejected_option(error: Exception) -> str | None:
    """The keyword a driver's ``connect()`` refused (a URL's query option), if that is ``error``."""
    if not isinstance(error, TypeError):
        return None
    match = _REJECTED_KEYWORD.search(str(error))
    return (match.group(1) or match.group(2)) if match else None


def _pool_exhausted(error: sa_exc.TimeoutError) -> str:
    """Say that no pooled connection came free within ``pool_timeout``, and what to change."""
    detail = str(error.args[0]) if error.args else "timed out"
    return (
        f"connection pool exhausted ({detail}): every connection is held by an open "
        "session or transaction; close sessions sooner, or give the engine a larger "
        "pool_size or max_overflow, or a longer pool_timeout"
    )


def _network_reason(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, ConnectionRefusedError) or "[Errno 111]" in text:
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"unknown host: {error.strerror}" if error.strerror else "unknown host"
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return text.splitlines()[0] if text.strip() else type(error).__name__


def raise_translated(mapped: UserStoreError, error: BaseException) -> NoReturn:
    """Raise ``mapped`` without exposing the values the failed statement carried.

    A duplicate-key message names the key's value (an email, an access token), so
    constraint errors are raised without their cause, as are the database errors
    whose message may quote a value.  Other errors keep the
    driver's own exception as their cause, not SQLAlchemy's wrapper, whose text
    lists the statement's parameters (a hashed password, a provider token).

    The error is also raised without context: called inside an ``except`` block,
    it would otherwise carry the wrapper (statement, parameters) or the driver's
    duplicate-key error as ``__context__``, where error trackers and code that
    walks the chain find it even though tracebacks do not print it.
    """
    cause: BaseException | None = error
    if (
        isinstance(mapped, _REFUSALS)
        or isinstance(error, sa_exc.IntegrityError)
        or mapped in _withheld
    ):
        # PostgreSQL details a CHECK or NOT NULL violation with the whole failing row
        cause = None
    elif isinstance(error, sa_exc.StatementError) and isinstance(error.orig, BaseException):
        cause = error.orig
    try:
        raise mapped from cause
    finally:
        mapped.__context__ = None


def _violation_error(
    violation: Violation, errors: ErrorMap, metadata: MetaData | None
) -> UserStoreError:
    error = errors.get(violation.kind, UserStoreError)
    if violation.kind == "unique":
        return error(f"unique key {_unique_key(violation, metadata)} is taken")
    if violation.kind == "foreign_key":
        return error("the referenced row does not exist")
    if violation.kind == "referenced":
        return error("the row is still referenced by another table")
    return error("an integrity constraint was violated")


def _unique_key(violation: Violation, metadata: MetaData | None) -> str:
    """Describe the violated key as ``table(columns)``, the same text on every backend.

    Backends report it differently (PostgreSQL a constraint name, MySQL an index
    name or ``PRIMARY``, SQLite the columns); the table's metadata links them.
    """
    tables = list(metadata.tables.values()) if metadata is not None else []
    if violation.table is not None:
        tables.sort(key=lambda t: t.name != violation.table)
    for table in tables:
        for columns, names in _unique_keys(table):
            named = violation.constraint is not None and violation.constraint in names
            if named or (violation.columns and set(violation.columns) == set(columns)):
                return f"{table.name}({', '.join(columns)})"
    return violation.constraint or ", ".join(violation.columns) or "(unnamed)"


def _unique_keys(table: Table) -> list[tuple[list[str], set[Any]]]:
    pk = [c.name for c in table.primary_key.columns]
    keys = [(pk, {table.primary_key.name, f"{table.name}_pkey", "PRIMARY"})]
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            columns = [c.name for c in constraint.columns]
            default = f"{table.name}_{'_'.join(columns)}_key"
            keys.append((columns, {constraint.name, default}))
    keys.extend(([c.name for c in i.columns], {i.name}) for i in table.indexes if i.unique)
    return keys


def clean_objects(session: AsyncSession) -> list[Any]:
    """Loaded, unmodified objects of ``session``: the ones a rollback would expire."""
    found = []
    for state in session.sync_session.identity_map.all_states():
        obj = state.obj()
        if obj is not None and not state.modified and not state.expired_attributes:
            found.append(obj)
    return found


def snapshot(objects: Iterable[Any]) -> Snapshot:
    """Copy the loaded values of ``objects`` and of the OAuth accounts they hold."""
    taken: Snapshot = []
    for obj in objects:
        if obj is None:
            continue
        state = attributes.instance_state(obj)
        values = dict(state.dict)
        taken.append((obj, values))
        accounts = values.get("oauth_accounts")
        if accounts is not None:
            values["oauth_accounts"] = list(accounts)
            taken.extend((a, dict(attributes.instance_state(a).dict)) for a in accounts)
    return taken


def restore(taken: Snapshot) -> None:
    """Put snapshot values back as committed (no history, no I/O)."""
    for obj, values in taken:
        manager = attributes.manager_of_class(type(obj))
        for key, value in values.items():
            if key in manager:
                attributes.set_committed_value(obj, key, value)
