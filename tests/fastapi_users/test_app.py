"""End to end: FastAPI Users' routers over HTTP on userstore-sqlalchemy, on every backend.

Each test runs on sqlite, postgres and mysql (the ``db_url`` fixture) against
the app in ``app.py``: FastAPI Users' register, auth, users, OAuth and
OAuth-associate routers, ``DatabaseStrategy`` on userstore's token database.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
from fastapi import Depends
from pwdlib import PasswordHash
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from userstore.fastapi_users import FastAPIUsersDatabase
from userstore_sqlalchemy import SQLAlchemyUserDatabase

from .app import OAUTH_NAME, AccessToken, App, OAuthAccount, User, bearer, build_app

CONCURRENT = 10


def new_email(name: str = "user") -> str:
    """A fresh address with upper-case letters in its local part (domains are lower-cased)."""
    return f"{name.capitalize()}.{uuid.uuid4().hex[:10]}@example.com"


def other_case(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local.swapcase()}@{domain.upper()}"


def new_account() -> str:
    return f"acct-{uuid.uuid4().hex}"


class GatedUserDatabase(SQLAlchemyUserDatabase[User, uuid.UUID]):
    """Holds every ``get_by_email`` caller at a barrier after its lookup.

    With ten registrations of one email, all ten see "no such user" before any
    inserts, so the database's unique index alone decides who wins.
    """

    barrier: asyncio.Barrier

    async def get_by_email(self, email: str) -> User | None:
        found = await super().get_by_email(email)
        await self.barrier.wait()
        return found


class LaggingUserDatabase(SQLAlchemyUserDatabase[User, uuid.UUID]):
    """Answers ``get_by_email`` as a lookup that ran just before another request's commit."""

    async def get_by_email(self, email: str) -> User | None:
        return None


def override_user_db(app: App, database: type[SQLAlchemyUserDatabase[User, uuid.UUID]]) -> None:
    async def get_user_db(
        session: Annotated[AsyncSession, Depends(app.get_session)],
    ) -> AsyncIterator[FastAPIUsersDatabase[User, uuid.UUID]]:
        yield FastAPIUsersDatabase(database(session, User, OAuthAccount))

    app.app.dependency_overrides[app.get_user_db] = get_user_db


# -- registration ----------------------------------------------------------------------


async def test_register_then_the_same_email_in_another_case_is_refused(app: App) -> None:
    email = new_email("ada")
    created = await app.register(email)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == email

    for variant in (other_case(email), email.lower(), email.upper()):
        again = await app.register(variant, password="another-password")
        assert again.status_code == 400, again.text
        assert again.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}
    user = await app.get_user(email)
    assert user is not None
    assert user.email == email


@pytest.mark.parametrize("race", ["natural", "all-past-the-lookup"])
async def test_concurrent_registrations_of_one_email_give_one_201(app: App, race: str) -> None:
    if race == "all-past-the-lookup":
        GatedUserDatabase.barrier = asyncio.Barrier(CONCURRENT)
        override_user_db(app, GatedUserDatabase)
    email = new_email("race")
    variants = [email if i % 2 else other_case(email) for i in range(CONCURRENT)]

    async with asyncio.timeout(30):
        responses = await asyncio.gather(*(app.register(v) for v in variants))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (CONCURRENT - 1), [r.text for r in responses]
    refused = [r.json() for r in responses if r.status_code == 400]
    assert all(body == {"detail": "REGISTER_USER_ALREADY_EXISTS"} for body in refused)
    assert await app.count(User, email_key=email.lower()) == 1


async def test_a_duplicate_the_lookup_missed_is_refused_by_the_database(app: App) -> None:
    email = new_email("late")
    assert (await app.register(email)).status_code == 201
    override_user_db(app, LaggingUserDatabase)

    response = await app.register(other_case(email))

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "REGISTER_USER_ALREADY_EXISTS"}


# -- login, /users/me, email changes ---------------------------------------------------


async def test_log_in_with_the_email_in_another_case_then_read_me(app: App) -> None:
    email = new_email("grace")
    assert (await app.register(email, password="s3cret-pw")).status_code == 201

    token = await app.login(other_case(email), password="s3cret-pw")
    me = await app.me(token)

    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    async with app.client() as client:
        wrong = await client.post(
            "/auth/login", data={"username": other_case(email), "password": "wrong"}
        )
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": "LOGIN_BAD_CREDENTIALS"}


@pytest.mark.parametrize("lookup", ["found", "missed"])
async def test_changing_ones_email_to_a_taken_one_in_another_case_is_refused(
    app: App, lookup: str
) -> None:
    taken, mine = new_email("taken"), new_email("mine")
    for email in (taken, mine):
        assert (await app.register(email)).status_code == 201
    token = await app.login(mine)
    if lookup == "missed":  # the other user committed just after the manager's lookup
        override_user_db(app, LaggingUserDatabase)

    async with app.client() as client:
        response = await client.patch(
            "/users/me", json={"email": other_case(taken)}, headers=bearer(token)
        )
        assert response.status_code == 400, response.text
        assert response.json() == {"detail": "UPDATE_USER_EMAIL_ALREADY_EXISTS"}
        me = await client.get("/users/me", headers=bearer(token))
    assert me.json()["email"] == mine


# -- OAuth -----------------------------------------------------------------------------


async def test_oauth_login_creates_the_user_and_logs_it_in_again(app: App) -> None:
    account, email = new_account(), new_email("octo")

    first = await app.oauth(account, email)
    assert first.status_code == 200, first.text
    me = (await app.me(first.json()["access_token"])).json()
    assert me["email"] == email

    again = await app.oauth(account, other_case(email))
    assert again.status_code == 200, again.text
    assert (await app.me(again.json()["access_token"])).json()["id"] == me["id"]

    user = await app.get_user(email)
    assert user is not None
    assert [(a.oauth_name, a.account_id) for a in user.oauth_accounts] == [(OAUTH_NAME, account)]
    assert user.oauth_accounts[0].account_email == other_case(email)  # updated by the login


async def test_oauth_associate_then_log_in_with_the_account(app: App) -> None:
    email, account = new_email("linker"), new_account()
    assert (await app.register(email)).status_code == 201
    token = await app.login(email)

    linked = await app.oauth(account, new_email("elsewhere"), associate_with=token)
    assert linked.status_code == 200, linked.text
    assert linked.json()["email"] == email

    login = await app.oauth(account, new_email("whatever"))
    assert login.status_code == 200, login.text
    assert (await app.me(login.json()["access_token"])).json()["email"] == email


async def test_associating_an_account_linked_to_another_user_is_refused(app: App) -> None:
    owner, other, account = new_email("owner"), new_email("other"), new_account()
    for email in (owner, other):
        assert (await app.register(email)).status_code == 201
    owner_token, other_token = await app.login(owner), await app.login(other)
    assert (await app.oauth(account, owner, associate_with=owner_token)).status_code == 200

    refused = await app.oauth(account, other, associate_with=other_token)

    assert refused.status_code == 400, refused.text
    assert refused.json() == {"detail": "OAUTH_ACCOUNT_ALREADY_LINKED"}
    assert (await app.me(other_token)).status_code == 200
    assert await app.count(OAuthAccount, account_id=account) == 1
    other_user = await app.get_user(other)
    assert other_user is not None
    assert other_user.oauth_accounts == []
    for _ in range(2):  # later logins with the account still land on its first owner
        login = await app.oauth(account, other)
        assert login.status_code == 200, login.text
        assert (await app.me(login.json()["access_token"])).json()["email"] == owner


async def test_oauth_login_of_a_registered_email_without_associate_by_email(app: App) -> None:
    email = new_email("plain")
    assert (await app.register(email)).status_code == 201

    response = await app.oauth(new_account(), other_case(email))

    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "OAUTH_USER_ALREADY_EXISTS"}


async def test_associate_by_email_never_moves_an_account_linked_elsewhere(
    engine: AsyncEngine,
) -> None:
    app = build_app(engine, associate_by_email=True)
    owner, other = new_email("first"), new_email("second")
    account, fresh = new_account(), new_account()
    assert (await app.oauth(account, owner)).status_code == 200  # creates owner, linked
    assert (await app.register(other)).status_code == 201

    # The provider now reports the other user's email for the linked account.
    moved = await app.oauth(account, other_case(other))
    assert moved.status_code == 200, moved.text
    assert (await app.me(moved.json()["access_token"])).json()["email"] == owner
    other_user = await app.get_user(other)
    assert other_user is not None
    assert other_user.oauth_accounts == []

    # An account linked nowhere is associated with the user of its email.
    joined = await app.oauth(fresh, other_case(other))
    assert joined.status_code == 200, joined.text
    assert (await app.me(joined.json()["access_token"])).json()["email"] == other
    other_user = await app.get_user(other)
    assert other_user is not None
    assert [a.account_id for a in other_user.oauth_accounts] == [fresh]


@pytest.mark.parametrize("associate_by_email", [False, True])
async def test_concurrent_oauth_logins_of_a_new_account(
    engine: AsyncEngine, associate_by_email: bool
) -> None:
    app = build_app(engine, associate_by_email=associate_by_email)
    account, email = new_account(), new_email("burst")

    async with asyncio.timeout(30):
        responses = await asyncio.gather(*(app.oauth(account, email) for _ in range(5)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 400}, [r.text for r in responses]
    assert 200 in statuses
    tokens = [r.json()["access_token"] for r in responses if r.is_success]
    owners = {(await app.me(token)).json()["id"] for token in tokens}
    assert len(owners) == 1
    assert await app.count(User, email_key=email.lower()) == 1
    assert await app.count(OAuthAccount, account_id=account) == 1


# -- deletion and logout ---------------------------------------------------------------


async def test_superuser_deletes_a_user_with_oauth_accounts_and_tokens(app: App) -> None:
    admin = new_email("admin")
    await app.create_user(admin, password="admin-pw", is_superuser=True)
    admin_token = await app.login(admin, password="admin-pw")
    victim, accounts = new_email("victim"), [new_account(), new_account()]
    assert (await app.register(victim)).status_code == 201
    tokens = [await app.login(victim)]
    for account in accounts:
        linked = await app.oauth(account, victim, associate_with=tokens[0])
        assert linked.status_code == 200, linked.text
    login = await app.oauth(accounts[0], victim)
    assert login.status_code == 200, login.text
    tokens.append(login.json()["access_token"])
    victim_id = (await app.me(tokens[0])).json()["id"]

    async with app.client() as client:
        deleted = await client.delete(f"/users/{victim_id}", headers=bearer(admin_token))
        assert deleted.status_code == 204, deleted.text
        gone = await client.get(f"/users/{victim_id}", headers=bearer(admin_token))
        assert gone.status_code == 404
        again = await client.delete(f"/users/{victim_id}", headers=bearer(admin_token))
        assert again.status_code == 404

    for token in tokens:
        assert (await app.me(token)).status_code == 401
    user_id = uuid.UUID(victim_id)
    assert await app.count(OAuthAccount, user_id=user_id) == 0
    assert await app.count(AccessToken, user_id=user_id) == 0
    assert (await app.me(admin_token)).status_code == 200
    # The accounts are free again: logging in with one creates a new user.
    fresh = await app.oauth(accounts[1], victim)
    assert fresh.status_code == 200, fresh.text
    assert (await app.me(fresh.json()["access_token"])).json()["id"] != victim_id


async def test_a_user_cannot_delete_others(app: App) -> None:
    plain, target = new_email("plain"), new_email("target")
    for email in (plain, target):
        assert (await app.register(email)).status_code == 201
    token = await app.login(plain)
    target_id = (await app.me(await app.login(target))).json()["id"]

    async with app.client() as client:
        response = await client.delete(f"/users/{target_id}", headers=bearer(token))

    assert response.status_code == 403
    assert await app.get_user(target) is not None


async def test_logout_revokes_the_token(app: App) -> None:
    email = new_email("leaving")
    assert (await app.register(email)).status_code == 201
    first, second = await app.login(email), await app.login(email)

    async with app.client() as client:
        out = await client.post("/auth/logout", headers=bearer(first))
        assert out.status_code == 204, out.text
        again = await client.post("/auth/logout", headers=bearer(first))
        assert again.status_code == 401

    assert (await app.me(first)).status_code == 401
    assert (await app.me(second)).status_code == 200
    assert await app.count(AccessToken, token=first) == 0


# -- everything at once, on SQLAlchemy's default sessions ------------------------------


async def test_a_whole_journey_with_expire_on_commit(engine: AsyncEngine) -> None:
    app = build_app(engine, expire_on_commit=True)
    admin, email, renamed = new_email("boss"), new_email("legacy"), new_email("renamed")
    await app.create_user(admin, password="admin-pw", is_superuser=True)
    admin_token = await app.login(admin, password="admin-pw")
    # A user whose hash predates argon2: logging in rehashes it (an update, then a token).
    async with app.sessions() as session:
        await SQLAlchemyUserDatabase(session, User, OAuthAccount).create(
            {
                "email": email,
                "hashed_password": PasswordHash((BcryptHasher(rounds=4),)).hash("old-pw"),
            }
        )
    token = await app.login(other_case(email), password="old-pw")
    stored = await app.get_user(email)
    assert stored is not None
    assert stored.hashed_password.startswith("$argon2")

    async with app.client() as client:
        changed = await client.patch(
            "/users/me", json={"email": renamed, "password": "new-pw"}, headers=bearer(token)
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["email"] == renamed
        refused = await client.post("/auth/login", data={"username": email, "password": "new-pw"})
        assert refused.status_code == 400
    token = await app.login(other_case(renamed), password="new-pw")
    account = new_account()
    assert (await app.oauth(account, renamed, associate_with=token)).status_code == 200
    login = await app.oauth(account, renamed)
    assert login.status_code == 200, login.text
    me = (await app.me(login.json()["access_token"])).json()
    assert me["email"] == renamed

    async with app.client() as client:
        verified = await client.patch(
            f"/users/{me['id']}", json={"is_verified": True}, headers=bearer(admin_token)
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["is_verified"] is True
        deleted = await client.delete(f"/users/{me['id']}", headers=bearer(admin_token))
        assert deleted.status_code == 204, deleted.text
    assert (await app.me(token)).status_code == 401
    assert (await app.me(login.json()["access_token"])).status_code == 401
    assert await app.count(OAuthAccount, account_id=account) == 0
