"""The server stopped and started again: the same store object recovers, nothing committed is lost.

Each backend gets a server of its own (tests/faults/servers.py), started once for
this module; the shared test servers are never touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from userstore import StoreUnavailable
from userstore_sqlalchemy import SQLAlchemyStore

from .servers import ThrowawayServer, mariadb_server, postgres_server

# a call on a stopped server must fail this fast, not hang
FAIL_WITHIN = 10.0

ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1",
    "account_email": "a@x.io",
    "access_token": "provider-token",
}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("postgres", marks=pytest.mark.backend("postgres")),
        pytest.param("mysql", marks=pytest.mark.backend("mysql")),
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[ThrowawayServer]:
    """A throwaway server of the backend, running at the start of each test."""
    start = postgres_server if request.param == "postgres" else mariadb_server
    with start() as running:
        yield running


@pytest.fixture(autouse=True)
def _running(server: ThrowawayServer) -> None:
    if server.starts and not server.running:  # a failed test left it stopped
        server.start()


async def _fails_fast(call: object, what: str) -> StoreUnavailable:
    began = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        await asyncio.wait_for(call, FAIL_WITHIN)  # type: ignore[arg-type]
    assert time.monotonic() - began < FAIL_WITHIN, what
    return caught.value


async def test_store_recovers_after_a_restart(server: ThrowawayServer) -> None:
    store = SQLAlchemyStore(server.url, table_prefix="restart_")
    try:
        await store.create_schema()
        async with store.session() as s:
            alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
            alice = await s.users.add_oauth_account(alice, ACCOUNT)
            await s.tokens.create({"token": "t" * 43, "user_id": alice.id})
            async with s.transaction():
                for n in range(5):
                    await s.users.create({"email": f"u{n}@x.io", "hashed_password": "h"})
        held = store.session()
        kept = await held.__aenter__()  # a session that lives through the restart
        assert await kept.users.get(alice.id) is not None

        server.stop()

        # the pooled connection is dead: the first call says so, and so does a
        # new connection attempt (naming the server), each within seconds
        await _fails_fast(kept.users.get(alice.id), "call on the held session")
        async with store.session() as s:
            error = await _fails_fast(s.users.get_by_email("alice@x.io"), "lookup")
            assert f"127.0.0.1:{server.port}" in str(error)
            await _fails_fast(
                s.users.create({"email": "lost@x.io", "hashed_password": "h"}), "write"
            )
            await _fails_fast(s.tokens.get_by_token("t" * 43), "token lookup")

        server.start()

        async with store.session() as s:
            found = await s.users.get_by_email("ALICE@x.io")
            assert found is not None
            assert found.id == alice.id
            assert [a.account_id for a in found.oauth_accounts] == ["1"]
            assert await s.tokens.get_by_token("t" * 43) is not None
            for n in range(5):
                assert await s.users.get_by_email(f"u{n}@x.io") is not None
            assert await s.users.get_by_email("lost@x.io") is None
            bob = await s.users.create({"email": "bob@x.io", "hashed_password": "h"})
            assert await s.users.get(bob.id) is not None
            assert len(await s.list_users(limit=100)) == 7
        # the session held through the restart works again too
        assert (await kept.users.get(alice.id)) is not None
        await kept.users.update(alice, {"is_verified": True})
        await held.__aexit__(None, None, None)
    finally:
        if not server.running:
            server.start()
        await store.drop_schema()
        await store.close()


async def test_transaction_cut_by_a_shutdown_commits_nothing(server: ThrowawayServer) -> None:
    store = SQLAlchemyStore(server.url, table_prefix="cut_")
    try:
        await store.create_schema()
        async with store.session() as s:

            async def cut() -> None:
                async with s.transaction():
                    await s.users.create({"email": "half@x.io", "hashed_password": "h"})
                    server.stop()
                    await s.users.create({"email": "other@x.io", "hashed_password": "h"})

            await _fails_fast(cut(), "the transaction")
        server.start()
        async with store.session() as s:
            assert await s.users.get_by_email("half@x.io") is None
            assert await s.users.get_by_email("other@x.io") is None
            await s.users.create({"email": "after@x.io", "hashed_password": "h"})
            assert [u.email for u in await s.list_users()] == ["after@x.io"]
    finally:
        if not server.running:
            server.start()
        await store.drop_schema()
        await store.close()
