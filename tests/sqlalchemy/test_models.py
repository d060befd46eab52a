"""The table mixins: ``email_key`` follows ``email`` however the email is set."""

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from userstore import email_key
from userstore_sqlalchemy import SQLAlchemyUserDatabase

from .tutorial import OAuthAccount, User

pytestmark = pytest.mark.usefixtures("tables")


@pytest.fixture(params=[False, True], ids=["expire_on_commit=False", "expire_on_commit=True"])
def sessions(
    request: pytest.FixtureRequest, engine: AsyncEngine
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=request.param)


async def stored_keys(engine: AsyncEngine) -> dict[str, str]:
    """email -> email_key, as the table holds them."""
    async with engine.connect() as connection:
        rows = await connection.execute(select(User.__table__.c.email, User.__table__.c.email_key))
        return {row.email: row.email_key for row in rows}


def user_db(session: AsyncSession) -> Any:
    return SQLAlchemyUserDatabase(session, User, OAuthAccount)


@pytest.mark.parametrize(
    ("new_email", "lookup"),
    [("New@X.io", "new@x.io"), ("Straße@Example.DE", "STRASSE@example.de")],
)
async def test_email_set_on_the_model_updates_the_key(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], new_email: str, lookup: str
) -> None:
    async with sessions() as session:
        user = await user_db(session).create({"email": "old@x.io", "hashed_password": "h"})
        user.email = new_email
        await session.commit()

    assert await stored_keys(engine) == {new_email: email_key(new_email)}
    async with sessions() as session:
        users = user_db(session)
        found = await users.get_by_email(lookup)
        assert found is not None
        assert found.email == new_email
        assert await users.get_by_email("old@x.io") is None


async def test_user_added_straight_to_the_session_gets_its_key(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        session.add(User(email="Direct@X.io", hashed_password="h"))
        await session.commit()

    assert await stored_keys(engine) == {"Direct@X.io": "direct@x.io"}
    async with sessions() as session:
        found = await user_db(session).get_by_email("DIRECT@x.io")
        assert found is not None
        assert found.email == "Direct@X.io"


async def test_a_stale_key_set_by_hand_is_overwritten(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        user = await user_db(session).create({"email": "a@x.io", "hashed_password": "h"})
        user.email = "B@X.io"
        user.email_key = "a@x.io"
        await session.commit()

    assert await stored_keys(engine) == {"B@X.io": "b@x.io"}
