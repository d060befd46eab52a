"""Where errors are translated: every driver and SQLAlchemy error becomes a userstore error here.

- :func:`translate` maps an error raised by a statement: a violated constraint
  to the error the write names for it (``UserAlreadyExists``...), a lost
  connection or an exhausted pool to ``StoreUnavailable``, a write refused by a
  read-only server to ``ReadOnlyServer``, a deadlock or certification failure to
  ``TransactionConflict``, a deleted row to ``UserNotFound``, any other database
  error to ``DatabaseError`` with the driver's first line where it cannot quote
  a stored value.
- :func:`connect_error` maps a failure to open a connection: ``StoreUnavailable``
  naming the server, or ``InvalidURL`` for an option the driver refused.
- :func:`raise_translated` raises the result without the values the failed
  statement carried (no cause, no context, where they could hold them).

The dialect shims (``dialects/``) supply facts only: error codes, which
constraint a violation names, whether a code means the server is unreachable
or the transaction may be retried, and which messages are safe to show.
``userstore.fastapi_users`` is the one other place: in a process that imported
FastAPI Users, three of these errors are created as its classes (see
``userstore._errors``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import weakref
from typing import Any, NoReturn

from sqlalchemy import MetaData, Table, UniqueConstraint
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm.exc import StaleDataError

from userstore import (
    AccessTokenAlreadyExists,
    DatabaseError,
    OAuthAccountAlreadyLinked,
    ReadOnlyServer,
    StoreUnavailable,
    TransactionConflict,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)

from .dialects import DialectShim, Violation, shim_for

__all__ = ["ErrorMap", "connect_error", "raise_translated", "schema_error", "translate"]


# translated errors raised without their cause: the driver's message may quote a value
_withheld: weakref.WeakSet[BaseException] = weakref.WeakSet()

ErrorMap = dict[str, type[UserStoreError]]
"""Violation kind (``unique``, ``foreign_key``, ``referenced``) to the error it means here."""

_LOST_IN_TRANSACTION = "8s2b"
"""SQLAlchemy's code of "Can't reconnect until invalid transaction is rolled back"."""

_REFUSALS = (UserAlreadyExists, OAuthAccountAlreadyLinked, AccessTokenAlreadyExists, UserNotFound)


def _database_error(shim: DialectShim, error: sa_exc.DBAPIError) -> DatabaseError:
    """``database error (OperationalError: no such column: user.email_key)``.

    The driver's first line is kept where it cannot quote a stored value; else its
    code alone, and the driver's exception is withheld from the chain too.
    """
    kind = type(error.orig).__name__
    code = shim.error_code(error)
    detail = shim.safe_message(error)
    if detail is not None:
        return DatabaseError(f"database error ({kind}: {detail})", code=code, detail=detail)
    mapped = DatabaseError(
        f"database error ({kind}, {code})" if code else f"database error ({kind})", code=code
    )
    _withheld.add(mapped)
    return mapped


def schema_error(shim: DialectShim, error: sa_exc.DBAPIError) -> UserStoreError:
    """The error for a refused DDL statement or schema read (``create_schema``, ``upgrade``).

    These statements carry no stored value, so the driver's message is shown.
    """
    if shim.is_unavailable(error):
        return StoreUnavailable(f"database unavailable ({shim.message(error)})")
    return DatabaseError(
        f"the database refused: {shim.message(error)}",
        code=shim.error_code(error),
        detail=shim.message(error),
    )


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


# Python's TypeError names a refused keyword argument only in its message (no
# attribute holds it); both wordings are CPython's own, for functions and for C
# functions (tests/sqlalchemy/test_store.py, the option a driver refuses at
# connect, fails if they change).
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


def translate(
    error: BaseException,
    errors: ErrorMap,
    shim: DialectShim,
    metadata: MetaData | None,
    table: Any = None,
    server: str = "the server",
) -> UserStoreError | None:
    """The contract's error for ``error``, or ``None`` if it is not a database error.

    ``errors`` says what a violated constraint means for the write that failed
    (``unique`` to ``UserAlreadyExists``, say); ``metadata`` and ``table`` name
    the violated key the same way on every backend; ``server`` (``host:port``)
    is named by ``ReadOnlyServer``.
    """
    if isinstance(error, UserStoreError):
        return error
    if isinstance(error, StaleDataError):
        return UserNotFound("the row no longer exists")
    if isinstance(error, sa_exc.TimeoutError):
        return StoreUnavailable(_pool_exhausted(error))
    if isinstance(error, sa_exc.DBAPIError):
        if shim.is_unavailable(error):
            return StoreUnavailable(f"database unavailable ({type(error.orig).__name__})")
        violation = shim.violation(error)
        if violation is not None:
            if violation.table is None and table is not None:
                violation = dataclasses.replace(violation, table=table.name)
            return _violation_error(violation, errors, metadata)
        if shim.is_read_only(error):
            return ReadOnlyServer(
                f"{server} is read-only (a replica?): the write was refused, nothing was written",
                server=server,
            )
        if shim.is_retryable(error):
            return TransactionConflict(
                "the transaction conflicted with a concurrent one and was rolled back "
                f"({shim.error_code(error)}); nothing of it was kept: run it again",
                code=shim.error_code(error),
                detail=shim.safe_message(error),
            )
        return _database_error(shim, error)
    if isinstance(error, (OSError, asyncio.TimeoutError)):
        return StoreUnavailable(f"database unavailable ({type(error).__name__})")
    if isinstance(error, sa_exc.PendingRollbackError) and error.code == _LOST_IN_TRANSACTION:
        # a call after the connection died inside the caller's transaction
        return StoreUnavailable("the transaction was lost with its connection")
    if isinstance(error, sa_exc.SQLAlchemyError):
        return UserStoreError(f"database error ({type(error).__name__})")
    return None
