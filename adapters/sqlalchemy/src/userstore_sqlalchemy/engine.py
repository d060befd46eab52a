"""``create_engine``: an engine tuned for userstore (optional; any engine works)."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolResetState

from userstore import InvalidURL

from ._pool import FairAsyncQueuePool
from ._runner import install_shim
from .dialects import DialectShim, shim_for

__all__ = ["async_url", "create_engine"]

_BACKEND_ALIASES = {"postgres": "postgresql"}  # what Heroku, Render and others hand out
_DEFAULT_DRIVERS = {
    "sqlite": "aiosqlite",
    "postgresql": "asyncpg",
    "mysql": "aiomysql",
    "mariadb": "aiomysql",
}
# driver module -> the extra of userstore-sqlalchemy that installs it
_EXTRAS = {
    "aiosqlite": "sqlite",
    "asyncpg": "postgres",
    "aiomysql": "mysql",
    "pymysql": "mysql",
    "psycopg": "psycopg",
    "asyncmy": "asyncmy",
}


def async_url(url: str | URL) -> URL:
    """Return ``url`` parsed, with the asyncio driver named and MySQL's charset set.

    ``postgres://`` is read as ``postgresql://``.  A URL without a driver gets the
    asyncio one (``sqlite`` → aiosqlite, ``postgresql`` → asyncpg,
    ``mysql``/``mariadb`` → aiomysql).  MySQL URLs get ``charset=utf8mb4`` unless
    they name one.  A URL that cannot be parsed raises
    :class:`~userstore.InvalidURL` (``part`` is ``"url"``, or ``"port"`` for a
    port that is not a number).
    """
    parsed = _parse(url)
    backend, plus, driver = parsed.drivername.lower().partition("+")
    parsed = parsed.set(drivername=f"{_BACKEND_ALIASES.get(backend, backend)}{plus}{driver}")
    if "+" not in parsed.drivername and parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{_DEFAULT_DRIVERS[parsed.drivername]}")
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def create_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """Return an ``AsyncEngine`` for ``url`` with the dialect shim installed from the start.

    The URL is completed by :func:`async_url`.  Options go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.  A driver that is not
    installed raises ``ModuleNotFoundError`` naming the extra that installs it
    (``pip install 'userstore-sqlalchemy[postgres]'``).

    Before any connection is attempted, a URL the backend cannot use raises
    :class:`~userstore.InvalidURL` naming the part that is wrong: a dialect or
    driver SQLAlchemy does not have, a driver that is not asyncio, a port out of
    range, a MySQL/MariaDB URL without a database, a SQLite URL with a host, or
    a query option (or ``connect_args`` key) the driver does not take, with what
    to use instead.  libpq's ``sslmode`` is understood on asyncpg (as its
    ``ssl``).

    Stored values stay out of logs and error messages, since they include hashed
    passwords and tokens: ``hide_parameters`` defaults to ``True`` (SQLAlchemy
    then logs ``[SQL parameters hidden ...]`` instead of each statement's
    parameters, with ``echo=True`` too, and leaves them out of its exception
    messages), and the result rows that ``echo="debug"`` (or a DEBUG level on
    ``sqlalchemy.engine``) would log are replaced by a placeholder, as are the
    statements and parameters aiosqlite logs at DEBUG (logger ``aiosqlite``).  Unless
    ``logging_name`` is given, the engine logs as ``sqlalchemy.engine.Engine.userstore``.
    ``hide_parameters=False`` shows both, for debugging on data that is not real.

    Where SQLAlchemy would use ``AsyncAdaptedQueuePool`` (every server, SQLite
    files) and no ``poolclass`` or ``pool`` is given, the engine uses
    ``FairAsyncQueuePool`` (same options), whose callers get connections in
    the order they asked: under a load that keeps every connection busy no caller
    waits until ``pool_timeout`` while later ones are served.
    """
    parsed = async_url(url)
    _check_url(parsed)
    no_pool_given = "poolclass" not in options and "pool" not in options
    if no_pool_given and _default_pool(parsed) is AsyncAdaptedQueuePool:
        options["poolclass"] = FairAsyncQueuePool
    # a connection returned idle needs no ROLLBACK when the driver can tell it is idle
    skip_idle_reset = (
        no_pool_given and "pool_reset_on_return" not in options and _tells_open_transaction(parsed)
    )
    if skip_idle_reset:
        options["pool_reset_on_return"] = None
    options.setdefault("hide_parameters", True)
    if options["hide_parameters"]:
        options.setdefault("logging_name", "userstore")
    try:
        engine = create_async_engine(parsed, **options)
    except ModuleNotFoundError as error:
        raise _missing_driver(error) from None
    except TypeError as error:
        raise _bad_option(error) from None
    except (sa_exc.ArgumentError, ValueError) as error:  # the dialect's reading of the query
        raise _bad_query(parsed, error) from None
    shim = install_shim(engine.sync_engine)
    if skip_idle_reset:
        _reset_unless_idle(engine.sync_engine, shim)
    dialect = engine.sync_engine.dialect
    _, params = dialect.create_connect_args(engine.url)
    params.update(options.get("connect_args") or {})
    shim.check_connect_args(dialect, params)
    if options["hide_parameters"]:
        _hide_values(engine.sync_engine)
    return engine


def _tells_open_transaction(url: URL) -> bool:
    """Whether the URL's shim can tell an idle connection from one in a transaction."""
    try:
        dialect = url.get_dialect()
        shim = shim_for(dialect)
    except Exception:  # create_async_engine reports what is wrong with the URL
        return False
    return type(shim).open_transaction is not DialectShim.open_transaction


def _reset_unless_idle(engine: Engine, shim: DialectShim) -> None:
    """Roll a returned connection back, as the pool's default reset does, unless it is idle.

    SQLAlchemy rolls back every connection given back to the pool whose
    transaction its ``Connection`` did not end itself, which includes one whose
    transaction a session just rolled back or committed: on MySQL that is one
    more ``ROLLBACK`` round trip per call.  The server's status says whether a
    transaction is open; when it says none is, there is nothing to roll back.
    """

    def reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        if not state.asyncio_safe or state.transaction_was_reset:
            return
        if shim.open_transaction(dbapi_connection) is False:
            return
        dbapi_connection.rollback()

    event.listen(engine, "reset", reset)


def _parse(url: str | URL) -> URL:
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except sa_exc.ArgumentError:  # its message would quote the whole URL, password included
        raise InvalidURL(
            "not a database URL (expected dialect[+driver]://user:password@host:port/database)",
            part="url",
        ) from None
    except ValueError:  # int() of the port
        raise InvalidURL("the port is not a number", part="port") from None


def _check_url(parsed: URL) -> None:
    """Refuse a dialect or driver SQLAlchemy lacks, a sync driver, a URL the backend can't use."""
    try:
        dialect: Any = parsed.get_dialect()
        dialect = dialect.get_async_dialect_cls(parsed)  # psycopg's async twin
    except sa_exc.NoSuchModuleError:
        part = "driver" if "+" in parsed.drivername else "scheme"
        raise InvalidURL(
            f"SQLAlchemy has no dialect or driver {parsed.drivername!r}", part=part
        ) from None
    if not getattr(dialect, "is_async", False):
        raise InvalidURL(
            f"{parsed.drivername!r} is not an asyncio driver "
            f"(give no driver, or {parsed.get_backend_name()}+<asyncio driver>)",
            part="driver",
        )
    shim_for(dialect).check_url(parsed)


_INVALID_ARGUMENT = re.compile(r"Invalid argument\(s\) '([^']+)'")


def _bad_option(error: TypeError) -> Exception:
    """Name the option ``create_async_engine`` does not have; other errors unchanged."""
    match = _INVALID_ARGUMENT.search(str(error))
    if match is None:
        return error
    name = match.group(1)
    return InvalidURL(
        f"{name!r} is not an option of userstore's stores or of SQLAlchemy's "
        "create_async_engine() for this dialect and pool",
        part=name,
    )


def _bad_query(parsed: URL, error: Exception) -> InvalidURL:
    """Name the query option the dialect could not read (a number that is not one...)."""
    for name, value in parsed.query.items():
        alone = parsed.set(query={name: value})
        try:
            dialect: Any = alone.get_dialect().get_async_dialect_cls(alone)
            dialect().create_connect_args(alone)
        except (sa_exc.ArgumentError, ValueError, TypeError):
            return InvalidURL(f"the query option {name!r} has a value of the wrong type", part=name)
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    if parsed.password:
        text = text.replace(str(parsed.password), "***")
    return InvalidURL(text, part="url")


# No public option keeps stored values out of these records: ``hide_parameters``
# covers statement parameters only, not the rows SQLAlchemy logs at DEBUG (echo=
# "debug") nor aiosqlite's DEBUG records of each call into its thread.  The
# filter recognises them by their format strings, which
# tests/sqlalchemy/test_private_apis.py pins (it fails if a library changes them).
_HIDDEN = "[hidden due to hide_parameters=True]"
# records whose arguments hold stored values: SQLAlchemy's result rows, and
# aiosqlite's calls into its thread (each statement with its parameters)
_VALUE_RECORDS = {"Row %r", "executing %s", "operation %s completed"}
_DRIVER_LOGGERS = {"aiosqlite": "aiosqlite"}


class _HideValues(logging.Filter):
    """Replace the arguments of records that would print stored values by a placeholder."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg in _VALUE_RECORDS:
            record.msg = record.msg.replace("%r", _HIDDEN).replace("%s", _HIDDEN)
            record.args = ()
        return True


def _hide_values(engine: Engine) -> None:
    # echo wraps the engine's logger in an InstanceLogger; the records go through
    # the logging.Logger inside it, named for the engine's logging_name
    named: Any = engine.logger
    loggers: list[logging.Logger] = [getattr(named, "logger", named)]
    driver = _DRIVER_LOGGERS.get(engine.dialect.driver)
    if driver is not None:
        loggers.append(logging.getLogger(driver))
    for logger in loggers:
        if not any(isinstance(f, _HideValues) for f in logger.filters):
            logger.addFilter(_HideValues())


def _default_pool(parsed: URL) -> type[Any] | None:
    """The pool class SQLAlchemy would pick for ``parsed`` (``None`` if it cannot tell)."""
    try:
        dialect: Any = parsed.get_dialect()
        dialect = dialect.get_async_dialect_cls(parsed)
        pool: type[Any] = dialect.get_pool_class(parsed)
    except Exception:  # an unknown dialect or driver: create_async_engine says so
        return None
    return pool


def _missing_driver(error: ModuleNotFoundError) -> ModuleNotFoundError:
    root = (error.name or "").partition(".")[0]
    extra = _EXTRAS.get(root)
    if extra is not None:
        hint = f"pip install 'userstore-sqlalchemy[{extra}]'"
    elif root:
        hint = f"pip install {root}"
    else:
        return error
    return ModuleNotFoundError(f"the {root} driver is not installed: {hint}", name=error.name)
