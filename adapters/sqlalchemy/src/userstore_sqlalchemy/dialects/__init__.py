"""One shim per backend, found by the SQLAlchemy dialect's name.

Everything that differs between SQLite, PostgreSQL and MySQL/MariaDB lives in
these modules; the databases and types ask :func:`shim_for` and hold no
backend-specific branch of their own.
"""

from __future__ import annotations

from sqlalchemy.engine import Dialect

from ._base import POSITION_MARK, DialectShim, Fetch, Violation, ViolationKind
from .mysql import MySQLShim
from .postgresql import PostgreSQLShim
from .sqlite import SQLiteShim

__all__ = [
    "POSITION_MARK",
    "DialectShim",
    "Fetch",
    "MySQLShim",
    "PostgreSQLShim",
    "SQLiteShim",
    "UnsupportedDialect",
    "Violation",
    "ViolationKind",
    "shim_for",
]


class _StringShim(DialectShim):
    """SQLAlchemy's generic string compiler (``str(statement)``, the ORM's DEBUG log).

    It only renders SQL text, so the base types do: printing a statement that
    involves a userstore column must not raise.
    """

    name = "default"
    dialect_names = ("default",)


_SHIMS: dict[str, DialectShim] = {
    name: shim
    for shim in (SQLiteShim(), PostgreSQLShim(), MySQLShim(), _StringShim())
    for name in shim.dialect_names
}


class UnsupportedDialect(LookupError):
    """The engine's dialect has no userstore shim."""


def shim_for(dialect: Dialect | type[Dialect]) -> DialectShim:
    """Return the shim for ``dialect``; raise :class:`UnsupportedDialect` if there is none."""
    try:
        return _SHIMS[dialect.name]
    except KeyError:
        supported = ", ".join(sorted(set(_SHIMS) - {"default"}))
        raise UnsupportedDialect(
            f"userstore-sqlalchemy has no shim for dialect {dialect.name!r} "
            f"(supported: {supported})"
        ) from None
