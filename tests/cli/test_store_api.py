"""The store methods the command is built on, on every adapter: paging, counting, purging.

``list_users`` pages by the database's own id order (MariaDB's native UUIDs sort
differently from Python's), so these run on memory and on every SQL backend.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import userstore
from userstore import InvalidUserData, Store, UserStoreError
from userstore.memory import MemoryStore
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.store import discover_models

from ..backends import MAIN_BACKENDS, Backend
from ..conftest import backend_url
from ..sqlalchemy import tutorial

NOW = dt.datetime.now(dt.UTC)
STORE_PARAMS = [
    "memory",
    *(pytest.param(name, marks=pytest.mark.backend(name)) for name in MAIN_BACKENDS),
]


@pytest.fixture(params=STORE_PARAMS)
def store_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """``memory://`` or the URL of a SQL backend's database for this run."""
    if request.param == "memory":
        return "memory://"
    return backend_url(backend_registry, request.param)


@pytest_asyncio.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """A store on fresh tables: memory, or the default models in a SQL backend's database."""
    if store_url == "memory://":
        yield MemoryStore()
        return
    sql = SQLAlchemyStore(store_url, table_prefix=f"api_{uuid.uuid4().hex[:8]}_")
    await sql.create_schema()
    try:
        yield sql
    finally:
        await sql.drop_schema()
        await sql.close()


async def _users(store: Store, count: int) -> list[Any]:
    async with store.session() as s, s.transaction():
        return [
            await s.users.create({"email": f"u{i}@example.com", "hashed_password": "$x$"})
            for i in range(count)
        ]


async def _pages(store: Store, size: int) -> list[list[Any]]:
    pages, after = [], None
    while True:
        async with store.session() as s:
            page = await s.list_users(after=after, limit=size)
        if not page:
            return pages
        pages.append(page)
        after = page[-1].id


async def test_list_users_pages_through_everyone_once(store: Store) -> None:
    created = await _users(store, 10)
    pages = await _pages(store, 3)
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    ids = [u.id for page in pages for u in page]
    assert sorted(map(str, ids)) == sorted(str(u.id) for u in created)
    async with store.session() as s:
        everyone = await s.list_users(limit=100)
    assert [u.id for u in everyone] == ids  # pages follow the one order of a full listing
    assert all(type(u.id) is uuid.UUID for u in everyone)


async def test_list_users_loads_oauth_accounts_in_link_order(store: Store) -> None:
    first, _ = await _users(store, 2)
    async with store.session() as s:
        for name in ("github", "google", "gitlab"):
            account = {"oauth_name": name, "account_id": "1", "account_email": "a@x.io"}
            first = await s.users.add_oauth_account(first, {**account, "access_token": "t"})
    async with store.session() as s:
        listed = {u.email: u for u in await s.list_users(limit=10)}
    accounts = listed["u0@example.com"].oauth_accounts
    assert [a.oauth_name for a in accounts] == ["github", "google", "gitlab"]
    assert listed["u1@example.com"].oauth_accounts == []


async def test_list_users_after_the_last_and_bad_arguments(store: Store) -> None:
    (only,) = await _users(store, 1)
    async with store.session() as s:
        assert await s.list_users(after=only.id) == []
        assert [u.id for u in await s.list_users(after=str(only.id))] == []
        with pytest.raises(InvalidUserData) as error:
            await s.list_users(after="not-an-id")
        assert error.value.field == "after"
        with pytest.raises(InvalidUserData) as error:
            await s.list_users(limit=0)
        assert error.value.field == "limit"


async def test_list_users_with_integer_ids(db_url: str) -> None:
    store = SQLAlchemyStore(db_url, id_type="int", table_prefix=f"int_{uuid.uuid4().hex[:8]}_")
    await store.create_schema()
    try:
        created = await _users(store, 7)
        pages = await _pages(store, 3)
        assert [[u.id for u in page] for page in pages] == [
            [u.id for u in created[:3]],
            [u.id for u in created[3:6]],
            [created[6].id],
        ]
        async with store.session() as s:
            assert [u.id for u in await s.list_users(after=created[4].id)] == [
                created[5].id,
                created[6].id,
            ]
            with pytest.raises(InvalidUserData):
                await s.list_users(after="5")  # an int id is an int
    finally:
        await store.drop_schema()
        await store.close()


async def test_count_and_purge_tokens_in_batches(store: Store) -> None:
    (user,) = await _users(store, 1)
    async with store.session() as s, s.transaction():
        for i in range(23):
            age = dt.timedelta(days=40 + i) if i < 17 else dt.timedelta(minutes=5)
            await s.tokens.create(
                {"token": f"t{i:042}", "user_id": user.id, "created_at": NOW - age}
            )
    cutoff = NOW - dt.timedelta(days=30)
    async with store.session() as s:
        assert await s.count_tokens() == 23
        assert await s.count_tokens(cutoff) == 17
        batches = [n async for n in s.purge_tokens(cutoff, batch_size=5)]
        assert batches == [5, 5, 5, 2]
        assert await s.count_tokens(cutoff) == 0
        assert await s.count_tokens() == 6
        assert [n async for n in s.purge_tokens(cutoff, batch_size=5)] == []
        # the oldest went first: what is left is the newest
        assert await s.tokens.get_by_token(f"t{22:042}") is not None


async def test_purge_deletes_the_oldest_first(store: Store) -> None:
    (user,) = await _users(store, 1)
    async with store.session() as s:
        for i in range(4):
            age = dt.timedelta(days=10 * (i + 1))
            await s.tokens.create(
                {"token": f"o{i:042}", "user_id": user.id, "created_at": NOW - age}
            )
        first = s.purge_tokens(NOW, batch_size=2)
        assert await first.__anext__() == 2
        await first.aclose()  # interrupted after one batch: that batch stays deleted
    async with store.session() as s:
        left = [await s.tokens.get_by_token(f"o{i:042}") for i in range(4)]
    assert [t is not None for t in left] == [True, True, False, False]


async def test_purge_and_count_refuse_bad_arguments(store: Store) -> None:
    async with store.session() as s:
        with pytest.raises(InvalidUserData):
            await s.count_tokens(dt.datetime(2020, 1, 1))  # naive
        with pytest.raises(InvalidUserData):
            _ = [n async for n in s.purge_tokens(NOW, batch_size=0)]
        with pytest.raises(InvalidUserData):
            _ = [n async for n in s.purge_tokens(dt.datetime(2020, 1, 1))]


async def test_purge_joins_a_callers_transaction(store: Store) -> None:
    (user,) = await _users(store, 1)
    async with store.session() as s:
        for i in range(3):
            await s.tokens.create(
                {"token": f"x{i:042}", "user_id": user.id, "created_at": NOW - dt.timedelta(days=9)}
            )
    async with store.session() as s:
        seen: list[int] = []

        async def purge_then_fail() -> None:
            async with s.transaction():
                seen.extend([n async for n in s.purge_tokens(NOW, batch_size=2)])
                raise RuntimeError("roll it all back")

        with pytest.raises(RuntimeError, match="roll it all back"):
            await purge_then_fail()
        assert seen == [2, 1]
    async with store.session() as s:
        assert await s.count_tokens() == 3


# The application's models: connect(url, models=Base) ---------------------------------


def test_discover_models_finds_the_tutorial_classes() -> None:
    found = discover_models(tutorial.Base)
    assert (found.user, found.oauth_account) == (tutorial.User, tutorial.OAuthAccount)
    assert found.access_token is tutorial.AccessToken
    assert found.metadata is tutorial.Base.metadata
    assert found.source.endswith(":Base")
    assert discover_models(tutorial.Base.registry).user is tutorial.User
    with pytest.raises(TypeError, match="not a SQLAlchemy declarative base"):
        discover_models(object())


async def test_connect_with_models_uses_the_applications_tables(db_url: str) -> None:
    store = userstore.connect(db_url, models=tutorial.Base)
    assert isinstance(store, SQLAlchemyStore)
    assert store.id_type == "uuid"
    try:
        await store.create_schema()
        async with store.session() as s:
            user = await s.users.create({"email": "app@example.com", "hashed_password": "$x$"})
            assert isinstance(user, tutorial.User)
            assert [u.id for u in await s.list_users()] == [user.id]
            await s.tokens.create({"token": "a" * 43, "user_id": user.id})
            assert await s.count_tokens() == 1
    finally:
        await store.drop_schema()
        await store.close()


async def test_models_without_a_token_model_refuse_token_calls() -> None:
    from sqlalchemy.orm import DeclarativeBase

    from userstore_sqlalchemy import SQLAlchemyBaseUserTableUUID

    class Base(DeclarativeBase):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        pass

    store = userstore.connect("sqlite://", models=Base)
    try:
        await store.create_schema()
        async with store.session() as s:
            await s.users.create({"email": "a@example.com", "hashed_password": "$x$"})
            assert len(await s.list_users()) == 1
            with pytest.raises(UserStoreError, match="maps no access-token model"):
                await s.count_tokens()
    finally:
        await store.close()
