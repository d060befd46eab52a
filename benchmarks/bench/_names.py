"""How backends and implementations are named in the report."""

from __future__ import annotations

__all__ = ["IMPL_TITLES", "TITLES"]

TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB"}
IMPL_TITLES = {
    "raw": "raw driver",
    "orm": "SA ORM",
    "userstore": "userstore",
    "connect": "connect()",
    "fudb": "fudb 7",
}
