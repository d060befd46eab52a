"""Error translation (``_translate.translate``): every driver exception becomes a userstore error.

For each driver's DBAPI exception classes, a ``sqlalchemy.exc.DBAPIError`` wrapping
an instance must come out as a ``UserStoreError``: never ``None`` (which would let
the raw error escape) and never the error itself.  No database is needed: an
engine does not connect until it is used.

SQLAlchemy adapts asyncpg's exceptions into DBAPI ones differently on its two
lines: 2.1 has one emulated class per asyncpg class (``EmulatedDBAPIException``,
``UniqueViolationError``...) built by ``_handle_exception_no_connection``; 2.0 has
the PEP 249 classes only, raised by the connection's ``_handle_exception`` with
the asyncpg error as ``__cause__``.  ``adapt()`` goes through whichever the
installed line has, so the same table runs on both.  psycopg's and asyncmy's
exceptions reach the adapter as they are (SQLAlchemy uses them as the DBAPI's).
"""

import sqlite3
import types
from typing import Any

import aiomysql
import asyncmy.errors
import asyncpg
import psycopg
import psycopg.errors
import pymysql
import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from userstore import (
    DatabaseError,
    OAuthAccountAlreadyLinked,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from userstore_sqlalchemy._runner import SessionRunner
from userstore_sqlalchemy._translate import ErrorMap

from .tutorial import User

SQLALCHEMY_20 = sqlalchemy.__version__.startswith("2.0.")

URLS = {
    "sqlite": "sqlite+aiosqlite://",
    "postgres": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
    "mysql": "mysql+aiomysql://nobody@127.0.0.1:1/none",
    "postgres-psycopg": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    "mysql-asyncmy": "mysql+asyncmy://nobody@127.0.0.1:1/none",
}
USER_ERRORS: ErrorMap = {"unique": UserAlreadyExists, "foreign_key": UserNotFound}
ERROR_MAPS = [pytest.param({}, id="no-map"), pytest.param(USER_ERRORS, id="user-map")]


def unit_for(backend: str) -> SessionRunner:
    engine = create_async_engine(URLS[backend])
    return SessionRunner(AsyncSession(engine), inspect(User))


@pytest.fixture(scope="module")
def units() -> dict[str, SessionRunner]:
    return {backend: unit_for(backend) for backend in URLS}


def dbapi_classes(module: Any, *bases: type[BaseException]) -> list[type[BaseException]]:
    """The exception classes a DBAPI module (or SQLAlchemy's adapted one) exposes."""
    found = {
        value
        for value in (getattr(module, name) for name in dir(module))
        if isinstance(value, type) and issubclass(value, bases)
    }
    return sorted(found, key=lambda cls: cls.__qualname__)


def wrap(orig: BaseException, module: Any) -> sa_exc.DBAPIError:
    """What SQLAlchemy raises for ``orig`` coming out of a cursor."""
    base = module.Error if isinstance(orig, module.Error) else module.Warning
    wrapped = sa_exc.DBAPIError.instance("SELECT 1", (), orig, base)
    assert isinstance(wrapped, sa_exc.DBAPIError)
    return wrapped


def assert_translated(
    unit: SessionRunner, wrapped: sa_exc.DBAPIError, errors: ErrorMap
) -> UserStoreError:
    mapped = unit.translate(wrapped, errors)
    assert mapped is not None, f"{type(wrapped.orig).__qualname__} would escape untranslated"
    assert isinstance(mapped, UserStoreError)
    assert mapped is not wrapped
    assert mapped is not wrapped.orig
    assert not isinstance(mapped, sa_exc.SQLAlchemyError)
    return mapped


# Every class of every driver -------------------------------------------------------------

SQLITE_CLASSES = dbapi_classes(sqlite3, sqlite3.Error, sqlite3.Warning)
PYMYSQL_CLASSES = dbapi_classes(pymysql.err, pymysql.err.Error, pymysql.err.Warning)
ASYNCPG_DBAPI = create_async_engine(URLS["postgres"]).dialect.loaded_dbapi
ADAPTED_CLASSES = dbapi_classes(ASYNCPG_DBAPI, ASYNCPG_DBAPI.Error, ASYNCPG_DBAPI.Warning)
ASYNCPG_TRANSLATED = tuple(ASYNCPG_DBAPI._asyncpg_error_translate)
ASYNCPG_CLASSES = dbapi_classes(asyncpg.exceptions, *ASYNCPG_TRANSLATED)
PSYCOPG_CLASSES = dbapi_classes(psycopg.errors, psycopg.Error, psycopg.Warning)
ASYNCMY_CLASSES = dbapi_classes(asyncmy.errors, asyncmy.errors.Error, asyncmy.errors.Warning)


def test_the_class_lists_are_complete() -> None:
    pep_249 = {
        "Warning",
        "Error",
        "InterfaceError",
        "DatabaseError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    }
    assert pep_249 <= {cls.__name__ for cls in SQLITE_CLASSES}
    assert pep_249 <= {cls.__name__ for cls in PYMYSQL_CLASSES}
    assert pep_249 <= {cls.__name__ for cls in ADAPTED_CLASSES}
    assert pep_249 <= {cls.__name__ for cls in PSYCOPG_CLASSES}
    assert pep_249 <= {cls.__name__ for cls in ASYNCMY_CLASSES}
    assert len(PSYCOPG_CLASSES) > 250  # one per SQLSTATE psycopg knows
    if not SQLALCHEMY_20:  # 2.1 emulates one class per asyncpg class
        assert {"UniqueViolationError", "ForeignKeyViolationError"} <= {
            cls.__name__ for cls in ADAPTED_CLASSES
        }
    assert len(ASYNCPG_CLASSES) > 250  # every SQLSTATE class asyncpg knows
    assert aiomysql.IntegrityError is pymysql.err.IntegrityError  # aiomysql raises pymysql's


@pytest.mark.parametrize("errors", ERROR_MAPS)
@pytest.mark.parametrize("cls", SQLITE_CLASSES, ids=lambda cls: cls.__name__)
def test_every_sqlite3_error_is_translated(
    units: dict[str, SessionRunner], cls: type[Exception], errors: ErrorMap
) -> None:
    assert_translated(units["sqlite"], wrap(cls("boom"), sqlite3), errors)


@pytest.mark.parametrize("errors", ERROR_MAPS)
@pytest.mark.parametrize("cls", PYMYSQL_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("args", [(1105, "boom"), ("boom",), ()], ids=["code", "message", "bare"])
def test_every_pymysql_error_is_translated(
    units: dict[str, SessionRunner], cls: type[Exception], errors: ErrorMap, args: tuple[Any, ...]
) -> None:
    assert_translated(units["mysql"], wrap(cls(*args), pymysql.err), errors)


@pytest.mark.parametrize("errors", ERROR_MAPS)
@pytest.mark.parametrize("cls", ASYNCMY_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("args", [(1105, "boom"), ("boom",), ()], ids=["code", "message", "bare"])
def test_every_asyncmy_error_is_translated(
    units: dict[str, SessionRunner], cls: type[Exception], errors: ErrorMap, args: tuple[Any, ...]
) -> None:
    assert_translated(units["mysql-asyncmy"], wrap(cls(*args), asyncmy.errors), errors)


@pytest.mark.parametrize("errors", ERROR_MAPS)
@pytest.mark.parametrize("cls", PSYCOPG_CLASSES, ids=lambda cls: cls.__name__)
def test_every_psycopg_error_is_translated(
    units: dict[str, SessionRunner], cls: type[Exception], errors: ErrorMap
) -> None:
    assert_translated(units["postgres-psycopg"], wrap(cls("boom"), psycopg), errors)


@pytest.mark.parametrize("errors", ERROR_MAPS)
@pytest.mark.parametrize("cls", ADAPTED_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(
    "with_driver_error", [True, False], ids=["driver-error", "no-driver-error"]
)
def test_every_adapted_asyncpg_error_is_translated(
    units: dict[str, SessionRunner], cls: type[Exception], errors: ErrorMap, with_driver_error: bool
) -> None:
    """SQLAlchemy builds some (InvalidCachedStatementError) without a driver error."""
    orig = adapted_instance(cls, asyncpg.PostgresError("boom") if with_driver_error else None)
    assert_translated(units["postgres"], wrap(orig, ASYNCPG_DBAPI), errors)


def adapted_instance(cls: type[Exception], driver_error: Exception | None) -> Exception:
    """An adapted asyncpg error as the installed SQLAlchemy line builds one."""
    if SQLALCHEMY_20:  # the message alone; the driver's error travels as the cause
        adapted = cls("boom")
        adapted.__cause__ = driver_error
        return adapted
    return cls("boom", driver_error)


def adapt(error: Exception) -> Exception:
    """The adapted error SQLAlchemy's asyncpg dialect raises for ``error``."""
    try:
        if SQLALCHEMY_20:  # an instance method there, reading only these two attributes
            open_connection = types.SimpleNamespace(is_closed=lambda: False)
            adapter = types.SimpleNamespace(_connection=open_connection, dbapi=ASYNCPG_DBAPI)
            AsyncAdapt_asyncpg_connection._handle_exception(adapter, error)  # type: ignore[arg-type]
        else:
            AsyncAdapt_asyncpg_connection._handle_exception_no_connection(ASYNCPG_DBAPI, error)
    except (ASYNCPG_DBAPI.Error, ASYNCPG_DBAPI.Warning) as adapted:
        return adapted
    raise AssertionError(f"{type(error).__name__} was not adapted")


@pytest.mark.parametrize("cls", ASYNCPG_CLASSES, ids=lambda cls: cls.__name__)
def test_every_asyncpg_error_is_translated(
    units: dict[str, SessionRunner], cls: type[Exception]
) -> None:
    assert_translated(units["postgres"], wrap(adapt(cls("boom")), ASYNCPG_DBAPI), USER_ERRORS)


# What the table maps to -------------------------------------------------------------------


def sqlite_case(cls: type[sqlite3.Error], name: str, expected: type[Exception]) -> Any:
    """An sqlite3 error as the driver raises it: with its extended result code's name."""
    error = cls(f"{name} happened: user.email_key")
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return pytest.param("sqlite", error, sqlite3, expected, id=f"sqlite-{name}")


def mysql_case(cls: type[Exception], code: int, message: str, expected: type[Exception]) -> Any:
    return pytest.param("mysql", cls(code, message), pymysql.err, expected, id=f"mysql-{code}")


def postgres_case(cls: type[Exception], expected: type[Exception]) -> Any:
    return pytest.param(
        "postgres", adapt(cls("boom")), ASYNCPG_DBAPI, expected, id=f"postgres-{cls.__name__}"
    )


MYSQL_FK_MESSAGE = (
    "Cannot add or update a child row: a foreign key constraint fails (`db`.`oauth_account`, "
    "CONSTRAINT `oauth_account_ibfk_1` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`))"
)
CASES = [
    sqlite_case(sqlite3.IntegrityError, "SQLITE_CONSTRAINT_UNIQUE", UserAlreadyExists),
    sqlite_case(sqlite3.IntegrityError, "SQLITE_CONSTRAINT_PRIMARYKEY", UserAlreadyExists),
    sqlite_case(sqlite3.IntegrityError, "SQLITE_CONSTRAINT_FOREIGNKEY", UserNotFound),
    sqlite_case(sqlite3.IntegrityError, "SQLITE_CONSTRAINT_NOTNULL", UserStoreError),
    sqlite_case(sqlite3.OperationalError, "SQLITE_BUSY", StoreUnavailable),
    sqlite_case(sqlite3.OperationalError, "SQLITE_IOERR_READ", StoreUnavailable),
    sqlite_case(sqlite3.OperationalError, "SQLITE_ERROR", DatabaseError),
    mysql_case(
        pymysql.err.IntegrityError, 1062, "Duplicate entry 'a' for key 'k'", UserAlreadyExists
    ),
    mysql_case(pymysql.err.IntegrityError, 1452, MYSQL_FK_MESSAGE, UserNotFound),
    mysql_case(pymysql.err.IntegrityError, 1048, "Column 'email' cannot be null", UserStoreError),
    mysql_case(pymysql.err.OperationalError, 2013, "Lost connection", StoreUnavailable),
    mysql_case(pymysql.err.OperationalError, 2003, "Can't connect", StoreUnavailable),
    mysql_case(pymysql.err.OperationalError, 1927, "Connection was killed", StoreUnavailable),
    mysql_case(pymysql.err.ProgrammingError, 1146, "Table 'x' doesn't exist", DatabaseError),
    postgres_case(asyncpg.exceptions.UniqueViolationError, UserAlreadyExists),
    postgres_case(asyncpg.exceptions.ForeignKeyViolationError, UserNotFound),
    postgres_case(asyncpg.exceptions.NotNullViolationError, UserStoreError),
    postgres_case(asyncpg.exceptions.AdminShutdownError, StoreUnavailable),
    postgres_case(asyncpg.exceptions.TooManyConnectionsError, StoreUnavailable),
    postgres_case(asyncpg.exceptions.CannotConnectNowError, StoreUnavailable),
    postgres_case(asyncpg.exceptions.UndefinedTableError, DatabaseError),
    *(
        pytest.param(
            "postgres-psycopg", orig, psycopg, expected, id=f"psycopg-{type(orig).__name__}"
        )
        for orig, expected in [
            (psycopg.errors.UniqueViolation("duplicate key"), UserAlreadyExists),
            (psycopg.errors.ForeignKeyViolation("missing parent"), UserNotFound),
            (psycopg.errors.NotNullViolation("null"), UserStoreError),
            (psycopg.errors.AdminShutdown("terminating connection"), StoreUnavailable),
            (psycopg.errors.TooManyConnections("too many clients"), StoreUnavailable),
            (psycopg.errors.CannotConnectNow("starting up"), StoreUnavailable),
            (psycopg.errors.UndefinedTable("no such table"), DatabaseError),
            (
                psycopg.OperationalError(
                    'connection failed: connection to server at "127.0.0.1", port 1 failed: '
                    "Connection refused"
                ),
                StoreUnavailable,
            ),
        ]
    ),
    *(
        pytest.param(
            "mysql-asyncmy", cls(code, message), asyncmy.errors, expected, id=f"asyncmy-{code}"
        )
        for cls, code, message, expected in [
            (
                asyncmy.errors.IntegrityError,
                1062,
                "Duplicate entry 'a' for key 'k'",
                UserAlreadyExists,
            ),
            (asyncmy.errors.IntegrityError, 1452, MYSQL_FK_MESSAGE, UserNotFound),
            (asyncmy.errors.OperationalError, 2013, "Lost connection", StoreUnavailable),
            (asyncmy.errors.ProgrammingError, 1146, "Table 'x' doesn't exist", DatabaseError),
        ]
    ),
]


def userstore_class(error: BaseException) -> type[BaseException]:
    """The contract's class of ``error``: itself, or (once FastAPI Users is imported and
    the error is created as ``userstore.fastapi_users``' class) the one it derives from."""
    return next(c for c in type(error).__mro__ if c.__module__ == "userstore")


@pytest.mark.parametrize(("backend", "orig", "module", "expected"), CASES)
def test_errors_map_to_the_contract_errors(
    units: dict[str, SessionRunner],
    backend: str,
    orig: Exception,
    module: Any,
    expected: type[Exception],
) -> None:
    mapped = assert_translated(units[backend], wrap(orig, module), USER_ERRORS)
    assert userstore_class(mapped) is expected


def test_the_error_map_chooses_the_meaning_of_a_violation(units: dict[str, SessionRunner]) -> None:
    duplicate = wrap(adapt(asyncpg.exceptions.UniqueViolationError("duplicate key")), ASYNCPG_DBAPI)
    link_errors: ErrorMap = {"unique": OAuthAccountAlreadyLinked}
    linked = units["postgres"].translate(duplicate, link_errors)
    assert linked is not None
    assert userstore_class(linked) is OAuthAccountAlreadyLinked
    assert type(units["postgres"].translate(duplicate, {})) is UserStoreError


def test_lost_connection_flag_means_unavailable(units: dict[str, SessionRunner]) -> None:
    for backend, module, orig in [
        ("sqlite", sqlite3, sqlite3.ProgrammingError("Cannot operate on a closed database.")),
        ("mysql", pymysql.err, pymysql.err.InterfaceError(0, "")),
        ("postgres", ASYNCPG_DBAPI, ASYNCPG_DBAPI.InterfaceError("connection is closed")),
    ]:
        lost = sa_exc.DBAPIError.instance(
            "SELECT 1", (), orig, module.Error, connection_invalidated=True
        )
        assert type(units[backend].translate(lost, USER_ERRORS)) is StoreUnavailable


def test_other_exceptions_are_left_alone(units: dict[str, SessionRunner]) -> None:
    for unit in units.values():
        assert unit.translate(KeyError("x"), USER_ERRORS) is None
        known = UserNotFound("gone")
        assert unit.translate(known, USER_ERRORS) is known
