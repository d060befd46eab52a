"""Round trips per operation (docs/contract.md section 10), counted on the tutorial's plain engine.

``before_cursor_execute`` sees every statement the driver is given and the
engine's ``commit`` event every commit; each operation's events are compared
whole, so an extra SELECT after a commit (a refresh) or a second lookup fails.

The first call on an engine also checks the schema (_schema_check.py): that
costs its catalog reads once, and never again on that engine.
"""

import datetime as dt
import types
import uuid

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from userstore_sqlalchemy import SQLAlchemyAccessTokenDatabase, SQLAlchemyUserDatabase

from . import tutorial
from .conftest import StatementLog

MODELS = {
    "uuid": types.SimpleNamespace(
        metadata=tutorial.Base.metadata,
        User=tutorial.User,
        OAuthAccount=tutorial.OAuthAccount,
        AccessToken=tutorial.AccessToken,
    ),
    "int": tutorial.tutorial_int_models("cascade"),
}


@pytest.fixture(params=list(MODELS))
def models(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    return MODELS[request.param]


@pytest.fixture
def metadata(models: types.SimpleNamespace) -> MetaData:
    return models.metadata


pytestmark = pytest.mark.usefixtures("tables")

ACCOUNT = {
    "oauth_name": "github",
    "account_id": "99",
    "account_email": "merlin@camelot.bt",
    "access_token": "gho_x",
}
TOKEN = "m" * 43
EXPECTED = {
    "create": ["INSERT", "COMMIT"],
    "get": ["SELECT"],
    "get_by_email": ["SELECT"],
    "add_oauth_account": ["INSERT", "COMMIT"],
    "get_by_oauth_account": ["SELECT"],
    "update": ["UPDATE", "COMMIT"],
    "token create": ["INSERT", "COMMIT"],
    "get_by_token": ["SELECT"],
    "get_by_token max_age": ["SELECT"],
    "delete": ["DELETE", "COMMIT"],
}


@pytest.mark.parametrize("expire_on_commit", [False, True])
async def test_each_operation_sends_the_minimum(
    engine: AsyncEngine,
    log: StatementLog,
    backend_name: str,
    models: types.SimpleNamespace,
    expire_on_commit: bool,
) -> None:
    observed: dict[str, list[str]] = {}
    async with async_sessionmaker(engine, expire_on_commit=expire_on_commit)() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
        missing = uuid.uuid4() if models is MODELS["uuid"] else 10**9
        with log.measure() as warm_up:
            assert await users.get(missing) is None  # the shim sets up the connection first

        with log.measure() as observed["create"]:
            user = await users.create({"email": "Merlin@Camelot.bt", "hashed_password": "h"})
        with log.measure() as observed["get"]:
            assert await users.get(user.id) is user
        with log.measure() as observed["get_by_email"]:
            assert await users.get_by_email("merlin@camelot.bt") is user
        with log.measure() as observed["add_oauth_account"]:
            await users.add_oauth_account(user, ACCOUNT)
        with log.measure() as observed["get_by_oauth_account"]:
            assert await users.get_by_oauth_account("github", "99") is user
        with log.measure() as observed["update"]:
            await users.update(user, {"is_verified": True})
        with log.measure() as observed["token create"]:
            token = await tokens.create({"token": TOKEN, "user_id": user.id})
        with log.measure() as observed["get_by_token"]:
            assert await tokens.get_by_token(TOKEN) is token
        since = token.created_at - dt.timedelta(seconds=1)
        with log.measure() as observed["get_by_token max_age"]:
            assert await tokens.get_by_token(TOKEN, max_age=since) is token
        with log.measure() as observed["delete"]:
            await users.delete(user)

        with log.measure() as again:  # a new database object: the check is not repeated
            fresh = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            assert await fresh.get(missing) is None
    async with async_sessionmaker(engine, expire_on_commit=expire_on_commit)() as session:
        with log.measure() as other_session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            assert await users.get(missing) is None

    print(f"\n{backend_name}, warm-up: {warm_up}, then: {observed}")
    assert observed == EXPECTED
    assert again == ["SELECT"]
    assert set(other_session) <= {"SELECT", "SET"}
    assert other_session[-1] == "SELECT"
    *setup, lookup = warm_up
    assert lookup == "SELECT"
    # the shim's setup, then the schema check's catalog reads (three tables)
    check = [event for event in setup if event != "SET"]
    ids = "uuid" if models is MODELS["uuid"] else "int"
    assert len(check) == SCHEMA_CHECK[backend_name, ids], check
    assert set(check) <= {"PRAGMA", "SELECT", "SHOW"}


SCHEMA_CHECK = {
    ("sqlite", "uuid"): 21,  # PRAGMA reads of the local file: per table and per index
    ("sqlite", "int"): 18,
    ("postgres", "uuid"): 7,
    ("postgres", "int"): 7,
    ("mysql", "uuid"): 4,
    ("mysql", "int"): 4,
}
"""Round trips of the schema check on the engine's first call (user, OAuth, token tables)."""


@pytest.mark.parametrize("strategy", ["database", "jwt"])
async def test_an_authenticated_request_is_one_statement(
    engine: AsyncEngine, log: StatementLog, models: types.SimpleNamespace, strategy: str
) -> None:
    """FastAPI Users' own strategies reading a token, each request in a new session.

    The database strategy looks the token up and then the user by id: the token's
    lookup loads the user (a join), and the user lookup then needs no SQL.
    """
    from fastapi_users import BaseUserManager, IntegerIDMixin, UUIDIDMixin
    from fastapi_users.authentication.strategy import DatabaseStrategy, JWTStrategy

    id_mixin: type = UUIDIDMixin if models is MODELS["uuid"] else IntegerIDMixin

    class Manager(id_mixin, BaseUserManager):  # type: ignore[misc,valid-type]
        reset_password_token_secret = verification_token_secret = "s" * 32

    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
        user = await users.create({"email": "ada@x.io", "hashed_password": "h"})
        await users.add_oauth_account(user, ACCOUNT)
        tokens = SQLAlchemyAccessTokenDatabase(session, models.AccessToken)
        await tokens.create({"token": TOKEN, "user_id": user.id})
    jwt = JWTStrategy("j" * 32, lifetime_seconds=3600)
    issued = await jwt.write_token(user) if strategy == "jwt" else TOKEN
    for _ in range(2):  # the second request as the first
        async with maker() as session:
            users = SQLAlchemyUserDatabase(session, models.User, models.OAuthAccount)
            manager = Manager(users)
            if strategy == "jwt":
                reader: object = jwt
            else:
                reader = DatabaseStrategy(
                    SQLAlchemyAccessTokenDatabase(session, models.AccessToken), 3600
                )
            with log.measure() as request:
                found = await reader.read_token(issued, manager)  # type: ignore[attr-defined]
            assert found is not None
            assert found.email == "ada@x.io"
            assert [a.account_id for a in found.oauth_accounts] == ["99"]
            assert request == ["SELECT"], log.statements
            with log.measure() as again:  # a lookup later in the request still asks
                await session.commit()
                assert await users.get(user.id) is found
            assert again == ["COMMIT", "SELECT"], again
