"""FastAPI Users' SQLAlchemy tutorial, with only the import changed, on every backend.

The engine is a plain ``create_async_engine(url)`` and sessions come from
``async_sessionmaker(engine, expire_on_commit=...)``: no userstore helper.
"""

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from userstore import email_key
from userstore_sqlalchemy import SQLAlchemyAccessTokenDatabase, SQLAlchemyUserDatabase

from .conftest import StatementLog
from .tutorial import AccessToken, OAuthAccount, User

pytestmark = pytest.mark.usefixtures("tables")

ACCOUNT = {
    "oauth_name": "google",
    "account_id": "1001",
    "account_email": "king.arthur@camelot.bt",
    "access_token": "ya29." + "a" * 1500,
    "expires_at": 1_900_000_000,
    "refresh_token": "1//refresh",
}
TOKEN = "x" * 43


@pytest.fixture(params=[False, True], ids=["expire_on_commit=False", "expire_on_commit=True"])
def sessions(
    request: pytest.FixtureRequest, engine: AsyncEngine
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=request.param)


def databases(session: AsyncSession) -> tuple[Any, Any]:
    return (
        SQLAlchemyUserDatabase(session, User, OAuthAccount),
        SQLAlchemyAccessTokenDatabase(session, AccessToken),
    )


async def count(session: AsyncSession, model: Any, user_id: uuid.UUID) -> int:
    result = await session.execute(
        select(func.count()).select_from(model).where(model.user_id == user_id)
    )
    return int(result.scalar_one())


async def test_tutorial_flow(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        users, tokens = databases(session)
        user = await users.create({"email": "King.Arthur@Camelot.bt", "hashed_password": "h"})
        assert type(user.id) is uuid.UUID
        assert (user.email, user.is_active, user.is_superuser, user.is_verified) == (
            "King.Arthur@Camelot.bt",
            True,
            False,
            False,
        )
        assert user.oauth_accounts == []
        user_id = user.id

        found = await users.get_by_email("king.arthur@CAMELOT.BT")
        assert found is not None
        assert found.id == user_id
        assert found.email == "King.Arthur@Camelot.bt"

        user = await users.add_oauth_account(user, ACCOUNT)
        assert [(a.oauth_name, a.account_id) for a in user.oauth_accounts] == [("google", "1001")]
        assert user.oauth_accounts[0].access_token == ACCOUNT["access_token"]

        user = await users.update(user, {"is_verified": True, "hashed_password": "h2"})
        assert user.is_verified is True

        token = await tokens.create({"token": TOKEN, "user_id": user_id})
        assert token.user_id == user_id

    async with sessions() as session:
        users, tokens = databases(session)
        linked = await users.get_by_oauth_account("google", "1001")
        assert linked is not None
        assert linked.id == user_id
        assert (linked.is_verified, linked.hashed_password) == (True, "h2")
        (account,) = linked.oauth_accounts
        assert (account.account_email, account.expires_at, account.refresh_token) == (
            "king.arthur@camelot.bt",
            1_900_000_000,
            "1//refresh",
        )
        assert account.access_token == ACCOUNT["access_token"]
        assert await users.get_by_oauth_account("Google", "1001") is None
        stored = await tokens.get_by_token(TOKEN)
        assert stored is not None
        assert stored.user_id == user_id

        await users.delete(linked)
        assert await users.get(user_id) is None
        assert await users.get_by_email("king.arthur@camelot.bt") is None
        assert await users.get_by_oauth_account("google", "1001") is None
        assert await tokens.get_by_token(TOKEN) is None

    async with sessions() as session:
        assert await count(session, OAuthAccount, user_id) == 0
        assert await count(session, AccessToken, user_id) == 0


# Returned users stay readable, without I/O, once the session is closed -------------------


def read_everything(user: Any) -> dict[str, Any]:
    """Every column of the user and of each linked account (raises if one needs a load)."""
    values = {attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs}
    values["oauth_accounts"] = [
        {attr.key: getattr(account, attr.key) for attr in inspect(OAuthAccount).column_attrs}
        for account in user.oauth_accounts
    ]
    return values


def assert_readable_without_io(user: Any, log: StatementLog, expected: dict[str, Any]) -> None:
    with log.measure() as sent:
        values = read_everything(user)
    assert sent == []
    for key, value in expected.items():
        assert values[key] == value, key
    assert values["email_key"] == email_key(values["email"])
    for account in values["oauth_accounts"]:
        assert account["user_id"] == values["id"]


async def test_created_user_is_readable_after_close(
    sessions: async_sessionmaker[AsyncSession], log: StatementLog
) -> None:
    async with sessions() as session:
        users, _ = databases(session)
        user = await users.create({"email": "Lancelot@Camelot.bt", "hashed_password": "h"})
    assert_readable_without_io(
        user, log, {"email": "Lancelot@Camelot.bt", "is_active": True, "oauth_accounts": []}
    )


async def test_updated_user_is_readable_after_close(
    sessions: async_sessionmaker[AsyncSession], log: StatementLog
) -> None:
    async with sessions() as session:
        users, _ = databases(session)
        user = await users.create({"email": "Lancelot@Camelot.bt", "hashed_password": "h"})
        user = await users.add_oauth_account(user, ACCOUNT)
        user = await users.update(user, {"email": "Galahad@Camelot.bt", "is_superuser": True})
    assert_readable_without_io(
        user, log, {"email": "Galahad@Camelot.bt", "is_superuser": True, "hashed_password": "h"}
    )
    assert [a.account_id for a in user.oauth_accounts] == ["1001"]


async def test_user_with_linked_accounts_is_readable_after_close(
    sessions: async_sessionmaker[AsyncSession], log: StatementLog
) -> None:
    async with sessions() as session:
        users, _ = databases(session)
        user = await users.create({"email": "Percival@Camelot.bt", "hashed_password": "h"})
        user = await users.add_oauth_account(user, ACCOUNT)
        user = await users.add_oauth_account(user, {**ACCOUNT, "oauth_name": "github"})
    assert_readable_without_io(user, log, {"email": "Percival@Camelot.bt"})
    assert [a.oauth_name for a in user.oauth_accounts] == ["google", "github"]


@pytest.mark.parametrize("lookup", ["get", "get_by_email", "get_by_oauth_account"])
async def test_looked_up_user_is_readable_after_close(
    sessions: async_sessionmaker[AsyncSession], log: StatementLog, lookup: str
) -> None:
    async with sessions() as session:
        users, _ = databases(session)
        user = await users.create({"email": "Gawain@Camelot.bt", "hashed_password": "h"})
        await users.add_oauth_account(user, ACCOUNT)
        await users.add_oauth_account(user, {**ACCOUNT, "oauth_name": "github"})
        user_id = user.id
    async with sessions() as session:
        users, _ = databases(session)
        arguments = {
            "get": (user_id,),
            "get_by_email": ("GAWAIN@camelot.bt",),
            "get_by_oauth_account": ("github", "1001"),
        }[lookup]
        found = await getattr(users, lookup)(*arguments)
    assert found is not None
    assert_readable_without_io(found, log, {"id": user_id, "email": "Gawain@Camelot.bt"})
    assert [a.oauth_name for a in found.oauth_accounts] == ["google", "github"]


async def test_created_token_is_readable_after_close(
    sessions: async_sessionmaker[AsyncSession], log: StatementLog
) -> None:
    async with sessions() as session:
        users, tokens = databases(session)
        user = await users.create({"email": "Bors@Camelot.bt", "hashed_password": "h"})
        token = await tokens.create({"token": TOKEN, "user_id": user.id})
    with log.measure() as sent:
        values = (token.token, token.user_id, token.created_at)
    assert sent == []
    assert values[:2] == (TOKEN, user.id)
    assert values[2].utcoffset() == dt.timedelta(0)


async def test_earlier_results_stay_readable_after_later_writes(
    sessions: async_sessionmaker[AsyncSession], log: StatementLog
) -> None:
    """FastAPI Users' login: the user it holds is read again after the token's commit."""
    async with sessions() as session:
        users, tokens = databases(session)
        first = await users.create({"email": "Tristan@Camelot.bt", "hashed_password": "h"})
        first = await users.add_oauth_account(first, ACCOUNT)
        second = await users.create({"email": "Isolde@Camelot.bt", "hashed_password": "h"})
        await tokens.create({"token": TOKEN, "user_id": first.id})
        await users.update(second, {"is_verified": True})
        with log.measure() as sent:
            read_first, read_second = read_everything(first), read_everything(second)
        assert sent == []
    assert read_first["email"] == "Tristan@Camelot.bt"
    assert [a["account_id"] for a in read_first["oauth_accounts"]] == ["1001"]
    assert (read_second["email"], read_second["is_verified"]) == ("Isolde@Camelot.bt", True)
    assert_readable_without_io(first, log, {"email": "Tristan@Camelot.bt"})
