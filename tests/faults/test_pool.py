"""An exhausted connection pool: a clear ``StoreUnavailable`` after ``pool_timeout``, not a hang.

The store's engine takes SQLAlchemy's pool options (``pool_size``, ``max_overflow``,
``pool_timeout``); SQLAlchemy 2 gives every backend, SQLite files included, an
``AsyncAdaptedQueuePool``.  A session holds its connection while a transaction is
open (a caller's, or the one a lookup began), so sessions left open can take every
connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.pool import AsyncAdaptedQueuePool

from userstore import StoreUnavailable
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .conftest import count_rows, table

POOL_TIMEOUT = 0.5


def user(email: str) -> dict[str, Any]:
    return {"email": email, "hashed_password": "h"}


@pytest_asyncio.fixture
async def small(db_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A store with one connection and no overflow, waiting ``POOL_TIMEOUT`` for it."""
    harness = SQLAlchemyHarness(db_url, pool_size=1, max_overflow=0, pool_timeout=POOL_TIMEOUT)
    async with harness.open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        assert isinstance(opened.engine.pool, AsyncAdaptedQueuePool)
        yield opened


async def _timed_out(call: Any) -> tuple[StoreUnavailable, float]:
    began = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await asyncio.wait_for(call, 10 * POOL_TIMEOUT)
    return caught.value, time.monotonic() - began


async def test_exhausted_pool_raises_a_clear_timeout(small: SQLAlchemyStore) -> None:
    store = small
    async with store.session() as holder:
        alice = await holder.users.create(user("alice@x.io"))
        async with holder.transaction():
            await holder.users.get(alice.id)  # the only connection is held from here
            async with store.session() as s:
                error, waited = await _timed_out(s.users.get(alice.id))
                assert (
                    POOL_TIMEOUT * 0.9 <= waited < POOL_TIMEOUT + 2.5
                )  # a loaded CI machine is slow
                message = str(error)
                assert "pool exhausted" in message
                assert "pool_size" in message
                assert "max_overflow" in message
                assert "pool_timeout" in message
                assert "sqlalche.me" not in message
                error, _ = await _timed_out(s.users.create(user("bob@x.io")))
                assert "pool exhausted" in str(error)
                _, _ = await _timed_out(s.tokens.get_by_token("t" * 43))

                async def block() -> None:
                    async with s.transaction():
                        await s.users.create(user("carol@x.io"))

                await _timed_out(block())
        # the holder's transaction ended: its connection is back, calls work
        async with store.session() as s:
            assert await s.users.get(alice.id) is not None
            await s.users.create(user("dave@x.io"))
    for email, rows in [("bob@x.io", 0), ("carol@x.io", 0), ("dave@x.io", 1)]:
        assert await count_rows(store.engine, table(store, "user"), email=email) == rows


async def test_calls_wait_for_a_connection_coming_back(db_url: str) -> None:
    """Callers queue for the connection; a holder that lets go in time serves them all."""
    harness = SQLAlchemyHarness(db_url, pool_size=1, max_overflow=0, pool_timeout=10)
    async with harness.open_store() as store:
        async with store.session() as s:
            alice = await s.users.create(user("alice@x.io"))

        async def one(n: int) -> None:
            async with store.session() as s:
                assert await s.users.get(alice.id) is not None
                await s.users.create(user(f"u{n}@x.io"))

        async with store.session() as holder, holder.transaction():
            await holder.users.get(alice.id)
            waiting = [asyncio.ensure_future(one(n)) for n in range(4)]
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in waiting)
        await asyncio.gather(*waiting)
        assert isinstance(store, SQLAlchemyStore)
        assert await count_rows(store.engine, table(store, "user")) == 5
