"""fastapi-users-db-sqlalchemy 7's tables, reproduced in plain SQLAlchemy Core.

fastapi-users-db-sqlalchemy 7 ("fudb") needs SQLAlchemy < 2.1 and the workspace
runs 2.1, so the migration tests build fudb's schema from these definitions.  Each
column has the type fudb's mixins resolve to on the dialect (its ``GUID`` is
PostgreSQL's ``UUID`` there and ``CHAR(36)`` elsewhere; its ``TIMESTAMPAware`` is
``TIMESTAMP``), in fudb's column order, with fudb's ``index=True`` indexes.
``python -m tests.migrations.verify_fudb_schema``, run where fudb 7 is installed,
checks on every backend that these tables and the ones fudb 7 itself creates are
the same (same ``sqlite_master`` text, ``SHOW CREATE TABLE``, PostgreSQL catalog).

Rows are written the way fudb writes them: ids as hyphenated strings (``UUID``
objects on PostgreSQL), aware UTC datetimes through ``TIMESTAMP``.
"""

from __future__ import annotations

import datetime as dt
import types
import uuid
from typing import Any, Literal

from sqlalchemy import (
    CHAR,
    TIMESTAMP,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

IdKind = Literal["uuid", "int"]


def _id_type(dialect_name: str, ids: IdKind) -> TypeEngine[Any]:
    if ids == "int":
        return Integer()
    return postgresql.UUID() if dialect_name == "postgresql" else CHAR(36)


def fudb_tables(dialect_name: str, ids: IdKind) -> types.SimpleNamespace:
    """fudb 7's user, OAuth-account and access-token tables for one dialect and id kind.

    ``ids="uuid"`` is fudb's ``...TableUUID`` mixins; ``ids="int"`` is its generic
    mixins with the integer ``id`` / ``user_id`` columns FastAPI Users' docs show
    (``ForeignKey("user.id", ondelete="cascade")``, as the UUID variant has).
    """
    metadata = MetaData()

    def id_column(name: str, *args: Any, **kw: Any) -> Column[Any]:
        return Column(name, _id_type(dialect_name, ids), *args, **kw)

    def owner() -> Column[Any]:
        return id_column("user_id", ForeignKey("user.id", ondelete="cascade"), nullable=False)

    user = Table(
        "user",
        metadata,
        id_column("id", primary_key=True),
        Column("email", String(320), nullable=False),
        Column("hashed_password", String(1024), nullable=False),
        Column("is_active", Boolean, nullable=False),
        Column("is_superuser", Boolean, nullable=False),
        Column("is_verified", Boolean, nullable=False),
        Index("ix_user_email", "email", unique=True),
    )
    oauth_columns = [
        Column("oauth_name", String(100), nullable=False),
        Column("access_token", String(1024), nullable=False),
        Column("expires_at", Integer, nullable=True),
        Column("refresh_token", String(1024), nullable=True),
        Column("account_id", String(320), nullable=False),
        Column("account_email", String(320), nullable=False),
    ]
    token_columns = [
        Column("token", String(43), primary_key=True),
        Column("created_at", TIMESTAMP(timezone=True), nullable=False),
    ]
    # declarative puts the columns of the most derived class (fudb's UUID mixin, or the
    # application's class for integer ids) before those of fudb's base mixin
    oauth_columns = [id_column("id", primary_key=True), owner(), *oauth_columns]
    token_columns = [owner(), *token_columns]
    oauth_account = Table(
        "oauth_account",
        metadata,
        *oauth_columns,
        Index("ix_oauth_account_oauth_name", "oauth_name"),
        Index("ix_oauth_account_account_id", "account_id"),
    )
    accesstoken = Table(
        "accesstoken",
        metadata,
        *token_columns,
        Index("ix_accesstoken_created_at", "created_at"),
    )
    return types.SimpleNamespace(
        metadata=metadata, user=user, oauth_account=oauth_account, accesstoken=accesstoken
    )


def create_fudb_tables(connection: Connection, ids: IdKind) -> types.SimpleNamespace:
    """Create fudb's tables on ``connection`` and return them."""
    tables = fudb_tables(connection.dialect.name, ids)
    tables.metadata.create_all(connection)
    return tables


def new_id(dialect_name: str, ids: IdKind, number: int) -> Any:
    """The id of the ``number``-th row written, as fudb binds it.

    Integer ids are left to the database (so PostgreSQL's sequences stay in step)
    and are 1, 2, ... in a fresh table.
    """
    if ids == "int":
        return number
    value = uuid.UUID(int=(0x5EED << 96) | number, version=4)
    return value if dialect_name == "postgresql" else str(value)


def fudb_rows(
    ids: IdKind,
    users: list[str],
    links: list[tuple[int, str, str]],
    tokens: list[tuple[int, str, dt.datetime]],
) -> types.SimpleNamespace:
    """The rows of a fudb-era database, as Python values (``uuid.UUID`` ids).

    Users are given by email (user ``n`` is ``users[n - 1]``), OAuth links as
    ``(user n, oauth_name, account_id)``, tokens as ``(user n, token, created_at)``.
    With UUIDs, link ``n`` has the id numbered ``1000 + n``; integer ids are left
    out, for the database to assign.  Every other column gets a value derived
    from the row's number, so a test can tell each row apart after the migration.
    """

    def key(number: int) -> Any:
        return number if ids == "int" else uuid.UUID(str(new_id("sqlite", ids, number)))

    def with_id(number: int, row: dict[str, Any]) -> dict[str, Any]:
        return row if ids == "int" else {"id": key(number), **row}

    user_rows = [
        with_id(
            n,
            {
                "email": email,
                "hashed_password": f"hash-{n}",
                "is_active": n % 2 == 1,
                "is_superuser": n % 3 == 0,
                "is_verified": n % 5 == 0,
            },
        )
        for n, email in enumerate(users, start=1)
    ]
    link_rows = [
        with_id(
            1000 + n,
            {
                "user_id": key(owner),
                "oauth_name": oauth_name,
                "account_id": account_id,
                "account_email": f"link-{n}@example.com",
                "access_token": f"access-{n}-" + "a" * 1000,
                "expires_at": 2_000_000_000 + n,
                "refresh_token": None if n % 2 else f"refresh-{n}",
            },
        )
        for n, (owner, oauth_name, account_id) in enumerate(links, start=1)
    ]
    token_rows = [
        {"token": token, "user_id": key(owner), "created_at": created_at}
        for owner, token, created_at in tokens
    ]
    return types.SimpleNamespace(users=user_rows, links=link_rows, tokens=token_rows)


def write_fudb_rows(
    connection: Connection,
    tables: types.SimpleNamespace,
    ids: IdKind,
    users: list[str],
    links: list[tuple[int, str, str]],
    tokens: list[tuple[int, str, dt.datetime]],
) -> None:
    """Insert the rows :func:`fudb_rows` describes, ids bound as fudb binds them."""
    rows = fudb_rows(ids, users, links, tokens)
    bind = connection.dialect.name != "postgresql"  # CHAR(36): the hyphenated string

    def bound(row: dict[str, Any]) -> dict[str, Any]:
        return {k: str(v) if bind and isinstance(v, uuid.UUID) else v for k, v in row.items()}

    # one by one: integer ids are assigned in order
    for table, table_rows in [
        (tables.user, rows.users),
        (tables.oauth_account, rows.links),
        (tables.accesstoken, rows.tokens),
    ]:
        for row in table_rows:
            connection.execute(table.insert(), [bound(row)])
