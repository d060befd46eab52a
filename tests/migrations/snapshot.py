"""What a database says about some tables, in its own words, for before/after comparisons.

SQLite: the ``sqlite_master`` entries (the DDL text it keeps).  MySQL/MariaDB:
``SHOW CREATE TABLE``, its index lines sorted (they come in creation order, and
``create_all`` creates a table's indexes in no fixed order).  PostgreSQL: columns
(type, nullability, default), constraints (``pg_get_constraintdef``) and indexes
(``pg_indexes``) from the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection


def schema_snapshot(connection: Connection, names: Iterable[str]) -> dict[str, Any]:
    """The definition of each existing table in ``names``, as the database reports it."""
    names = sorted(names)
    dialect = connection.dialect.name
    if dialect == "sqlite":
        rows = connection.execute(
            text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master "
                "WHERE tbl_name IN :names ORDER BY type, name"
            ).bindparams(bindparam("names", expanding=True)),
            {"names": names},
        )
        return {"sqlite_master": [tuple(row) for row in rows]}
    if dialect in ("mysql", "mariadb"):
        present = {
            row[0]
            for row in connection.execute(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = DATABASE()"
                )
            )
        }
        return {
            name: _sorted_keys(connection.exec_driver_sql(f"SHOW CREATE TABLE `{name}`").one()[1])
            for name in names
            if name in present
        }
    return _postgres(connection, names)


def _sorted_keys(create_table: str) -> str:
    lines = create_table.split("\n")
    keys = sorted(
        line.rstrip(",") for line in lines if line.startswith(("  KEY ", "  UNIQUE KEY "))
    )
    rest = [line.rstrip(",") for line in lines if not line.startswith(("  KEY ", "  UNIQUE KEY "))]
    # columns and the primary key first, then the indexes, then constraints and the tail
    head = [line for line in rest if not line.startswith(("  CONSTRAINT ", ")"))]
    tail = [line for line in rest if line.startswith(("  CONSTRAINT ", ")"))]
    return "\n".join(head + keys + tail)


def _postgres(connection: Connection, names: list[str]) -> dict[str, Any]:
    def fetch(sql: str) -> list[tuple[Any, ...]]:
        statement = text(sql).bindparams(bindparam("names", expanding=True))
        return [tuple(row) for row in connection.execute(statement, {"names": names})]

    return {
        "columns": fetch(
            "SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
            "a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attcollation "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname IN :names "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2"
        ),
        "constraints": fetch(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname IN :names "
            "ORDER BY 1, 2"
        ),
        "indexes": fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename IN :names ORDER BY 1, 2"
        ),
    }
