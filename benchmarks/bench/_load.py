"""Bulk loading through each driver's fast path, and the rows every run agrees on.

User ``i`` is ``User{i}@Example.com`` (looked up as ``user{i}@example.com``),
linked to the OAuth account ``("github", "gh-{i}")`` and holding the access token
``token_of(i)``, in both schemas.  Loading: asyncpg ``copy_records_to_table``;
aiomysql ``executemany`` (which sends multi-row INSERTs), committed per chunk,
with the session's foreign-key and unique checks off (the rows are valid by
construction); aiosqlite ``executemany`` in one transaction.  Users from ``plain_from`` on get
no account and no token (targets for ``add_oauth_account``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import aiomysql
import aiosqlite
import asyncpg

from userstore import email_key

from ._databases import Database

__all__ = [
    "PASSWORD",
    "PROVIDER_TOKEN",
    "account_id_of",
    "analyze",
    "bulk_load",
    "email_of",
    "lookup_email_of",
    "token_of",
    "user_id_of",
]

CHUNK = 20_000
PASSWORD = "$argon2id$v=19$m=65536,t=3,p=4$" + "a" * 22 + "$" + "b" * 43  # an argon2 hash's length
PROVIDER_TOKEN = "gho_" + "c" * 36


def _digest(kind: str, i: int, size: int = 16) -> bytes:
    return hashlib.blake2b(f"{kind}:{i}".encode(), digest_size=size).digest()


def user_id_of(i: int) -> uuid.UUID:
    return uuid.UUID(bytes=_digest("user", i), version=4)


def _account_uuid(i: int) -> uuid.UUID:
    return uuid.UUID(bytes=_digest("account", i), version=4)


def email_of(i: int) -> str:
    return f"User{i}@Example.com"


def lookup_email_of(i: int) -> str:
    """User ``i``'s email in another case."""
    return f"user{i}@example.com"


def account_id_of(i: int) -> str:
    return f"gh-{i}"


def token_of(i: int) -> str:
    return base64.urlsafe_b64encode(_digest("token", i, 32)).decode().rstrip("=")


_COLUMNS = {
    "user": {
        "userstore": (
            "id",
            "email",
            "email_key",
            "hashed_password",
            "is_active",
            "is_superuser",
            "is_verified",
        ),
        "fudb": ("id", "email", "hashed_password", "is_active", "is_superuser", "is_verified"),
    },
    "oauth_account": (
        "id",
        "user_id",
        "oauth_name",
        "access_token",
        "expires_at",
        "refresh_token",
        "account_id",
        "account_email",
    ),
    "accesstoken": ("token", "created_at", "user_id"),
}


class _Values:
    """How one backend binds UUIDs and datetimes."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def uuid(self, value: uuid.UUID) -> Any:
        return value if self.backend == "postgres" else str(value)

    def timestamp(self, value: dt.datetime) -> Any:
        if self.backend == "postgres":
            return value
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        return naive if self.backend == "mysql" else naive.strftime("%Y-%m-%d %H:%M:%S.%f")


def _rows(
    schema: str, backend: str, start: int, stop: int, plain_from: int, tokens: bool
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Chunks of ``(table, rows)`` for users ``start`` to ``stop``."""
    values = _Values(backend)
    now = dt.datetime.now(dt.UTC)
    for low in range(start, stop, CHUNK):
        high = min(low + CHUNK, stop)
        users: list[tuple[Any, ...]] = []
        accounts: list[tuple[Any, ...]] = []
        held: list[tuple[Any, ...]] = []
        for i in range(low, high):
            user_id = values.uuid(user_id_of(i))
            email = email_of(i)
            keyed = (email, email_key(email)) if schema == "userstore" else (email,)
            users.append((user_id, *keyed, PASSWORD, True, False, False))
            if i >= plain_from:
                continue
            accounts.append(
                (
                    values.uuid(_account_uuid(i)),
                    user_id,
                    "github",
                    PROVIDER_TOKEN,
                    None,
                    None,
                    account_id_of(i),
                    email,
                )
            )
            if tokens:
                held.append((token_of(i), values.timestamp(now), user_id))
        yield "user", users
        if accounts:
            yield "oauth_account", accounts
        if held:
            yield "accesstoken", held


def _columns(schema: str, table: str) -> tuple[str, ...]:
    columns = _COLUMNS[table]
    return columns[schema] if isinstance(columns, dict) else columns


def _insert(backend: str, schema: str, table: str) -> str:
    columns = _columns(schema, table)
    marker = "%s" if backend == "mysql" else "?"
    quoted = f"`{table}`" if backend == "mysql" else f'"{table}"'
    return (
        f"INSERT INTO {quoted} ({', '.join(columns)}) VALUES ({', '.join([marker] * len(columns))})"
    )


async def bulk_load(
    database: Database, start: int, stop: int, *, plain_from: int, tokens: bool = True
) -> None:
    """Insert users ``start`` to ``stop`` (with an account, and a token, below ``plain_from``)."""
    backend, schema = database.backend, database.models.schema
    chunks = _rows(schema, backend, start, stop, plain_from, tokens)
    if backend == "postgres":
        connection = await asyncpg.connect(**database.connect_args())
        try:
            for table, rows in chunks:
                await connection.copy_records_to_table(
                    table, records=rows, columns=list(_columns(schema, table))
                )
        finally:
            await connection.close()
    elif backend == "mysql":
        args = database.connect_args()
        connection = await aiomysql.connect(
            host=args["host"],
            port=args["port"],
            user=args["user"],
            password=args["password"],
            db=args["database"],
            charset="utf8mb4",
            autocommit=False,
        )
        try:
            async with connection.cursor() as cursor:
                # the rows are valid by construction: skip the per-row key checks
                await cursor.execute(
                    "SET SESSION time_zone = '+00:00', foreign_key_checks = 0, unique_checks = 0"
                )
                for table, rows in chunks:
                    await cursor.executemany(_insert(backend, schema, table), rows)
                    await connection.commit()
        finally:
            connection.close()
    else:
        async with aiosqlite.connect(database.path) as connection:
            await connection.execute("PRAGMA foreign_keys = ON")
            await connection.execute("PRAGMA cache_size = -262144")  # 256 MiB, this connection
            for table, rows in chunks:
                await connection.executemany(_insert(backend, schema, table), rows)
            await connection.commit()


async def analyze(database: Database) -> None:
    """Refresh the planner's statistics after a load."""
    if database.backend == "postgres":
        connection = await asyncpg.connect(**database.connect_args())
        try:
            await connection.execute("ANALYZE")
        finally:
            await connection.close()
    elif database.backend == "mysql":
        args = database.connect_args()
        connection = await aiomysql.connect(
            host=args["host"],
            port=args["port"],
            user=args["user"],
            password=args["password"],
            db=args["database"],
            autocommit=True,
        )
        try:
            async with connection.cursor() as cursor:
                await cursor.execute("ANALYZE TABLE `user`, oauth_account, accesstoken")
                await cursor.fetchall()
        finally:
            connection.close()
    else:
        async with aiosqlite.connect(database.path) as connection:
            await connection.execute("ANALYZE")
            await connection.commit()
