"""Issue 8, part 4a: with ``token_digest=True`` the clear token never reaches the database.

The conformance suite (``case_token_digest``) checks create, lookup, a duplicate
and delete against the stored column.  This adds the rest of the token API
(update, lookups with ``max_age``, ``delete_for_user``, ``delete_expired``) and
two stronger observations on every backend: every statement and parameter the
engine sends, and the database's own bytes or text (SQLite: the database and
WAL files; the servers: each row cast to text).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

import userstore
from userstore.rules import token_digest
from userstore_sqlalchemy import SQLAlchemyStore

UTC = dt.UTC
BASE = dt.datetime(2030, 6, 1, tzinfo=UTC)


@contextmanager
def sent(store: SQLAlchemyStore) -> Iterator[list[str]]:
    """Yield a list filled with the text of every statement and its parameters."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        seen.append(f"{statement} {parameters!r}")

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def database_view(store: SQLAlchemyStore, table: str) -> str:
    """The token table as the database holds it: file bytes on SQLite, rows as text elsewhere."""
    dialect = store.engine.dialect.name
    if dialect == "sqlite":
        path = Path(store.engine.url.database or "")
        files = [path, path.with_name(path.name + "-wal")]
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    async with store.engine.connect() as connection:
        if dialect == "postgresql":
            query = f'SELECT CAST(t AS TEXT) FROM "{table}" AS t'
        else:
            query = f"SELECT CONCAT_WS('|', token, user_id, created_at) FROM `{table}`"
        rows = await connection.execute(text(query))
        return "\n".join(str(row[0]) for row in rows)


async def test_the_whole_token_api_works_and_sends_only_digests(db_url: str) -> None:
    prefix = f"dig_{secrets.token_hex(3)}_"
    store = userstore.connect(db_url, table_prefix=prefix, token_digest=True)
    assert isinstance(store, SQLAlchemyStore)
    assert store.models.access_token is not None
    table = store.models.access_token.__table__
    clear = {name: secrets.token_urlsafe(32) for name in ("a1", "a2", "a3", "b1", "b2")}
    try:
        await store.create_schema()
        with sent(store) as statements:
            async with store.session() as s:
                alice = await s.users.create({"email": "alice@example.com", "hashed_password": "h"})
                bob = await s.users.create({"email": "bob@example.com", "hashed_password": "h"})
                for n, name in enumerate(clear):
                    owner = alice if name.startswith("a") else bob
                    made = await s.tokens.create(
                        {
                            "token": clear[name],
                            "user_id": owner.id,
                            "created_at": BASE + dt.timedelta(days=n),
                        }
                    )
                    assert made.token == clear[name]
            async with store.session() as s:
                a1 = await s.tokens.get_by_token(clear["a1"], BASE)
                assert a1 is not None
                assert a1.token == clear["a1"]
                assert await s.tokens.get_by_token(clear["a1"], BASE + dt.timedelta(days=1)) is None
                updated = await s.tokens.update(a1, {"created_at": BASE + dt.timedelta(days=9)})
                assert updated.token == clear["a1"]
                later = await s.tokens.get_by_token(clear["a1"], BASE + dt.timedelta(days=9))
                assert later is not None
                assert later.created_at == BASE + dt.timedelta(days=9)
                a2 = await s.tokens.get_by_token(clear["a2"])
                assert a2 is not None
                await s.tokens.delete(a2)
                assert await s.tokens.get_by_token(clear["a2"]) is None
                # a3 (day 2) is the only token older than day 3 left
                assert await s.tokens.delete_expired(BASE + dt.timedelta(days=3)) == 1
                assert await s.tokens.delete_for_user(bob.id) == 2
                assert await s.tokens.get_by_token(clear["b1"]) is None
                assert await s.tokens.count_tokens() == 1
                left = await s.tokens.get_by_token(clear["a1"])
                assert left is not None
                assert left.user_id == alice.id
        async with store.engine.connect() as connection:
            stored = {row[0] for row in await connection.execute(select(table.c.token))}
        view = await database_view(store, table.name)
    finally:
        try:
            await store.drop_schema()
        finally:
            await store.close()
    assert stored == {token_digest(clear["a1"])}
    assert any(token_digest(clear["a1"]) in line for line in statements)
    assert [t for t in clear.values() if any(t in line for line in statements)] == []
    assert token_digest(clear["a1"]) in view, "the view shows the table's contents"
    assert [t for t in clear.values() if t in view] == []
