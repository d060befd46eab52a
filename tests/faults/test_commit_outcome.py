"""A connection lost during COMMIT, and transactions the server rolled back to end a conflict.

docs/reliability.md: when the COMMIT was sent and its answer never came, the
write may be stored.  userstore looks for it on a new connection: found, the call
returns as if the COMMIT had answered; not found, or not reachable, the call
raises ``CommitOutcomeUnknown`` (a ``StoreUnavailable``).  Never a plain
``StoreUnavailable`` for a write that is stored.

A deadlock inside the application's transaction, where userstore cannot run the
write again, raises ``TransactionConflict`` (a ``DatabaseError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import await_only

from userstore import CommitOutcomeUnknown, StoreUnavailable, TransactionConflict
from userstore_sqlalchemy import SQLAlchemyStore

from .conftest import count_rows, kill, server_pid, table

ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1",
    "account_email": "a@x.io",
    "access_token": "provider-token",
}
TOKEN = "t" * 43


def _commit_then_cut(admin: AsyncConnection, victim: dict[str, int]) -> Callable[[Any], None]:
    """A ``commit`` listener: the server commits, then the connection dies before the answer.

    The transaction is committed with a COMMIT sent through the driver's cursor,
    and an empty one begun (so that psycopg, which tracks the server's transaction
    state, still sends its COMMIT); the connection is then killed from ``admin``,
    so the COMMIT SQLAlchemy sends next finds it gone: what a client sees when the
    answer to its COMMIT is lost.
    """

    def before_commit(conn: Any) -> None:
        if not victim:
            return
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute("COMMIT")
        cursor.execute("BEGIN")
        cursor.close()
        await_only(kill(admin, victim.pop("pid")))

    return before_commit


def _cut_before_commit(admin: AsyncConnection, victim: dict[str, int]) -> Callable[[Any], None]:
    def before_commit(conn: Any) -> None:
        if victim:
            await_only(kill(admin, victim.pop("pid")))

    return before_commit


Write = Callable[[Any, Any], Awaitable[Any]]


async def _create(s: Any, alice: Any) -> Any:
    return await s.users.create({"email": "bob@x.io", "hashed_password": "h2"})


async def _link(s: Any, alice: Any) -> Any:
    return await s.users.add_oauth_account(alice, ACCOUNT)


async def _token(s: Any, alice: Any) -> Any:
    return await s.tokens.create({"token": TOKEN, "user_id": alice.id})


async def _delete(s: Any, alice: Any) -> Any:
    return await s.users.delete(alice)


WRITES: dict[str, Write] = {"create": _create, "link": _link, "token": _token, "delete": _delete}


async def _stored(store: SQLAlchemyStore, write: str, alice: Any) -> bool:
    if write == "create":
        return await count_rows(store.engine, table(store, "user"), email="bob@x.io") == 1
    if write == "link":
        return await count_rows(store.engine, table(store, "oauth_account"), user_id=alice.id) == 1
    if write == "token":
        return await count_rows(store.engine, table(store, "access_token"), user_id=alice.id) == 1
    return await count_rows(store.engine, table(store, "user"), id=alice.id) == 0


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_commit_whose_answer_was_lost_returns_what_the_server_stored(
    store: SQLAlchemyStore, admin: AsyncConnection, write: str
) -> None:
    engine = store.engine.sync_engine
    victim: dict[str, int] = {}
    hook = _commit_then_cut(admin, victim)
    async with store.session() as s:
        alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
        victim["pid"] = await server_pid(await s.session.connection())
        event.listen(engine, "commit", hook)
        try:
            result = await WRITES[write](s, alice)
        finally:
            event.remove(engine, "commit", hook)
        assert not victim, "the hook did not run"
        if write == "create":
            assert (result.email, result.hashed_password) == ("bob@x.io", "h2")
        elif write == "link":
            assert [a.account_id for a in result.oauth_accounts] == ["1"]
        elif write == "token":
            assert (result.token, result.user_id) == (TOKEN, alice.id)
        assert await _stored(store, write, alice)
        assert await s.users.get_by_email("alice@x.io") is not None or write == "delete"


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_commit_cut_before_it_reached_the_server_is_outcome_unknown(
    store: SQLAlchemyStore, admin: AsyncConnection, write: str
) -> None:
    """Not found on a new connection is no proof: the error says the outcome is unknown."""
    engine = store.engine.sync_engine
    victim: dict[str, int] = {}
    hook = _cut_before_commit(admin, victim)
    async with store.session() as s:
        alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
        victim["pid"] = await server_pid(await s.session.connection())
        event.listen(engine, "commit", hook)
        try:
            with pytest.raises(CommitOutcomeUnknown) as raised:
                await WRITES[write](s, alice)
        finally:
            event.remove(engine, "commit", hook)
        assert isinstance(raised.value, StoreUnavailable)
        assert "during COMMIT" in str(raised.value)
        assert not await _stored(store, write, alice)
        assert await s.users.get_by_email("alice@x.io") is not None  # the next call works


async def test_a_transaction_block_whose_commit_was_cut_is_outcome_unknown(
    store: SQLAlchemyStore, admin: AsyncConnection
) -> None:
    engine = store.engine.sync_engine
    victim: dict[str, int] = {}
    hook = _commit_then_cut(admin, victim)

    async def block(s: Any) -> None:
        async with s.transaction():
            alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
            await s.users.add_oauth_account(alice, ACCOUNT)
            victim["pid"] = await server_pid(await s.session.connection())

    async with store.session() as s:
        event.listen(engine, "commit", hook)
        try:
            with pytest.raises(CommitOutcomeUnknown):
                await block(s)
        finally:
            event.remove(engine, "commit", hook)
    assert not victim, "the hook did not run"
    # the server had committed: both rows are there, though the block could not know
    assert await count_rows(store.engine, table(store, "user"), email="alice@x.io") == 1
    assert await count_rows(store.engine, table(store, "oauth_account"), account_id="1") == 1


async def test_a_deadlock_inside_the_callers_transaction_is_transaction_conflict(
    store: SQLAlchemyStore,
) -> None:
    """Two blocks each update a user the other then updates: the server ends it with one
    loser, whose block gets ``TransactionConflict``; the winner commits."""
    async with store.session() as setup:
        ada = await setup.users.create({"email": "ada@x.io", "hashed_password": "h"})
        bob = await setup.users.create({"email": "bob@x.io", "hashed_password": "h"})
    both_hold = asyncio.Barrier(2)
    conflicts: list[TransactionConflict] = []

    async def block(first: Any, second: Any) -> str:
        async with store.session() as s:
            one = await s.users.get(first.id)
            other = await s.users.get(second.id)
            try:
                async with s.transaction():
                    await s.users.update(one, {"is_verified": True})
                    await both_hold.wait()
                    await s.users.update(other, {"is_superuser": True})
            except TransactionConflict as conflict:
                conflicts.append(conflict)
                return "conflict"
            return "committed"

    outcomes = await asyncio.wait_for(asyncio.gather(block(ada, bob), block(bob, ada)), timeout=30)
    assert sorted(outcomes) == ["committed", "conflict"]
    assert "run it again" in str(conflicts[0])
    async with store.session() as s:
        stored = [await s.users.get(ada.id), await s.users.get(bob.id)]
        flags = [(u.is_verified, u.is_superuser) for u in stored if u is not None]
    # the winner's two updates are kept, the loser's first one is not
    assert sorted(flags) == [(False, True), (True, False)]
