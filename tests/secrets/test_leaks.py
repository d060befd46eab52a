"""Issue 8, part 4b: secrets never show in exceptions, reprs, warnings or logs.

The secrets are ``hashed_password``, the provider tokens of OAuth accounts
(``access_token``, ``refresh_token``) and access tokens.  Each test runs a
store made by ``userstore.connect(url, echo="debug")`` with every logger at
DEBUG (SQLAlchemy then logs statements, their parameters and result rows),
triggers the errors that carry those values (duplicate user, link and token,
values over their length limit, a connection killed mid-write) and requires
that no secret appears in any log record, warning, exception (its chain,
arguments, notes and attributes included) or object repr.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import CheckConstraint, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import userstore
from userstore import (
    AccessTokenAlreadyExists,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    StoreUnavailable,
    UserAlreadyExists,
    UserStoreError,
)
from userstore_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from ..backends import Backend
from ..conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url
from ._watch import Watch, watching


@pytest.fixture(params=[*BACKEND_PARAMS, *DRIVER_PARAMS])
def db_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """Every backend, and each server through its other driver (whose messages and logs differ)."""
    return backend_url(backend_registry, request.param)


def secret(label: str, length: int = 24) -> str:
    """A value no statement, message or log would hold by chance."""
    return f"{label}-{secrets.token_hex(length // 2)}"[:length]


@pytest_asyncio.fixture
async def loud_store(db_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A store whose engine echoes at DEBUG: statements, parameters and rows."""
    store = userstore.connect(db_url, table_prefix=f"sec_{secrets.token_hex(3)}_", echo="debug")
    assert isinstance(store, SQLAlchemyStore)
    try:
        await store.create_schema()
        yield store
    finally:
        try:
            await store.drop_schema()
        finally:
            await store.close()


async def expect_error(watch: Watch, kind: type[BaseException], call: Any) -> None:
    """Await ``call``; require it to raise ``kind``; record the exception."""
    with pytest.raises(kind) as info:
        await call
    watch.error(info.value)


def account(name: str, account_id: str, access: Any, refresh: str) -> dict[str, Any]:
    return {
        "oauth_name": name,
        "account_id": account_id,
        "account_email": f"{account_id}@example.com",
        "access_token": access,
        "refresh_token": refresh,
        "expires_at": 2_000_000_000,
    }


async def test_refusals_and_lookups_show_no_secret(loud_store: SQLAlchemyStore) -> None:
    hashed = [secret("hash", 60) for _ in range(4)]
    provider = [secret("provider", 40) for _ in range(8)]
    token = secrets.token_urlsafe(32)
    with watching() as watch:
        async with loud_store.session() as s:
            alice = await s.users.create(
                {"email": "alice@example.com", "hashed_password": hashed[0]}
            )
            bob = await s.users.create({"email": "bob@example.com", "hashed_password": hashed[1]})
            await s.users.add_oauth_account(alice, account("github", "1", provider[0], provider[1]))
            await s.users.add_oauth_account(bob, account("github", "2", provider[4], provider[5]))
            await s.tokens.create({"token": token, "user_id": alice.id})
        async with loud_store.session() as s:  # a new session: the database refuses, not the map
            await expect_error(
                watch,
                UserAlreadyExists,
                s.users.create({"email": "ALICE@example.com", "hashed_password": hashed[2]}),
            )
            bob = await s.users.get(bob.id)
            await expect_error(
                watch,
                OAuthAccountAlreadyLinked,
                s.users.add_oauth_account(bob, account("github", "1", provider[2], provider[3])),
            )
            await expect_error(
                watch,
                AccessTokenAlreadyExists,
                s.tokens.create({"token": token, "user_id": bob.id}),
            )
            # the UPDATE paths: an email or an account id changed to a taken one
            await expect_error(
                watch,
                UserAlreadyExists,
                s.users.update(bob, {"email": "Alice@Example.com", "hashed_password": hashed[3]}),
            )
            await expect_error(
                watch,
                OAuthAccountAlreadyLinked,
                s.users.update_oauth_account(
                    bob,
                    bob.oauth_accounts[0],
                    {"account_id": "1", "access_token": provider[6], "refresh_token": provider[7]},
                ),
            )
        async with loud_store.session() as s:  # every lookup, rows logged at DEBUG
            found = await s.users.get_by_email("alice@example.com")
            linked = await s.users.get_by_oauth_account("github", "1")
            stored_token = await s.tokens.get_by_token(token)
            assert found is not None
            assert linked is not None
            assert stored_token is not None
            watch.show([found, linked, *found.oauth_accounts, stored_token])
    # the contract's classes (FastAPI Users, once imported, makes them its own subclasses)
    contract = [
        next(c for c in type(e).__mro__ if c.__module__ == "userstore") for e in watch.errors
    ]
    assert contract == [
        UserAlreadyExists,
        OAuthAccountAlreadyLinked,
        AccessTokenAlreadyExists,
        UserAlreadyExists,
        OAuthAccountAlreadyLinked,
    ]
    assert any("INSERT INTO" in line for line in watch.logs), "SQLAlchemy's log was captured"
    assert any("SELECT" in line for line in watch.logs)
    assert any("[SQL parameters hidden due to hide_parameters=True]" in x for x in watch.logs)
    assert any("Row [hidden due to hide_parameters=True]" in line for line in watch.logs)
    assert watch.leaks([*hashed, *provider, token]) == {}


async def test_invalid_values_show_no_secret(loud_store: SQLAlchemyStore) -> None:
    hashed = secret("hash", 40)
    provider = secret("provider", 40)
    token = secrets.token_urlsafe(32)
    with watching() as watch:
        async with loud_store.session() as s:
            user = await s.users.create({"email": "carol@example.com", "hashed_password": "h"})
            for bad in (hashed * 30, hashed.encode(), hashed + "\x00"):
                await expect_error(
                    watch,
                    InvalidUserData,
                    s.users.create({"email": "dan@example.com", "hashed_password": bad}),
                )
                await expect_error(
                    watch, InvalidUserData, s.users.update(user, {"hashed_password": bad})
                )
            for bad_token in (token + "x", token.encode(), token[:20] + "\x00"):
                await expect_error(
                    watch,
                    InvalidUserData,
                    s.tokens.create({"token": bad_token, "user_id": user.id}),
                )
            for bad_provider in (provider.encode(), 12345):
                await expect_error(
                    watch,
                    InvalidUserData,
                    s.users.add_oauth_account(user, account("g", "2", bad_provider, provider)),
                )
            # an unknown key whose value is a secret
            await expect_error(watch, InvalidUserData, s.users.update(user, {"password": hashed}))
    assert len(watch.errors) == 12
    assert watch.leaks([hashed, provider, token, token[:20]]) == {}


async def test_a_connection_killed_mid_write_shows_no_secret(
    loud_store: SQLAlchemyStore, db_url: str
) -> None:
    hashed = [secret("hash", 60) for _ in range(2)]
    provider = secret("provider", 40)
    harness = SQLAlchemyHarness(db_url)
    with watching() as watch:
        async with loud_store.session() as s:
            user = await s.users.create({"email": "erin@example.com", "hashed_password": hashed[0]})
            user_id = user.id
        for write in ("link", "update"):  # each one statement, committed on its own
            async with loud_store.session() as s:
                user = await s.users.get(user_id)
                assert user is not None
                await harness.sever(s)
                call = (
                    s.users.add_oauth_account(user, account("g", "3", provider, provider))
                    if write == "link"
                    else s.users.update(user, {"hashed_password": hashed[1]})
                )
                with pytest.raises(UserStoreError) as info:
                    await call
                watch.error(info.value)
        async with loud_store.session() as s:  # inside the caller's transaction: a SAVEPOINT

            async def update_in_transaction() -> None:
                async with s.transaction():
                    user = await s.users.get(user_id)
                    assert user is not None
                    await harness.sever(s)
                    await s.users.update(user, {"hashed_password": hashed[1]})

            await expect_error(watch, UserStoreError, update_in_transaction())
    # the contract's classes (FastAPI Users, once imported, makes them its own subclasses)
    contract = [
        next(c for c in type(e).__mro__ if c.__module__ == "userstore") for e in watch.errors
    ]
    assert contract == [StoreUnavailable] * 3
    assert watch.leaks([*hashed, provider]) == {}


class CheckedBase(DeclarativeBase):
    pass


class CheckedUser(SQLAlchemyBaseUserTableUUID, CheckedBase):
    """An application's user model with a CHECK constraint of its own."""

    __tablename__ = "secrets_checked_user"
    __table_args__ = (CheckConstraint("age >= 0", name="ck_secrets_checked_user_age"),)

    age: Mapped[int | None] = mapped_column(Integer, nullable=True)


async def test_an_application_constraint_refusal_shows_no_secret(db_url: str) -> None:
    """PostgreSQL's CHECK violation details the whole failing row, hashed password included."""
    hashed = secret("hash", 60)
    store = userstore.connect(db_url, models=CheckedBase, echo="debug")
    assert isinstance(store, SQLAlchemyStore)
    try:
        await store.create_schema()
        with watching() as watch:
            async with store.session() as s:
                await expect_error(
                    watch,
                    UserStoreError,
                    s.users.create(
                        {"email": "g@example.com", "hashed_password": hashed, "age": -1}
                    ),
                )
                assert await s.users.get_by_email("g@example.com") is None
    finally:
        try:
            await store.drop_schema()
        finally:
            await store.close()
    assert type(watch.errors[0]) is UserStoreError
    assert watch.leaks([hashed]) == {}


async def test_parameters_are_logged_only_when_asked(db_url: str) -> None:
    """``hide_parameters=False`` shows them: the capture sees what the default hides."""
    hashed = secret("hash", 60)
    store = userstore.connect(
        db_url, table_prefix=f"sec_{secrets.token_hex(3)}_", echo="debug", hide_parameters=False
    )
    assert isinstance(store, SQLAlchemyStore)
    try:
        await store.create_schema()
        with watching() as watch:
            async with store.session() as s:
                await s.users.create({"email": "frank@example.com", "hashed_password": hashed})
    finally:
        try:
            await store.drop_schema()
        finally:
            await store.close()
    assert hashed in watch.leaks([hashed])
