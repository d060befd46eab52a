"""A connection lost while a write that commits itself was on the wire.

docs/reliability.md: on PostgreSQL a ``connect()`` store's write of one
statement, outside a transaction block, runs in autocommit: the server commits
the statement as it runs it, and no COMMIT follows whose answer could be lost.
The statement's own answer can be.  The connection is cut by a TCP relay, as a
network failure cuts it:

- after the server answered (the write is stored): a create, a link or a new
  token is found on a new connection and returned; a delete is found done; an
  update, which cannot be told from another client's, raises
  ``CommitOutcomeUnknown``;
- before the statement reached the server (nothing stored): every write raises
  ``CommitOutcomeUnknown``, never a plain ``StoreUnavailable``, which would say
  nothing was written.

Either way the next call works, on a new connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event

import userstore
from userstore import CommitOutcomeUnknown, DatabaseError, StoreUnavailable, UserStoreError
from userstore_sqlalchemy import SQLAlchemyStore

from ..conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url
from ..sqlalchemy._relay import Relay, relayed_store
from .conftest import count_rows, table

POSTGRES = [p for p in (*BACKEND_PARAMS, *DRIVER_PARAMS) if str(p.values[0]).startswith("postgres")]
MARK = "cut-here-3f9a"


@pytest.fixture(params=POSTGRES)
def pg_url(request: pytest.FixtureRequest, backend_registry: Any) -> str:
    return backend_url(backend_registry, request.param)


@pytest_asyncio.fixture
async def relayed(pg_url: str) -> AsyncIterator[tuple[SQLAlchemyStore, Relay]]:
    async with relayed_store(pg_url) as opened:
        yield opened


ACCOUNT = {
    "oauth_name": "github",
    "account_id": "7",
    "account_email": "a@x.io",
    "access_token": MARK,
}
TOKEN = MARK + "-" + "t" * 29


def _id_bytes(user: Any) -> tuple[bytes, ...]:
    return (user.id.bytes, str(user.id).encode())


# each write: what it sends that no other statement does, and the call
Write = Callable[[Any, Any], Awaitable[Any]]
WRITES: dict[str, tuple[Callable[[Any], tuple[bytes, ...]], Write]] = {
    "create": (
        lambda alice: (MARK.encode(),),
        lambda s, alice: s.users.create({"email": "bob@x.io", "hashed_password": MARK}),
    ),
    "update": (
        lambda alice: (MARK.encode(),),
        lambda s, alice: s.users.update(alice, {"hashed_password": MARK}),
    ),
    "link": (
        lambda alice: (MARK.encode(),),
        lambda s, alice: s.users.add_oauth_account(alice, ACCOUNT),
    ),
    "token": (
        lambda alice: (MARK.encode(),),
        lambda s, alice: s.tokens.create({"token": TOKEN, "user_id": alice.id}),
    ),
    "delete": (_id_bytes, lambda s, alice: s.users.delete(alice)),
}


async def _stored(store: SQLAlchemyStore, write: str, alice: Any) -> bool:
    users = table(store, "user")
    if write == "create":
        return await count_rows(store.engine, users, email="bob@x.io") == 1
    if write == "update":
        return await count_rows(store.engine, users, hashed_password=MARK) == 1
    if write == "link":
        oauth = table(store, "oauth_account")
        return await count_rows(store.engine, oauth, user_id=alice.id) == 1
    if write == "token":
        tokens = table(store, "access_token")
        return await count_rows(store.engine, tokens, user_id=alice.id) == 1
    return await count_rows(store.engine, users, id=alice.id) == 0


async def _cut_write(
    store: SQLAlchemyStore, relay: Relay, write: str, *, answered: bool
) -> tuple[Any, Any, BaseException | None]:
    patterns, call = WRITES[write]
    async with store.session() as setup:
        alice = await setup.users.create({"email": "alice@x.io", "hashed_password": "h"})
    async with store.session() as s:
        alice = await s.users.get(alice.id)
        assert alice is not None
        relay.cut(*patterns(alice), answered=answered)
        result: Any = None
        error: BaseException | None = None
        try:
            result = await call(s, alice)
        except StoreUnavailable as raised:
            error = raised
        assert relay.cuts == 1, "the write's statement did not go out"
        if write == "update" and error is not None:
            assert alice.hashed_password == "h"  # the values it had before the call
        # the next call works, on a new connection
        assert (await s.users.get_by_email("alice@x.io") is None) == (
            write == "delete" and answered
        )
    return alice, result, error


@pytest.mark.parametrize("write", list(WRITES))
async def test_an_answer_lost_after_the_server_stored_the_write(
    relayed: tuple[SQLAlchemyStore, Relay], write: str
) -> None:
    store, relay = relayed
    alice, result, error = await _cut_write(store, relay, write, answered=True)
    assert await _stored(store, write, alice)
    if write == "update":
        assert isinstance(error, CommitOutcomeUnknown), error
        assert "during its statement" in str(error)
        return
    assert error is None, error
    if write == "create":
        assert (result.email, result.hashed_password) == ("bob@x.io", MARK)
    elif write == "link":
        assert [a.access_token for a in result.oauth_accounts] == [MARK]
    elif write == "token":
        assert (result.token, result.user_id) == (TOKEN, alice.id)


@pytest.mark.parametrize("write", list(WRITES))
async def test_a_statement_cut_before_it_reached_the_server(
    relayed: tuple[SQLAlchemyStore, Relay], write: str
) -> None:
    """Not found on a new connection is no proof: the error says the outcome is unknown."""
    store, relay = relayed
    alice, _, error = await _cut_write(store, relay, write, answered=False)
    assert isinstance(error, CommitOutcomeUnknown), error
    assert "during its statement" in str(error)
    assert not await _stored(store, write, alice)


@pytest_asyncio.fixture
async def plain(db_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A ``connect()`` store on scratch tables, on every backend."""
    store = userstore.connect(db_url, table_prefix=f"ac{uuid.uuid4().hex[:8]}_")
    assert isinstance(store, SQLAlchemyStore)
    await store.create_schema()
    try:
        yield store
    finally:
        await store.drop_schema()
        await store.close()


async def test_a_model_listener_that_fails_takes_the_write_with_it(
    plain: SQLAlchemyStore,
) -> None:
    """An ``after_insert`` listener of the application runs SQL that fails: the user's
    INSERT, in the same transaction, is not stored either (on every backend)."""
    store = plain

    def audit(mapper: Any, connection: Any, target: Any) -> None:
        connection.exec_driver_sql("SELECT * FROM no_such_audit_table")

    event.listen(store.models.user, "after_insert", audit)
    try:
        async with store.session() as s:
            with pytest.raises(DatabaseError):
                await s.users.create({"email": "eve@x.io", "hashed_password": "h"})
    finally:
        event.remove(store.models.user, "after_insert", audit)
    assert await count_rows(store.engine, table(store, "user")) == 0


async def test_a_change_held_by_a_detached_user_is_written_with_the_update(
    plain: SQLAlchemyStore,
) -> None:
    """A user from another session, one of whose accounts was changed without a call:
    ``update`` attaches it, so the flush writes the account too, in the same
    transaction; the account's refusal leaves the user's row unchanged as well."""
    store = plain
    async with store.session() as s:
        alice = await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
        alice = await s.users.add_oauth_account(alice, ACCOUNT)
    alice.oauth_accounts[0].oauth_name = None  # NOT NULL: the database refuses it
    async with store.session() as s:
        with pytest.raises(UserStoreError):
            await s.users.update(alice, {"is_verified": True})
    users = table(store, "user")
    assert await count_rows(store.engine, users, id=alice.id, is_verified=False) == 1
