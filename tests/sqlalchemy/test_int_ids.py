"""The tutorial's integer-id variant: with and without ON DELETE CASCADE on the foreign keys.

Declared with the tutorial's legacy ``Column`` / ``declared_attr`` style.  Without
``ondelete`` the database would refuse to delete a user that still has accounts
or tokens; the adapter must remove them itself.
"""

import types
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from userstore import InvalidUserData, OAuthAccountAlreadyLinked, UserNotFound
from userstore_sqlalchemy import SQLAlchemyAccessTokenDatabase, SQLAlchemyUserDatabase

from .tutorial import tutorial_int_models

VARIANTS = {"cascade": tutorial_int_models("cascade"), "no-ondelete": tutorial_int_models(None)}


@pytest.fixture(params=list(VARIANTS))
def models(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    return VARIANTS[request.param]


@pytest.fixture
def metadata(models: types.SimpleNamespace) -> MetaData:
    return models.metadata


def test_variants_differ_only_by_ondelete() -> None:
    for name, expected in [("cascade", "cascade"), ("no-ondelete", None)]:
        models = VARIANTS[name]
        for table in (models.OAuthAccount.__table__, models.AccessToken.__table__):
            (fk,) = table.foreign_keys
            assert fk.ondelete == expected
            assert fk.column is models.User.__table__.c.id


@pytest.mark.usefixtures("tables")
async def test_int_ids_round_trip(engine: AsyncEngine, models: types.SimpleNamespace) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        first = await users.create({"email": "one@example.com", "hashed_password": "h"})
        second = await users.create({"email": "two@example.com", "hashed_password": "h"})
        assert type(first.id) is int
        assert type(second.id) is int
        assert second.id > first.id
        await users.add_oauth_account(
            first,
            {
                "oauth_name": "github",
                "account_id": "7",
                "account_email": "one@example.com",
                "access_token": "a",
            },
        )
        assert type(first.oauth_accounts[0].id) is int
        with pytest.raises(OAuthAccountAlreadyLinked):
            await users.add_oauth_account(
                second,
                {
                    "oauth_name": "github",
                    "account_id": "7",
                    "account_email": "two@example.com",
                    "access_token": "b",
                },
            )
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        found = await users.get(first.id)
        assert found is not None
        assert found.email == "one@example.com"
        assert (await users.get_by_oauth_account("github", "7")).id == first.id
        assert await users.get(2**70) is None
        with pytest.raises(InvalidUserData):
            await users.create({"email": "x@example.com", "hashed_password": "h", "id": "3"})


async def count_rows(session: AsyncSession, model: Any, user_id: int) -> int:
    result = await session.execute(
        select(func.count()).select_from(model).where(model.user_id == user_id)
    )
    return int(result.scalar_one())


@pytest.mark.usefixtures("tables")
@pytest.mark.parametrize("expire_on_commit", [False, True])
async def test_delete_removes_accounts_and_tokens(
    engine: AsyncEngine, models: types.SimpleNamespace, expire_on_commit: bool
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=expire_on_commit)
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
        doomed = await users.create({"email": "doomed@example.com", "hashed_password": "h"})
        kept = await users.create({"email": "kept@example.com", "hashed_password": "h"})
        for user, name in [(doomed, "github"), (doomed, "google"), (kept, "gitlab")]:
            await users.add_oauth_account(
                user,
                {
                    "oauth_name": name,
                    "account_id": user.email,
                    "account_email": user.email,
                    "access_token": "a",
                },
            )
        await tokens.create({"token": "d" * 43, "user_id": doomed.id})
        await tokens.create({"token": "e" * 43, "user_id": doomed.id})
        await tokens.create({"token": "k" * 43, "user_id": kept.id})
        doomed_id, kept_id = doomed.id, kept.id

        await users.delete(doomed)
        with pytest.raises(UserNotFound):
            await users.delete(doomed)

    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        assert await users.get(doomed_id) is None
        assert await count_rows(session, models.OAuthAccount, doomed_id) == 0
        assert await count_rows(session, models.AccessToken, doomed_id) == 0
        assert await count_rows(session, models.OAuthAccount, kept_id) == 1
        assert await count_rows(session, models.AccessToken, kept_id) == 1
        survivor = await users.get(kept_id)
        assert survivor is not None
        assert [a.oauth_name for a in survivor.oauth_accounts] == ["gitlab"]


def new_user(models: types.SimpleNamespace, email: str) -> Any:
    return models.User(email=email, hashed_password="h")


@pytest.mark.usefixtures("tables")
async def test_ids_of_rolled_back_creates_are_not_reused(
    engine: AsyncEngine, models: types.SimpleNamespace
) -> None:
    """Rolled back by the application's own session: whole transactions and savepoints."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    handed_out: list[int] = []
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        # the first user ever, created by the adapter inside the application's transaction
        await session.begin()
        handed_out.append(
            (await users.create({"email": "a@example.com", "hashed_password": "h"})).id
        )
        await session.rollback()
        kept = await users.create({"email": "kept@example.com", "hashed_password": "h"})
        handed_out.append(kept.id)
        # the application's own object, flushed, then rolled back
        mine = new_user(models, "b@example.com")
        session.add(mine)
        await session.flush()
        handed_out.append(mine.id)
        await session.rollback()
        # a savepoint rolled back inside a transaction that goes on and commits
        async with session.begin():
            savepoint = await session.begin_nested()
            lost = await users.create({"email": "c@example.com", "hashed_password": "h"})
            handed_out.append(lost.id)
            await savepoint.rollback()
            inner = new_user(models, "d@example.com")
            session.add(inner)
            await session.flush()
            handed_out.append(inner.id)
        # a savepoint rolled back, then the whole transaction
        await session.begin()
        savepoint = await session.begin_nested()
        lost = await users.create({"email": "e@example.com", "hashed_password": "h"})
        handed_out.append(lost.id)
        await savepoint.rollback()
        lost = await users.create({"email": "f@example.com", "hashed_password": "h"})
        handed_out.append(lost.id)
        await session.rollback()
        handed_out.append(
            (await users.create({"email": "g@example.com", "hashed_password": "h"})).id
        )
    assert handed_out == sorted(set(handed_out)), f"an id was handed out twice: {handed_out}"
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        emails = {u.email for u in [await users.get(i) for i in handed_out] if u is not None}
        assert emails == {"kept@example.com", "d@example.com", "g@example.com"}


@pytest.mark.usefixtures("tables")
async def test_ids_of_deleted_users_are_not_reused(
    engine: AsyncEngine, models: types.SimpleNamespace
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        first = await users.create({"email": "first@example.com", "hashed_password": "h"})
        last = await users.create({"email": "last@example.com", "hashed_password": "h"})
        await users.delete(last)
        mine = new_user(models, "mine@example.com")
        session.add(mine)
        await session.commit()
        assert first.id < last.id < mine.id
