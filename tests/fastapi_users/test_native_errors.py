"""Without any wrapper, the adapters raise errors FastAPI Users' routers answer with a 4xx.

Once FastAPI Users is imported, ``UserAlreadyExists``, ``UserNotFound`` and
``OAuthAccountAlreadyLinked`` are created as ``userstore.fastapi_users``'
classes: FastAPI Users' own exceptions (or an HTTP 400/404) and userstore's at
once.  Checked on the SQLAlchemy adapter on every backend, and on the memory
adapter; a process that never imports FastAPI Users gets the plain classes and
never loads it.
"""

import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from fastapi_users import exceptions as fastapi_users_exceptions
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.exceptions import HTTPException

import userstore
from userstore import fastapi_users as integration
from userstore_sqlalchemy import SQLAlchemyUserDatabase
from userstore_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase

from .app import AccessToken, OAuthAccount, User


def _account(account_id: str) -> dict[str, Any]:
    return {
        "oauth_name": "fake",
        "access_token": "at",
        "account_id": account_id,
        "account_email": "linked@example.com",
    }


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


@pytest_asyncio.fixture
async def sqlalchemy_databases(engine: AsyncEngine) -> AsyncIterator[tuple[Any, Any]]:
    """The SQLAlchemy adapter's user and access-token databases, unwrapped, on one backend."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield (
            SQLAlchemyUserDatabase(session, User, OAuthAccount),
            SQLAlchemyAccessTokenDatabase(session, AccessToken),
        )


@pytest_asyncio.fixture
async def memory_databases() -> AsyncIterator[tuple[Any, Any]]:
    """The memory adapter's user and access-token databases."""
    async with userstore.connect("memory://").session() as session:
        yield session.users, session.tokens


async def _taken_email_is_user_already_exists(
    databases: tuple[Any, Any],
) -> None:
    users, _ = databases
    taken = _email("Taken")
    await users.create({"email": taken, "hashed_password": "h"})
    with pytest.raises(fastapi_users_exceptions.UserAlreadyExists) as created:
        await users.create({"email": taken.upper(), "hashed_password": "h"})
    mine = await users.create({"email": _email("mine"), "hashed_password": "h"})
    with pytest.raises(fastapi_users_exceptions.UserAlreadyExists) as updated:
        await users.update(mine, {"email": taken.lower()})
    for raised in (created, updated):
        assert isinstance(raised.value, userstore.UserAlreadyExists)
        assert type(raised.value) is integration.UserAlreadyExists
        assert raised.value.__cause__ is None  # the driver's error (with the email) is not kept


async def _vanished_user_is_user_not_exists(
    databases: tuple[Any, Any],
) -> None:
    users, tokens = databases
    user = await users.create({"email": _email("gone"), "hashed_password": "h"})
    await users.delete(user)
    for write in (
        users.update(user, {"is_active": False}),
        users.delete(user),
        users.add_oauth_account(user, _account(uuid.uuid4().hex)),
        tokens.create({"token": uuid.uuid4().hex, "user_id": user.id}),
    ):
        with pytest.raises(fastapi_users_exceptions.UserNotExists) as raised:
            await write
        assert isinstance(raised.value, userstore.UserNotFound)
        assert isinstance(raised.value, HTTPException)
        assert (raised.value.status_code, raised.value.detail) == (404, "Not Found")


async def _linked_account_is_an_http_400(databases: tuple[Any, Any]) -> None:
    users, _ = databases
    account = _account(uuid.uuid4().hex)
    first = await users.create({"email": _email("first"), "hashed_password": "h"})
    second = await users.create({"email": _email("second"), "hashed_password": "h"})
    await users.add_oauth_account(first, account)
    with pytest.raises(userstore.OAuthAccountAlreadyLinked) as raised:
        await users.add_oauth_account(second, account)
    assert isinstance(raised.value, HTTPException)  # the associate router catches nothing
    assert raised.value.status_code == 400
    assert raised.value.detail == "OAUTH_ACCOUNT_ALREADY_LINKED"
    # not a FastAPI Users exception: no user already exists, and the login router would
    # answer OAUTH_USER_ALREADY_EXISTS for it
    assert not isinstance(raised.value, fastapi_users_exceptions.FastAPIUsersException)


def test_the_messages_are_userstores() -> None:
    for error in (userstore.UserNotFound("gone"), userstore.OAuthAccountAlreadyLinked("linked")):
        assert isinstance(error, HTTPException)
        assert str(error) in ("gone", "linked")
        assert repr(error) == f"{type(error).__name__}({str(error)!r})"


PROBE = """\
import asyncio, json, sys
import userstore
from userstore import _errors

async def duplicate():
    store = userstore.connect("memory://")
    async with store.session() as session:
        await session.users.create({"email": "a@example.com", "hashed_password": "h"})
        try:
            await session.users.create({"email": "A@example.com", "hashed_password": "h"})
        except userstore.UserAlreadyExists as error:
            return type(error)

before = asyncio.run(duplicate())
loaded_before = "fastapi_users" in sys.modules or "userstore.fastapi_users" in sys.modules
resolved_before = _errors._framework_classes is not None
import fastapi_users.exceptions
after = asyncio.run(duplicate())
print(json.dumps({
    "before": f"{before.__module__}.{before.__name__}",
    "loaded_before": loaded_before,
    "resolved_before": resolved_before,
    "after": f"{after.__module__}.{after.__name__}",
    "is_theirs": issubclass(after, fastapi_users.exceptions.UserAlreadyExists),
}))
"""


def test_fastapi_users_is_used_only_once_imported_and_never_imported_by_userstore() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "before": "userstore.UserAlreadyExists",
        "loaded_before": False,
        "resolved_before": False,
        "after": "userstore.fastapi_users.UserAlreadyExists",
        "is_theirs": True,
    }


async def test_sqlalchemy_taken_email_is_user_already_exists(
    sqlalchemy_databases: tuple[Any, Any],
) -> None:
    await _taken_email_is_user_already_exists(sqlalchemy_databases)


async def test_memory_taken_email_is_user_already_exists(
    memory_databases: tuple[Any, Any],
) -> None:
    await _taken_email_is_user_already_exists(memory_databases)


async def test_sqlalchemy_vanished_user_is_user_not_exists(
    sqlalchemy_databases: tuple[Any, Any],
) -> None:
    await _vanished_user_is_user_not_exists(sqlalchemy_databases)


async def test_memory_vanished_user_is_user_not_exists(
    memory_databases: tuple[Any, Any],
) -> None:
    await _vanished_user_is_user_not_exists(memory_databases)


async def test_sqlalchemy_linked_account_is_an_http_400(
    sqlalchemy_databases: tuple[Any, Any],
) -> None:
    await _linked_account_is_an_http_400(sqlalchemy_databases)


async def test_memory_linked_account_is_an_http_400(
    memory_databases: tuple[Any, Any],
) -> None:
    await _linked_account_is_an_http_400(memory_databases)
