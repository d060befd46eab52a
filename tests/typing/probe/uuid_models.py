"""UUID ids: OAuth accounts, access tokens in the database, FastAPI Users' generics."""

import uuid
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import Depends
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication.strategy.db import AccessTokenDatabase, DatabaseStrategy
from fastapi_users.db import BaseUserDatabase
from httpx_oauth.clients.google import GoogleOAuth2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

from userstore_sqlalchemy import (
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
)
from userstore_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)

SECRET = "SECRET"


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


engine = create_async_engine("sqlite+aiosqlite:///./test.db")
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncGenerator[SQLAlchemyUserDatabase[User, uuid.UUID], None]:
    yield SQLAlchemyUserDatabase(session, User, OAuthAccount)


async def get_access_token_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncGenerator[SQLAlchemyAccessTokenDatabase[AccessToken], None]:
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncGenerator[UserManager, None]:
    yield UserManager(user_db)


def get_database_strategy(
    access_token_db: Annotated[AccessTokenDatabase[AccessToken], Depends(get_access_token_db)],
) -> DatabaseStrategy[User, uuid.UUID, AccessToken]:
    return DatabaseStrategy(access_token_db, lifetime_seconds=3600)


auth_backend = AuthenticationBackend[User, uuid.UUID](
    name="database",
    transport=BearerTransport(tokenUrl="auth/login"),
    get_strategy=get_database_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
google = GoogleOAuth2("client-id", "client-secret")
oauth_router = fastapi_users.get_oauth_router(google, auth_backend, SECRET)
associate_router = fastapi_users.get_oauth_associate_router(google, UserRead, SECRET)
current_active_user = fastapi_users.current_user(active=True)


async def first_account_email(session: AsyncSession, email: str) -> str | None:
    """The models' attributes read as plain values, and users looked up through the adapter."""
    users: BaseUserDatabase[User, uuid.UUID] = SQLAlchemyUserDatabase(session, User, OAuthAccount)
    user = await users.get_by_email(email)
    if user is None or not user.oauth_accounts:
        return None
    account = user.oauth_accounts[0]
    expires: int | None = account.expires_at
    del expires
    user_id: uuid.UUID = account.user_id
    assert user_id == user.id
    return account.account_email


async def token_owner(session: AsyncSession, token: str) -> uuid.UUID | None:
    tokens = SQLAlchemyAccessTokenDatabase(session, AccessToken)
    found = await tokens.get_by_token(token)
    return None if found is None else found.user_id


def queries(key: str, user_id: uuid.UUID) -> list[object]:
    """Columns no FastAPI Users bound needs plain stay SQLAlchemy attributes for mypy."""
    return [
        select(User).where(User.email_key == key),
        select(User).where(User.id == user_id).order_by(User.email_key),
        select(OAuthAccount).where(OAuthAccount.account_id == key),
        select(OAuthAccount.user_id).where(OAuthAccount.oauth_name == key),
    ]
