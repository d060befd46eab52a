"""``ExactString``: text compared exactly, whatever the database's default collation.

Case, accents and trailing spaces are significant in equality and in unique
indexes on every backend.  With no length it is unbounded (``LONGTEXT`` on
MySQL/MariaDB, whose ``TEXT`` stops at 64 KiB), for provider tokens.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import String, TypeDecorator, TypeEngine

from ..dialects import shim_for

__all__ = ["ExactString"]


class ExactString(TypeDecorator[str]):
    """A ``VARCHAR(length)`` (or unbounded text) with exact, no-pad comparison."""

    impl = String
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__(length)
        self.length = length

    @property
    def python_type(self) -> type[str]:
        """``str``: field rules derived from the column check NUL, surrogates and the length."""
        return str

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The backend's exact string type."""
        return dialect.type_descriptor(shim_for(dialect).exact_string_type(dialect, self.length))
