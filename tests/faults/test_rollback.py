"""The reference case of the fault tests: a block that fails by the application's own error.

Without any fault, a transaction block that raises leaves the objects it touched
readable with their committed values, as after a lost connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event

from userstore import UserStoreError
from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .conftest import objects_stay_readable

ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1001",
    "account_email": "new@github.example",
    "access_token": "gho_1",
}


class AppError(Exception):
    """The application's own failure inside the block."""


@pytest_asyncio.fixture
async def any_store(db_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A store on scratch tables of each backend."""
    async with SQLAlchemyHarness(db_url).open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        yield opened


@pytest.mark.parametrize("at_commit", [False, True], ids=["then-a-call", "at-the-end"])
async def test_objects_stay_readable_after_the_block_raised(
    any_store: SQLAlchemyStore, at_commit: bool
) -> None:
    async def fail(s: Any) -> None:
        raise AppError

    await objects_stay_readable(any_store, fail, at_commit=at_commit, raises=AppError)


async def _inner_block_fails(s: Any, users: list[Any]) -> list[Any]:
    """A SAVEPOINT block changing every user of ``users`` its own way, then raising AppError.

    ``users``: one loaded in the session, one from another session, one to load inside
    the block, one to load and change without a flush.  Returns the objects the block
    loaded and the user it created.
    """
    before, second, third, fourth = users
    touched: list[Any] = []

    async def block() -> None:
        async with s.transaction():
            await s.users.update(before, {"is_superuser": True, "email": "changed@x.io"})
            await s.users.remove_oauth_account(second, second.oauth_accounts[0])
            await s.users.add_oauth_account(second, ACCOUNT)
            inside = await s.users.get(third.id)
            await s.users.update(inside, {"is_superuser": True})
            created = await s.users.create({"email": "new@x.io", "hashed_password": "h"})
            created = await s.users.add_oauth_account(created, {**ACCOUNT, "account_id": "2"})
            loaded = await s.users.get(fourth.id)
            touched.extend([inside, loaded, created])
            before.hashed_password = "never flushed"
            loaded.is_verified = True
            raise AppError

    with pytest.raises(AppError):
        await block()
    return touched


async def _four_users(store: SQLAlchemyStore) -> list[Any]:
    async with store.session() as s:
        return [
            await s.users.create({"email": f"{n}@x.io", "hashed_password": "h"})
            for n in ("first", "second", "third", "fourth")
        ]


async def test_objects_stay_readable_after_an_inner_block_raised(
    any_store: SQLAlchemyStore,
) -> None:
    first, second, third, fourth = await _four_users(any_store)
    async with any_store.session() as s:
        before = await s.users.get(first.id)
        assert before is not None
        async with s.transaction():
            await s.users.update(before, {"is_verified": True})  # the outer block's own
            await s.users.add_oauth_account(second, {**ACCOUNT, "account_id": "0"})
            inside, loaded, created = await _inner_block_fails(s, [before, second, third, fourth])
            # the values of the outer block at the inner one's start, read without I/O
            assert (before.email, before.is_verified, before.is_superuser) == (
                "first@x.io",
                True,
                False,
            )
            assert before.hashed_password == "h"
            assert before.oauth_accounts == []
            assert [a.account_id for a in second.oauth_accounts] == ["0"]
            assert (inside.email, inside.is_superuser) == ("third@x.io", False)
            assert (loaded.email, loaded.is_verified) == ("fourth@x.io", False)
            assert created.email == "new@x.io"
            assert await s.users.get_by_email("new@x.io") is None
            # the outer block goes on with the same objects
            await s.users.update(before, {"is_active": False})
            await s.users.update(inside, {"is_verified": True})
            await s.users.add_oauth_account(second, ACCOUNT)
        assert (before.is_verified, before.is_active, before.is_superuser) == (True, False, False)
    async with any_store.session() as s:
        found = [await s.users.get(u.id) for u in (first, second, third, fourth)]
        assert [(u.email, u.is_verified, u.is_active, u.is_superuser) for u in found if u] == [
            ("first@x.io", True, False, False),
            ("second@x.io", False, True, False),
            ("third@x.io", True, True, False),
            ("fourth@x.io", False, True, False),
        ]
        assert [len(u.oauth_accounts) for u in found if u] == [0, 2, 0, 0]
        assert await s.users.get_by_email("new@x.io") is None
        assert await s.users.get_by_email("changed@x.io") is None


async def test_objects_stay_readable_after_the_outer_block_raised_past_an_inner_one(
    any_store: SQLAlchemyStore,
) -> None:
    first, second, _, _ = await _four_users(any_store)
    async with any_store.session() as s:
        before = await s.users.get(first.id)
        assert before is not None
        holder: list[Any] = []

        async def block() -> None:
            async with s.transaction():
                await s.users.update(before, {"is_verified": True})
                async with s.transaction():
                    await s.users.update(before, {"is_superuser": True})
                    await s.users.add_oauth_account(second, ACCOUNT)
                    holder.append(
                        await s.users.create({"email": "new@x.io", "hashed_password": "h"})
                    )
                raise AppError

        with pytest.raises(AppError):
            await block()
        assert (before.is_verified, before.is_superuser) == (False, False)
        assert second.oauth_accounts == []
        assert holder[0].email == "new@x.io"
        assert await s.users.get_by_email("new@x.io") is None


async def test_an_inner_block_that_cannot_be_rolled_back_dooms_the_outer_one(
    any_store: SQLAlchemyStore,
) -> None:
    """ROLLBACK TO SAVEPOINT fails: the inner block's writes may be in the transaction still.

    The failure is raised from the inner block; if the caller goes on, the outer
    block's end raises ``UserStoreError`` and rolls everything back instead of
    committing the writes the inner block should have lost.
    """
    engine = any_store.engine.sync_engine
    failures = [RuntimeError("ROLLBACK TO SAVEPOINT failed")]

    def rollback_savepoint(connection: Any, name: Any, context: Any) -> None:
        if failures:
            raise failures.pop()

    async with any_store.session() as s:

        async def inner() -> None:
            async with s.transaction():
                await s.users.create({"email": "bob@x.io", "hashed_password": "h"})
                raise AppError

        async def outer() -> None:
            async with s.transaction():
                await s.users.create({"email": "alice@x.io", "hashed_password": "h"})
                event.listen(engine, "rollback_savepoint", rollback_savepoint)
                try:
                    with pytest.raises(RuntimeError, match="ROLLBACK TO SAVEPOINT"):
                        await inner()
                finally:
                    event.remove(engine, "rollback_savepoint", rollback_savepoint)
                await s.users.create({"email": "carol@x.io", "hashed_password": "h"})

        with pytest.raises(UserStoreError, match="nothing committed"):
            await outer()
        assert await s.users.get_by_email("bob@x.io") is None
        assert await s.users.get_by_email("alice@x.io") is None
        async with s.transaction():  # the next transaction commits as usual
            await s.users.create({"email": "dave@x.io", "hashed_password": "h"})
    async with any_store.session() as s:
        emails = ("alice@x.io", "bob@x.io", "carol@x.io", "dave@x.io")
        found = [e for e in emails if await s.users.get_by_email(e) is not None]
        assert found == ["dave@x.io"]


@pytest.mark.parametrize("first", ["nothing", "a-lookup"])
async def test_an_inner_block_writing_first_commits_nothing_on_its_own(
    any_store: SQLAlchemyStore, first: str
) -> None:
    """The outer block has not written yet: releasing the SAVEPOINT still commits nothing.

    (SQLite's driver defers BEGIN to the first write; a SAVEPOINT outside a BEGIN
    would open a transaction of its own, which RELEASE commits.)
    """
    async with any_store.session() as s, any_store.session() as reader:
        await s.users.get_by_email("nobody@x.io")  # lookups before: the autobegun read

        async def block() -> None:
            async with s.transaction():
                if first == "a-lookup":
                    await s.users.get_by_email("nobody@x.io")
                async with s.transaction():
                    await s.users.create({"email": "bob@x.io", "hashed_password": "h"})
                assert await reader.users.get_by_email("bob@x.io") is None
                raise AppError

        with pytest.raises(AppError):
            await block()
        assert await reader.users.get_by_email("bob@x.io") is None
        assert await s.users.get_by_email("bob@x.io") is None
