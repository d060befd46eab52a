"""SQLite: concurrent refused writes while the garbage collector runs on the event loop.

Writers to one SQLite file take turns: while one holds the write lock, the others
wait inside their INSERT, each in its aiosqlite connection's thread, for up to
the busy timeout.  A refused write (a duplicate token, OAuth account or email)
must not leave anything behind that the garbage collector, running on the event
loop's thread, would have to take such a waiting connection's mutex to free: the
loop would stop until that writer's busy timeout ran out, the writer holding the
lock could not commit meanwhile, and every waiting writer would fail with
``StoreUnavailable`` instead of getting its answer.

Each round here: a second connection holds the write lock (standing in for the
writer that won, whose COMMIT needs the loop), ten sessions on one engine race to
write one token, OAuth account or email and wait for the lock, and a full
collection runs on the loop while they wait.  The automatic collector is paused
during the test, so the garbage of earlier rounds' refusals (on the pool's
connections, which the next round's writers use again) is still there when the
collection runs: the worst case of a collection that happens to run then.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from userstore import (
    AccessTokenAlreadyExists,
    OAuthAccountAlreadyLinked,
    StoreSession,
    UserAlreadyExists,
)
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.dialects import sqlite as sqlite_shim
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from ..backends import Backend
from ..conftest import backend_url

pytestmark = pytest.mark.backend("sqlite")

WRITERS = 10
ROUNDS = 4
LOCK_HELD = 0.3
"""Seconds the second connection holds the write lock while the writers wait."""
BUSY_TIMEOUT_MS = 5_000
"""The writers' busy timeout here: a stalled loop shows as ``StoreUnavailable`` after 5 s."""
ROUND_BOUND = 3.0
"""Seconds a round may take (it needs about ``LOCK_HELD``)."""


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """The automatic garbage collector off for the test; collections are the test's own."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


@pytest_asyncio.fixture
async def store(
    backend_registry: dict[str, Backend], monkeypatch: pytest.MonkeyPatch, collector_paused: None
) -> AsyncIterator[SQLAlchemyStore]:
    """A store on scratch tables of the run's SQLite file, with a ``BUSY_TIMEOUT_MS`` timeout."""
    monkeypatch.setattr(sqlite_shim, "BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    harness = SQLAlchemyHarness(backend_url(backend_registry, "sqlite"))
    async with harness.open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        yield opened


Write = Callable[[StoreSession], Awaitable[Any]]


async def _users(store: SQLAlchemyStore, n: int) -> list[Any]:
    async with store.session() as s:
        return [
            (await s.users.create({"email": f"u{i}@x.io", "hashed_password": "h"})).id
            for i in range(n)
        ]


def _token_writes(users: list[Any]) -> list[Write]:
    token = secrets.token_urlsafe(16)

    async def write(s: StoreSession, user_id: Any) -> Any:
        return await s.tokens.create({"token": token, "user_id": user_id})

    return [lambda s, u=u: write(s, u) for u in users]


def _link_writes(users: list[Any]) -> list[Write]:
    account = f"acct-{secrets.token_hex(4)}"

    async def write(s: StoreSession, user_id: Any) -> Any:
        user = await s.users.get(user_id)
        assert user is not None
        account_dict = {
            "oauth_name": "github",
            "account_id": account,
            "account_email": "a@x.io",
            "access_token": "provider-token",
        }
        return await s.users.add_oauth_account(user, account_dict)

    return [lambda s, u=u: write(s, u) for u in users]


def _email_writes(users: list[Any]) -> list[Write]:
    email = f"race{secrets.token_hex(4)}@x.io"

    async def write(s: StoreSession, n: int) -> Any:
        spelled = email.upper() if n % 2 else email
        return await s.users.create({"email": spelled, "hashed_password": "h"})

    return [lambda s, n=n: write(s, n) for n in range(len(users))]


RACES: dict[str, tuple[Callable[[list[Any]], list[Write]], type[Exception]]] = {
    "token": (_token_writes, AccessTokenAlreadyExists),
    "oauth account": (_link_writes, OAuthAccountAlreadyLinked),
    "email": (_email_writes, UserAlreadyExists),
}


async def _outcome(store: SQLAlchemyStore, write: Write) -> str:
    try:
        async with store.session() as s:
            await write(s)
    except Exception as error:
        return type(error).__name__
    return "ok"


async def _round(store: SQLAlchemyStore, writes: list[Write]) -> tuple[dict[str, int], float]:
    """Race ``writes`` behind a held write lock, collecting garbage while they wait."""
    began = time.monotonic()
    async with store.engine.connect() as locker:
        raw = await locker.get_raw_connection()
        await raw.driver_connection.execute("BEGIN IMMEDIATE")
        try:
            racing = [asyncio.ensure_future(_outcome(store, write)) for write in writes]
            await asyncio.sleep(LOCK_HELD)  # every writer is waiting for the lock by now
            gc.collect()
        finally:
            await raw.driver_connection.rollback()
    outcomes = collections.Counter(await asyncio.gather(*racing))
    return dict(outcomes), time.monotonic() - began


@pytest.mark.parametrize("race", list(RACES))
async def test_refused_writes_leave_nothing_the_collector_blocks_on(
    store: SQLAlchemyStore, race: str
) -> None:
    make_writes, refusal = RACES[race]
    users = await _users(store, WRITERS)
    expected = {"ok": 1, refusal.__name__: WRITERS - 1}
    for n in range(ROUNDS):
        outcomes, took = await _round(store, make_writes(users))
        assert outcomes == expected, f"round {n}: {outcomes} after {took:.1f} s"
        assert took < ROUND_BOUND, f"round {n} took {took:.1f} s"
