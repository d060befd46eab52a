"""The FastAPI Users application the end-to-end tests drive.

FastAPI Users' SQLAlchemy tutorial with only the import changed, plus the
integration module: the register, auth, users, OAuth and OAuth-associate
routers, ``DatabaseStrategy`` on userstore's access-token database, and a fake
OAuth provider.  Passwords use argon2 with test-sized costs, so that ten
concurrent registrations stay fast (and verify bcrypt, for the rehash on login).
"""

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs, urlparse

import httpx
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication.strategy.db import DatabaseStrategy
from fastapi_users.password import PasswordHelper
from httpx_oauth.oauth2 import BaseOAuth2, OAuth2Token
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

from userstore.fastapi_users import FastAPIUsersDatabase, add_exception_handlers
from userstore_sqlalchemy import (
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
)
from userstore_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)

SECRET = "end-to-end-test-secret-of-thirty-two-bytes-or-more"
OAUTH_NAME = "fake"

PASSWORDS = PasswordHelper(
    PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1), BcryptHasher()))
)


class Base(DeclarativeBase):
    pass


class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


_LOCK_TIMEOUT = {
    "postgresql": "SET lock_timeout = '10s'",
    "mysql": "SET SESSION lock_wait_timeout = 10",
    "mariadb": "SET SESSION lock_wait_timeout = 10",
}


async def drop_tables_on(connection: AsyncConnection) -> None:
    """Drop the tables of ``Base`` that exist, without waiting forever for a lock."""
    setting = _LOCK_TIMEOUT.get(connection.dialect.name)
    if setting:  # a transaction a failed test left open must not hang the drop
        await connection.exec_driver_sql(setting)
    await connection.run_sync(Base.metadata.drop_all)


async def drop_tables(url: str) -> None:
    """Drop the tables of ``Base`` on the database at ``url``."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await drop_tables_on(connection)
    finally:
        await engine.dispose()


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


class FakeProvider(BaseOAuth2[dict[str, Any]]):
    """An OAuth provider answering from ``profiles``: the authorization code is the access token.

    ``profiles[code] = (account_id, email)`` says who the provider vouches for.
    """

    def __init__(self) -> None:
        super().__init__(
            "client-id",
            "client-secret",
            "https://provider.invalid/authorize",
            "https://provider.invalid/token",
            name=OAUTH_NAME,
        )
        self.profiles: dict[str, tuple[str, str | None]] = {}

    async def get_access_token(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> OAuth2Token:
        return OAuth2Token(
            {"access_token": code, "expires_in": 3600, "refresh_token": f"refresh-{code}"}
        )

    async def get_id_email(self, token: str) -> tuple[str, str | None]:
        return self.profiles[token]


UserDbDependency = Callable[..., AsyncIterator[FastAPIUsersDatabase[User, uuid.UUID]]]


@dataclasses.dataclass
class App:
    """The application, its sessions and provider, and helpers to drive it over HTTP."""

    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]
    provider: FakeProvider
    get_session: Callable[..., AsyncIterator[AsyncSession]]
    get_user_db: UserDbDependency

    def client(self) -> httpx.AsyncClient:
        """A new client talking to the app in-process (httpx's ASGI transport)."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def register(self, email: str, password: str = "pw-correct-horse") -> httpx.Response:
        async with self.client() as client:
            return await client.post("/auth/register", json={"email": email, "password": password})

    async def login(self, email: str, password: str = "pw-correct-horse") -> str:
        """Log in with a password; return the bearer token."""
        async with self.client() as client:
            response = await client.post(
                "/auth/login", data={"username": email, "password": password}
            )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def me(self, token: str) -> httpx.Response:
        async with self.client() as client:
            return await client.get("/users/me", headers=bearer(token))

    async def oauth(
        self, account_id: str, email: str | None, *, associate_with: str | None = None
    ) -> httpx.Response:
        """Go through the provider's flow as ``account_id``: log in, or associate with a token.

        Each flow gets its own client, so flows can run concurrently.
        """
        code = f"code-{uuid.uuid4().hex}"
        self.provider.profiles[code] = (account_id, email)
        prefix = "/auth/fake/associate" if associate_with else "/auth/fake"
        headers = bearer(associate_with) if associate_with else {}
        async with self.client() as client:
            started = await client.get(f"{prefix}/authorize", headers=headers)
            assert started.status_code == 200, started.text
            query = parse_qs(urlparse(started.json()["authorization_url"]).query)
            return await client.get(
                f"{prefix}/callback",
                params={"code": code, "state": query["state"][0]},
                headers=headers,
            )

    async def create_user(self, email: str, password: str = "pw", **flags: bool) -> User:
        """Create a user through the user manager (``safe=False``: flags such as is_superuser)."""
        async with self.sessions() as session:
            manager = UserManager(
                FastAPIUsersDatabase(SQLAlchemyUserDatabase(session, User, OAuthAccount)),
                PASSWORDS,
            )
            return await manager.create(UserCreate(email=email, password=password, **flags))

    async def get_user(self, email: str) -> User | None:
        async with self.sessions() as session:
            return await SQLAlchemyUserDatabase(session, User, OAuthAccount).get_by_email(email)

    async def count(self, model: type[Any], **where: Any) -> int:
        """How many rows of ``model`` match ``where`` (read straight from the database)."""
        async with self.sessions() as session:
            statement = select(func.count()).select_from(model).filter_by(**where)
            return int((await session.execute(statement)).scalar_one())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def build_app(
    engine: AsyncEngine, *, associate_by_email: bool = False, expire_on_commit: bool = False
) -> App:
    """FastAPI Users on ``engine``, wired as its SQLAlchemy tutorial, with userstore's imports.

    The tutorial's sessions have ``expire_on_commit=False``; SQLAlchemy's default is True.
    """
    sessions = async_sessionmaker(engine, expire_on_commit=expire_on_commit)
    provider = FakeProvider()

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    async def get_user_db(
        session: Annotated[AsyncSession, Depends(get_session)],
    ) -> AsyncIterator[FastAPIUsersDatabase[User, uuid.UUID]]:
        yield FastAPIUsersDatabase(SQLAlchemyUserDatabase(session, User, OAuthAccount))

    async def get_access_token_db(
        session: Annotated[AsyncSession, Depends(get_session)],
    ) -> AsyncIterator[SQLAlchemyAccessTokenDatabase[AccessToken]]:
        yield SQLAlchemyAccessTokenDatabase(session, AccessToken)

    async def get_user_manager(
        user_db: Annotated[FastAPIUsersDatabase[User, uuid.UUID], Depends(get_user_db)],
    ) -> AsyncIterator[UserManager]:
        yield UserManager(user_db, PASSWORDS)

    def get_strategy(
        tokens: Annotated[SQLAlchemyAccessTokenDatabase[AccessToken], Depends(get_access_token_db)],
    ) -> DatabaseStrategy[User, uuid.UUID, AccessToken]:
        return DatabaseStrategy(tokens, lifetime_seconds=3600)

    backend = AuthenticationBackend("database", BearerTransport("auth/login"), get_strategy)
    users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])

    app = FastAPI()
    add_exception_handlers(app)
    app.include_router(users.get_auth_router(backend), prefix="/auth")
    app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/auth")
    app.include_router(users.get_users_router(UserRead, UserUpdate), prefix="/users")
    app.include_router(
        users.get_oauth_router(
            provider,
            backend,
            SECRET,
            associate_by_email=associate_by_email,
            csrf_token_cookie_secure=False,
        ),
        prefix="/auth/fake",
    )
    app.include_router(
        users.get_oauth_associate_router(
            provider, UserRead, SECRET, csrf_token_cookie_secure=False
        ),
        prefix="/auth/fake/associate",
    )
    return App(app, sessions, provider, get_session, get_user_db)
