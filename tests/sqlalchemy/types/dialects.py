"""Dialect instances to compile and process against, without a database.

MySQL and MariaDB differ by ``is_mariadb`` and the server version, which a real
dialect learns on its first connection; here they are set by hand.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects.mysql import aiomysql
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateTable


def mysql_dialect(*, mariadb: bool, version: tuple[int, ...]) -> Dialect:
    dialect = aiomysql.dialect()
    dialect.is_mariadb = mariadb
    dialect.server_version_info = version
    return dialect


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "sqlite": aiosqlite.dialect,
    "postgresql": asyncpg.dialect,
    "mysql8": lambda: mysql_dialect(mariadb=False, version=(8, 0, 36)),
    "mariadb10.6": lambda: mysql_dialect(mariadb=True, version=(10, 6, 0)),
    "mariadb10.11": lambda: mysql_dialect(mariadb=True, version=(10, 11, 0)),
}
NAIVE_UTC = ("sqlite", "mysql8", "mariadb10.6", "mariadb10.11")
"""Backends whose datetime column has no zone: bound and read as naive UTC."""


def dialect(name: str) -> Dialect:
    """A fresh dialect (types memoise their implementation per dialect instance)."""
    return DIALECTS[name]()


def column_ddl(type_: Any, name: str) -> str:
    """The DDL of one column of type ``type_`` in a CREATE TABLE for dialect ``name``."""
    table = Table("t", MetaData(), Column("c", type_))
    ddl = str(CreateTable(table).compile(dialect=dialect(name)))
    (line,) = [line.strip() for line in ddl.splitlines() if line.strip().startswith("c ")]
    return line.removeprefix("c ").rstrip(",")
