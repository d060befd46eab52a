"""A key contested by writers waiting on a transaction that then rolls back: one of them wins.

Writers that wait for another transaction's uncommitted email (or OAuth link)
must end as they would have had they come one after another: when the holder
rolls back, exactly one of the waiters stores the key and every other gets
``UserAlreadyExists`` (``OAuthAccountAlreadyLinked``), on every backend.  InnoDB
(MySQL, MariaDB) resolves such waiters with deadlocks (each took a shared lock
on the duplicate; each then wants it exclusive), which the adapter retries.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

import userstore
from userstore_sqlalchemy import SQLAlchemyUserDatabase

from .app import OAuthAccount, User

WAITERS = 9
HOLD_S = 0.5

Write = Callable[[SQLAlchemyUserDatabase[Any, Any], int], Awaitable[Any]]


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def _contest(engine: AsyncEngine, prepare: Write, write: Write) -> Counter[str]:
    """``prepare`` for each writer, the holder's ``write`` left uncommitted, the waiters'."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    for i in range(WAITERS + 1):
        async with sessions() as session:
            await prepare(SQLAlchemyUserDatabase(session, User, OAuthAccount), i)

    async def wait_and_write(i: int) -> str:
        async with sessions() as session:
            try:
                await write(SQLAlchemyUserDatabase(session, User, OAuthAccount), i)
            except (userstore.UserAlreadyExists, userstore.OAuthAccountAlreadyLinked):
                return "taken"
            except Exception as error:
                return f"{type(error).__name__}: {error}"
            return "stored"

    async with sessions() as holder, holder.begin():
        await write(SQLAlchemyUserDatabase(holder, User, OAuthAccount), 0)
        waiters = [asyncio.create_task(wait_and_write(i)) for i in range(1, WAITERS + 1)]
        await asyncio.sleep(HOLD_S)  # every waiter is blocked on the holder's key by now
        await holder.rollback()
    return Counter(await asyncio.gather(*waiters))


async def test_email_changes_waiting_on_a_rolled_back_change(engine: AsyncEngine) -> None:
    target, emails = _email("target"), [_email(f"user{i}") for i in range(WAITERS + 1)]

    async def register(users: SQLAlchemyUserDatabase[Any, Any], i: int) -> None:
        await users.create({"email": emails[i], "hashed_password": "h"})

    async def move(users: SQLAlchemyUserDatabase[Any, Any], i: int) -> None:
        user = await users.get_by_email(emails[i])
        await users.update(user, {"email": target.upper() if i % 2 else target})

    assert await _contest(engine, register, move) == {"stored": 1, "taken": WAITERS - 1}
    async with async_sessionmaker(engine)() as session:
        assert await SQLAlchemyUserDatabase(session, User).get_by_email(target) is not None


async def test_registrations_waiting_on_a_rolled_back_registration(engine: AsyncEngine) -> None:
    email = _email("racer")

    async def nothing(users: SQLAlchemyUserDatabase[Any, Any], i: int) -> None:
        pass

    async def register(users: SQLAlchemyUserDatabase[Any, Any], i: int) -> None:
        await users.create({"email": email.upper() if i % 2 else email, "hashed_password": "h"})

    assert await _contest(engine, nothing, register) == {"stored": 1, "taken": WAITERS - 1}


async def test_links_waiting_on_a_rolled_back_link(engine: AsyncEngine) -> None:
    emails, account_id = [_email(f"user{i}") for i in range(WAITERS + 1)], uuid.uuid4().hex

    async def register(users: SQLAlchemyUserDatabase[Any, Any], i: int) -> None:
        await users.create({"email": emails[i], "hashed_password": "h"})

    async def link(users: SQLAlchemyUserDatabase[Any, Any], i: int) -> None:
        user = await users.get_by_email(emails[i])
        account = {"oauth_name": "fake", "access_token": "at", "account_id": account_id}
        await users.add_oauth_account(user, {**account, "account_email": emails[i]})

    assert await _contest(engine, register, link) == {"stored": 1, "taken": WAITERS - 1}
