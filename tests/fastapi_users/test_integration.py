"""``userstore.fastapi_users``: the translation table, the database wrapper, the handlers.

The wrapper and handlers are checked on the memory adapter and a bare FastAPI
app; the user manager's OAuth methods on the SQLAlchemy adapter, on every backend.
"""

import inspect
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from fastapi_users import exceptions as fastapi_users_exceptions
from fastapi_users.db import BaseUserDatabase as FastAPIUsersBaseUserDatabase
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

import userstore
from userstore import fastapi_users as integration
from userstore_sqlalchemy import SQLAlchemyUserDatabase

from .app import PASSWORDS, OAuthAccount, User, UserCreate, UserManager

Users = integration.FastAPIUsersDatabase[Any, Any]
ACCOUNT = {
    "oauth_name": "fake",
    "access_token": "at",
    "account_id": "42",
    "account_email": "linked@example.com",
}


# -- packaging -------------------------------------------------------------------------

PROBE = """\
import json, sys
import userstore, userstore.testing
userstore.connect("memory://")
print(json.dumps(sorted(sys.modules)))
"""


def test_import_userstore_never_imports_the_integration_or_fastapi_users() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "userstore.fastapi_users" not in loaded
    assert {name.partition(".")[0] for name in loaded}.isdisjoint({"fastapi_users", "fastapi"})


def test_the_public_names_are_exactly_all_and_documented() -> None:
    assert set(integration.__all__) == {
        "ErrorCode",
        "FastAPIUsersDatabase",
        "OAuthAccountAlreadyLinked",
        "UserAlreadyExists",
        "UserNotExists",
        "add_exception_handlers",
        "translate_errors",
    }
    for name in integration.__all__:
        obj = getattr(integration, name)
        assert (obj.__doc__ or "").strip(), name
        for attr, member in vars(obj).items() if isinstance(obj, type) else ():
            if not attr.startswith("_") and inspect.isfunction(member):
                assert (member.__doc__ or "").strip(), f"{name}.{attr}"


def test_the_translation_table_names_every_userstore_error() -> None:
    errors = {
        obj
        for obj in vars(userstore).values()
        if isinstance(obj, type) and issubclass(obj, userstore.UserStoreError)
    }
    assert set(integration._TRANSLATIONS) == errors - {userstore.UserStoreError}


@pytest.mark.parametrize(
    ("ours", "theirs", "userstores"),
    [
        (
            integration.UserAlreadyExists,
            fastapi_users_exceptions.UserAlreadyExists,
            userstore.UserAlreadyExists,
        ),
        (integration.UserNotExists, fastapi_users_exceptions.UserNotExists, userstore.UserNotFound),
    ],
)
def test_translated_errors_are_both_libraries_errors(
    ours: type[Exception], theirs: type[Exception], userstores: type[Exception]
) -> None:
    assert issubclass(ours, theirs)
    assert issubclass(ours, userstores)


class _ThirdPartyTaken(userstore.UserAlreadyExists):
    """A third-party adapter's own subclass: not created as the integration's class."""


def test_translate_errors_wraps_other_adapters_errors_once() -> None:
    original = _ThirdPartyTaken("taken")
    assert not isinstance(original, fastapi_users_exceptions.UserAlreadyExists)
    with (
        pytest.raises(integration.UserAlreadyExists) as raised,
        integration.translate_errors(),
        integration.translate_errors(),
    ):
        raise original
    assert raised.value.__cause__ is original
    assert str(raised.value) == "taken"


def test_translate_errors_passes_the_integration_classes_unchanged() -> None:
    original = userstore.UserAlreadyExists("taken")  # FastAPI Users is imported here
    assert isinstance(original, integration.UserAlreadyExists)
    with pytest.raises(integration.UserAlreadyExists) as raised, integration.translate_errors():
        raise original
    assert raised.value is original


# -- the wrapper, on the memory adapter ------------------------------------------------


@pytest_asyncio.fixture
async def users() -> AsyncIterator[Users]:
    store = userstore.connect("memory://")
    async with store.session() as session:
        yield integration.FastAPIUsersDatabase(session.users)


def test_the_wrapper_is_a_fastapi_users_database() -> None:
    assert issubclass(integration.FastAPIUsersDatabase, FastAPIUsersBaseUserDatabase)


async def test_create_of_a_taken_email_raises_fastapi_users_user_already_exists(
    users: Users,
) -> None:
    await users.create({"email": "Ada@example.com", "hashed_password": "h"})
    with pytest.raises(fastapi_users_exceptions.UserAlreadyExists) as raised:
        await users.create({"email": "ADA@example.com", "hashed_password": "h"})
    assert isinstance(raised.value, userstore.UserAlreadyExists)


async def test_update_to_a_taken_email_raises_fastapi_users_user_already_exists(
    users: Users,
) -> None:
    await users.create({"email": "taken@example.com", "hashed_password": "h"})
    mine = await users.create({"email": "mine@example.com", "hashed_password": "h"})
    with pytest.raises(fastapi_users_exceptions.UserAlreadyExists):
        await users.update(mine, {"email": "TAKEN@example.com"})
    found = await users.get_by_email("mine@example.com")
    assert found is not None


async def test_writes_to_a_deleted_user_raise_user_not_exists(
    users: Users,
) -> None:
    user = await users.create({"email": "gone@example.com", "hashed_password": "h"})
    await users.delete(user)
    for write in (
        users.update(user, {"is_active": False}),
        users.delete(user),
        users.add_oauth_account(user, ACCOUNT),
    ):
        with pytest.raises(fastapi_users_exceptions.UserNotExists) as raised:
            await write
        assert isinstance(raised.value, userstore.UserNotFound)


async def test_errors_without_a_fastapi_users_counterpart_pass_unchanged(
    users: Users,
) -> None:
    first = await users.create({"email": "first@example.com", "hashed_password": "h"})
    second = await users.create({"email": "second@example.com", "hashed_password": "h"})
    await users.add_oauth_account(first, ACCOUNT)
    with pytest.raises(integration.OAuthAccountAlreadyLinked) as linked:
        await users.add_oauth_account(second, ACCOUNT)
    assert not isinstance(linked.value, fastapi_users_exceptions.FastAPIUsersException)
    assert isinstance(linked.value, userstore.OAuthAccountAlreadyLinked)
    with pytest.raises(userstore.InvalidUserData) as invalid:
        await users.create({"email": "x" * 400, "hashed_password": "h"})
    assert type(invalid.value) is userstore.InvalidUserData


async def test_the_wrapper_delegates_every_method(
    users: Users,
) -> None:
    user = await users.create({"email": "all@example.com", "hashed_password": "h"})
    assert await users.get(user.id) is not None
    assert await users.get(uuid.uuid4()) is None
    user = await users.add_oauth_account(user, ACCOUNT)
    account = user.oauth_accounts[0]
    user = await users.update_oauth_account(user, account, {"access_token": "new"})
    found = await users.get_by_oauth_account("fake", "42")
    assert found is not None
    assert found.oauth_accounts[0].access_token == "new"
    user = await users.remove_oauth_account(user, account)
    assert await users.get_by_oauth_account("fake", "42") is None
    updated = await users.update(user, {"is_verified": True})
    assert updated.is_verified


# -- the exception handlers ------------------------------------------------------------

HANDLED = [
    (userstore.OAuthAccountAlreadyLinked("linked"), 400, "OAUTH_ACCOUNT_ALREADY_LINKED"),
    (userstore.UserNotFound("gone"), 404, "Not Found"),
    (integration.UserNotExists("gone"), 404, "Not Found"),
    (
        userstore.InvalidUserData("email", "longer than 320 characters"),
        422,
        {"code": "INVALID_USER_DATA", "reason": "email: longer than 320 characters"},
    ),
    (userstore.StoreUnavailable("connection lost"), 503, "STORE_UNAVAILABLE"),
]


def _raising_app(error: Exception) -> httpx.AsyncClient:
    app = FastAPI()
    integration.add_exception_handlers(app)

    @app.get("/")
    async def fail() -> None:
        raise error

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.mark.parametrize(
    ("error", "status", "detail"), HANDLED, ids=[type(e).__name__ for e, _, _ in HANDLED]
)
async def test_handlers_answer_userstore_errors(
    error: Exception, status: int, detail: object
) -> None:
    async with _raising_app(error) as client:
        response = await client.get("/")
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    if status == 503:
        assert response.headers["retry-after"] == "1"


async def test_other_userstore_errors_stay_server_errors() -> None:
    async with _raising_app(userstore.AccessTokenAlreadyExists("collision")) as client:
        response = await client.get("/")
    assert response.status_code == 500


# -- the user manager's OAuth methods, on every backend --------------------------------


async def test_user_manager_oauth_callbacks_with_an_account_linked_elsewhere(
    engine: AsyncEngine,
) -> None:
    account_id = f"acct-{uuid.uuid4().hex}"
    owner_email, other_email = (f"{n}-{uuid.uuid4().hex[:8]}@example.com" for n in "ab")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session:
        database = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        users = integration.FastAPIUsersDatabase(database)
        assert users.session is session  # other attributes are the wrapped database's
        manager = UserManager(users, PASSWORDS)
        owner = await manager.oauth_callback("fake", "at-1", account_id, owner_email)
        other = await manager.create(UserCreate(email=other_email, password="pw"))

        with pytest.raises(userstore.OAuthAccountAlreadyLinked):
            await manager.oauth_associate_callback(other, "fake", "at-2", account_id, other_email)
        assert other.oauth_accounts == []

        # associate_by_email: the account's owner wins over the user of the reported email
        again = await manager.oauth_callback(
            "fake", "at-3", account_id, other_email.upper(), associate_by_email=True
        )
        assert again.id == owner.id
        assert [a.access_token for a in again.oauth_accounts] == ["at-3"]
        reloaded = await manager.get(other.id)
        assert reloaded.oauth_accounts == []
