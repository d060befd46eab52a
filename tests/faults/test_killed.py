"""The store's connection killed by the server (``pg_terminate_backend``, MariaDB ``KILL``).

docs/contract.md section 8: connection loss surfaces as ``StoreUnavailable``; nothing of
the cut work is committed; the next call, on a fresh connection, works.  A
connection killed while it idles in the pool has lost nothing, but the store only
learns of it on its next use: that call raises ``StoreUnavailable`` (the statement
did not run), and SQLAlchemy then drops every pooled connection older than the
failure, so it is the only call that fails however many idle connections died.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import await_only

from userstore import StoreUnavailable
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .conftest import count_rows, kill, objects_stay_readable, server_pid, table

RUNS = 20
ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1",
    "account_email": "a@x.io",
    "access_token": "provider-token",
}


def user(email: str) -> dict[str, Any]:
    return {"email": email, "hashed_password": "h"}


async def _pid_of(session: Any) -> int:
    return await server_pid(await session.session.connection())


async def test_killed_mid_transaction_commits_nothing(
    store: SQLAlchemyStore, admin: AsyncConnection
) -> None:
    users = table(store, "user")
    async with store.session() as s:
        before = await s.users.create(user("before@x.io"))

        async def block() -> None:
            async with s.transaction():
                alice = await s.users.create(user("alice@x.io"))
                await s.users.add_oauth_account(alice, ACCOUNT)
                await s.tokens.create({"token": "t" * 43, "user_id": alice.id})
                await kill(admin, await _pid_of(s))
                await s.users.create(user("bob@x.io"))

        with pytest.raises(StoreUnavailable):
            await block()
        assert await count_rows(store.engine, users) == 1
        assert await count_rows(store.engine, table(store, "oauth_account")) == 0
        assert await count_rows(store.engine, table(store, "access_token")) == 0
        # the same session works again, on a fresh connection
        assert await s.users.get(before.id) is not None
        carol = await s.users.create(user("carol@x.io"))
    async with store.session() as s:
        assert await s.users.get(carol.id) is not None
        assert await s.users.get_by_email("alice@x.io") is None
    assert await count_rows(store.engine, users) == 2


async def test_killed_before_commit_raises_at_commit(
    store: SQLAlchemyStore, admin: AsyncConnection
) -> None:
    async with store.session() as s:

        async def block() -> None:
            async with s.transaction():
                alice = await s.users.create(user("alice@x.io"))
                await s.users.add_oauth_account(alice, ACCOUNT)
                await kill(admin, await _pid_of(s))  # the COMMIT is the next statement

        with pytest.raises(StoreUnavailable):
            await block()
        assert await count_rows(store.engine, table(store, "user")) == 0
        assert await count_rows(store.engine, table(store, "oauth_account")) == 0
        async with s.transaction():
            await s.users.create(user("alice@x.io"))
    assert await count_rows(store.engine, table(store, "user"), email="alice@x.io") == 1


async def test_killed_while_idle_in_the_pool(
    store: SQLAlchemyStore, admin: AsyncConnection
) -> None:
    # three sessions at once, so the pool holds three connections afterwards
    sessions = [store.session() for _ in range(3)]
    opened = [await cm.__aenter__() for cm in sessions]
    pids = [await _pid_of(s) for s in opened]
    alice = await opened[0].users.create(user("alice@x.io"))
    for cm in sessions:
        await cm.__aexit__(None, None, None)
    assert len(set(pids)) == 3
    for pid in pids:
        await kill(admin, pid)

    async with store.session() as s:
        with pytest.raises(StoreUnavailable):
            await s.users.get(alice.id)
        assert await s.users.get(alice.id) is not None
    # every other call works: the dead idle connections were all dropped
    for n in range(5):
        async with store.session() as s:
            assert await s.users.get(alice.id) is not None
            await s.users.create(user(f"u{n}@x.io"))


async def test_killed_then_the_session_closes(
    store: SQLAlchemyStore, admin: AsyncConnection
) -> None:
    async with store.session() as s:
        alice = await s.users.create(user("alice@x.io"))
        assert await s.users.get(alice.id) is not None  # a read transaction stays open
        await kill(admin, await _pid_of(s))
    # closing rolled back a transaction the kill had ended already: no error, and
    # the close found the connection dead, so the pool let go of it
    async with store.session() as s:
        assert await s.users.get(alice.id) is not None


@pytest.mark.parametrize("at_commit", [False, True], ids=["mid-block", "at-commit"])
async def test_objects_stay_readable_after_a_killed_transaction(
    store: SQLAlchemyStore, admin: AsyncConnection, at_commit: bool
) -> None:
    async def cut(s: Any) -> None:
        await kill(admin, await _pid_of(s))

    await objects_stay_readable(store, cut, at_commit=at_commit)


@pytest.mark.parametrize("moment", ["before the INSERT", "before the COMMIT"])
async def test_killed_during_an_autocommitted_create(
    store: SQLAlchemyStore, admin: AsyncConnection, moment: str
) -> None:
    engine = store.engine.sync_engine
    victim: dict[str, int] = {}

    def before_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT") and victim:
            await_only(kill(admin, victim.pop("pid")))

    def before_commit(conn: Any) -> None:
        if victim:
            await_only(kill(admin, victim.pop("pid")))

    name, hook = (
        ("before_cursor_execute", before_insert)
        if moment == "before the INSERT"
        else ("commit", before_commit)
    )
    async with store.session() as s:
        victim["pid"] = await _pid_of(s)
        event.listen(engine, name, hook)
        try:
            with pytest.raises(StoreUnavailable):
                await s.users.create(user("alice@x.io"))
        finally:
            event.remove(engine, name, hook)
        assert not victim, "the hook did not run"
        assert await count_rows(store.engine, table(store, "user")) == 0
        created = await s.users.create(user("alice@x.io"))  # the next call works
    assert await count_rows(store.engine, table(store, "user"), id=created.id) == 1


async def _three_writes(s: Any, n: int) -> None:
    async with s.transaction():
        alice = await s.users.create(user(f"user{n}@x.io"))
        await s.users.add_oauth_account(alice, {**ACCOUNT, "account_id": f"user{n}"})
        await s.tokens.create({"token": f"{n:043d}", "user_id": alice.id})


async def _rows(store: SQLAlchemyStore, n: int) -> list[int]:
    return [
        await count_rows(store.engine, table(store, "user"), email=f"user{n}@x.io"),
        await count_rows(store.engine, table(store, "oauth_account"), account_id=f"user{n}"),
        await count_rows(store.engine, table(store, "access_token"), token=f"{n:043d}"),
    ]


async def test_killed_at_random_moments_all_or_nothing(
    server_url: str, admin: AsyncConnection
) -> None:
    """A transaction of three writes, killed at a random moment, ``RUNS`` times.

    Each run ends in success with all three rows, or in ``StoreUnavailable`` with
    all or none of them (all: the COMMIT arrived but its answer was cut); never
    another error, never part of the rows.
    """
    rng = random.Random(8)
    outcomes: dict[str, int] = {}
    async with SQLAlchemyHarness(server_url, pool_size=1, max_overflow=0).open_store() as store:
        assert isinstance(store, SQLAlchemyStore)
        async with store.session() as s:  # how long an uncut block takes
            began = time.monotonic()
            await _three_writes(s, -1)
            duration = time.monotonic() - began
        for n in range(RUNS):
            async with store.session() as s:
                pid = await _pid_of(s)
                task = asyncio.ensure_future(_three_writes(s, n))
                await asyncio.sleep(rng.uniform(0, 1.2 * duration))
                await kill(admin, pid)
                try:
                    await task
                    outcome = "committed"
                except StoreUnavailable:
                    outcome = "unavailable"
            rows = await _rows(store, n)
            if outcome == "committed":
                assert rows == [1, 1, 1], n
            else:
                assert rows in ([0, 0, 0], [1, 1, 1]), (n, rows)
            key = f"{outcome}, rows {'kept' if rows[0] else 'absent'}"
            outcomes[key] = outcomes.get(key, 0) + 1
            # the store works after each kill; a kill that came after the COMMIT
            # hit the connection idle in the pool: one call may say so first
            async with store.session() as s:
                try:
                    found = await s.users.get_by_email(f"user{n}@x.io")
                except StoreUnavailable:
                    found = await s.users.get_by_email(f"user{n}@x.io")
                assert (found is not None) == (rows[0] == 1)
    print(f"outcomes over {RUNS} kills: {outcomes}")


@pytest.mark.parametrize("where", ["a-call", "the-release", "the-rollback"])
async def test_killed_inside_an_inner_block_commits_nothing(
    store: SQLAlchemyStore, admin: AsyncConnection, where: str
) -> None:
    """The connection dies inside a SAVEPOINT block the caller then gives up on.

    The inner block raises ``StoreUnavailable`` (from the call, from RELEASE, or from
    ROLLBACK TO SAVEPOINT after the block's own error); the caller catches it and
    goes on with the outer block, whose end raises ``StoreUnavailable`` too: the
    outer block's earlier writes died with the connection, so nothing commits.
    """

    class Abandon(Exception):
        pass

    async with store.session() as s:

        async def inner() -> None:
            async with s.transaction():
                await s.users.create(user("bob@x.io"))
                await kill(admin, await _pid_of(s))
                if where == "a-call":
                    await s.users.create(user("carol@x.io"))
                elif where == "the-rollback":
                    raise Abandon

        async def outer() -> None:
            async with s.transaction():
                await s.users.create(user("alice@x.io"))
                with pytest.raises(StoreUnavailable):
                    await inner()
                with pytest.raises(StoreUnavailable):
                    await s.users.create(user("dave@x.io"))

        with pytest.raises(StoreUnavailable):
            await outer()
        assert await count_rows(store.engine, table(store, "user")) == 0
        async with s.transaction():  # the same session works again
            await s.users.create(user("alice@x.io"))
    assert await count_rows(store.engine, table(store, "user"), email="alice@x.io") == 1
