"""A complete FastAPI Users application on userstore-sqlalchemy.

FastAPI Users' SQLAlchemy tutorial with the imports changed to userstore's:
registration, password login with database-backed tokens (``DatabaseStrategy``),
the users routes and models ready for OAuth.  Duplicate emails that race past the
manager's lookup give 400, an OAuth account linked to someone else gives 400,
never a 500, with nothing wired for it; ``add_exception_handlers`` only adds a 503
for a database that is down and a 422 for invalid data.

Run it from the repository root::

    uv run python examples/fastapi_users_app.py

then open http://127.0.0.1:8000/docs.  Settings come from the environment:

``DATABASE_URL``
    SQLAlchemy asyncio URL; default ``sqlite+aiosqlite:///./fastapi_users_app.db``.
    Also ``postgresql+asyncpg://user:password@host/db`` or
    ``mysql+aiomysql://user:password@host/db``.  Tables are created at start-up.
``SECRET``
    Signs reset-password, verification and OAuth state tokens; default: a random
    one per start (login tokens live in the database and survive restarts).
``HOST``, ``PORT``
    Where to listen; default ``127.0.0.1`` and ``8000``.
``GITHUB_CLIENT_ID``, ``GITHUB_CLIENT_SECRET``
    If both are set: "log in with GitHub" under ``/auth/github`` and linking a
    GitHub account to the logged-in user under ``/auth/github/associate``.
"""

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication.strategy.db import DatabaseStrategy
from httpx_oauth.clients.github import GitHubOAuth2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

from userstore.fastapi_users import add_exception_handlers
from userstore_sqlalchemy import (
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
)
from userstore_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./fastapi_users_app.db")
SECRET = os.environ.get("SECRET") or secrets.token_urlsafe(32)
TOKEN_LIFETIME_SECONDS = 3600


# -- models ----------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


# -- database --------------------------------------------------------------------------

engine = create_async_engine(DATABASE_URL)
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncIterator[AsyncSession]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User, OAuthAccount)


async def get_access_token_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncIterator[SQLAlchemyAccessTokenDatabase[AccessToken]]:
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


# -- users and authentication ----------------------------------------------------------


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncIterator[UserManager]:
    yield UserManager(user_db)  # FastAPI Users' default password hashing (argon2)


def get_database_strategy(
    access_token_db: Annotated[
        SQLAlchemyAccessTokenDatabase[AccessToken], Depends(get_access_token_db)
    ],
) -> DatabaseStrategy[User, uuid.UUID, AccessToken]:
    return DatabaseStrategy(access_token_db, lifetime_seconds=TOKEN_LIFETIME_SECONDS)


auth_backend = AuthenticationBackend(
    name="database",
    transport=BearerTransport(tokenUrl="auth/login"),
    get_strategy=get_database_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)


# -- the application -------------------------------------------------------------------


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(title="FastAPI Users on userstore", lifespan=lifespan)
add_exception_handlers(app)
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth", tags=["auth"])
app.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"]
)
app.include_router(
    fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users", tags=["users"]
)

if os.environ.get("GITHUB_CLIENT_ID") and os.environ.get("GITHUB_CLIENT_SECRET"):
    github = GitHubOAuth2(os.environ["GITHUB_CLIENT_ID"], os.environ["GITHUB_CLIENT_SECRET"])
    app.include_router(
        fastapi_users.get_oauth_router(github, auth_backend, SECRET, associate_by_email=False),
        prefix="/auth/github",
        tags=["auth"],
    )
    app.include_router(
        fastapi_users.get_oauth_associate_router(github, UserRead, SECRET),
        prefix="/auth/github/associate",
        tags=["auth"],
    )


@app.get("/authenticated-route")
async def authenticated_route(
    user: Annotated[User, Depends(current_active_user)],
) -> dict[str, str]:
    return {"message": f"Hello {user.email}!"}


if __name__ == "__main__":
    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000"))
    )
