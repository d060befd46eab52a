"""FastAPI Users' documentation app, for the HTTP load benchmark (benchmarks/load_http.py).

The full example of FastAPI Users' SQLAlchemy documentation (User with a UUID id
and OAuth accounts, ``SQLAlchemyUserDatabase``, ``UserManager``, the auth,
register and users routers) with two authentication backends on one bearer
header: JWT (``/auth/jwt/login``) and a database strategy over
``SQLAlchemyAccessTokenDatabase`` (``/auth/db/login``); ``/users/me`` accepts
either.  Password hashing is FastAPI Users' default ``PasswordHelper`` (argon2).

Environment:

``LOAD_ADAPTER``
    ``userstore`` (default) or ``fudb``: which package the models and databases
    are imported from.  Only the imports differ; that is the drop-in claim.
``LOAD_DATABASE_URL``
    SQLAlchemy asyncio URL; default ``sqlite+aiosqlite:///./load.db``.
``LOAD_COUNT_STATEMENTS``
    If ``1``: a ``before_cursor_execute`` listener counts the statements sent and
    ``GET /_stats`` answers ``{"statements": n, "commits": n}`` (used by the
    driver's counting pass, never during the timed runs).

``python benchmarks/load/app.py seed N PASSWORD`` creates ``user0@example.com``
... ``user{N-1}@example.com`` through the adapter's own ``SQLAlchemyUserDatabase.create``
(one password hash for all; hashing N passwords would take minutes).
"""

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, models, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.authentication.strategy.db import AccessTokenDatabase, DatabaseStrategy
from fastapi_users.password import PasswordHelper
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

ADAPTER = os.environ.get("LOAD_ADAPTER", "userstore")
if ADAPTER == "userstore":
    from userstore_sqlalchemy import (
        SQLAlchemyBaseOAuthAccountTableUUID,
        SQLAlchemyBaseUserTableUUID,
        SQLAlchemyUserDatabase,
    )
    from userstore_sqlalchemy.access_token import (
        SQLAlchemyAccessTokenDatabase,
        SQLAlchemyBaseAccessTokenTableUUID,
    )
elif ADAPTER == "fudb":
    from fastapi_users_db_sqlalchemy import (  # type: ignore[assignment,no-redef]
        SQLAlchemyBaseOAuthAccountTableUUID,
        SQLAlchemyBaseUserTableUUID,
        SQLAlchemyUserDatabase,
    )
    from fastapi_users_db_sqlalchemy.access_token import (  # type: ignore[assignment,no-redef]
        SQLAlchemyAccessTokenDatabase,
        SQLAlchemyBaseAccessTokenTableUUID,
    )
else:
    raise SystemExit(f"LOAD_ADAPTER must be userstore or fudb, not {ADAPTER!r}")

# -- everything below is the same for both adapters ----------------------------------------

DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "sqlite+aiosqlite:///./load.db")
# The documentation says "SECRET"; PyJWT warns about HMAC keys under 32 bytes.
SECRET = "SECRET-of-the-load-benchmark-32-bytes-or-more"


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


engine = create_async_engine(DATABASE_URL)
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def create_db_and_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def get_async_session() -> AsyncIterator[AsyncSession]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(session: AsyncSession = Depends(get_async_session)):  # noqa: B008
    yield SQLAlchemyUserDatabase(session, User, OAuthAccount)


async def get_access_token_db(
    session: AsyncSession = Depends(get_async_session),  # noqa: B008
):
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db=Depends(get_user_db)):  # noqa: B008
    yield UserManager(user_db)


bearer_transport = BearerTransport(tokenUrl="auth/jwt/login")


def get_jwt_strategy() -> JWTStrategy[models.UP, models.ID]:
    return JWTStrategy(secret=SECRET, lifetime_seconds=3600)


def get_database_strategy(
    access_token_db: AccessTokenDatabase[AccessToken] = Depends(get_access_token_db),  # noqa: B008
) -> DatabaseStrategy:
    return DatabaseStrategy(access_token_db, lifetime_seconds=3600)


jwt_backend = AuthenticationBackend(
    name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy
)
db_backend = AuthenticationBackend(
    name="db", transport=bearer_transport, get_strategy=get_database_strategy
)

fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [jwt_backend, db_backend])
current_active_user = fastapi_users.current_user(active=True)


@asynccontextmanager
async def lifespan(app: FastAPI):
    await create_db_and_tables()
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(jwt_backend), prefix="/auth/jwt", tags=["auth"])
app.include_router(fastapi_users.get_auth_router(db_backend), prefix="/auth/db", tags=["auth"])
app.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"]
)
app.include_router(fastapi_users.get_reset_password_router(), prefix="/auth", tags=["auth"])
app.include_router(fastapi_users.get_verify_router(UserRead), prefix="/auth", tags=["auth"])
app.include_router(
    fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users", tags=["users"]
)


@app.get("/authenticated-route")
async def authenticated_route(user: User = Depends(current_active_user)):  # noqa: B008
    return {"message": f"Hello {user.email}!"}


# -- the benchmark's instruments (not part of the documentation app) -----------------------

if os.environ.get("LOAD_COUNT_STATEMENTS") == "1":
    counts = {"statements": 0, "commits": 0}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count_statement(*_args):
        counts["statements"] += 1

    @event.listens_for(engine.sync_engine, "commit")
    def _count_commit(*_args):
        counts["commits"] += 1

    @app.get("/_stats")
    async def stats() -> dict[str, int]:
        return dict(counts)


async def seed(users: int, password: str) -> None:
    """Create ``users`` users through the adapter's ``SQLAlchemyUserDatabase.create``."""
    await create_db_and_tables()
    hashed = PasswordHelper().hash(password)
    async with async_session_maker() as session:
        user_db = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        for i in range(users):
            await user_db.create(
                {"email": f"user{i}@example.com", "hashed_password": hashed, "is_active": True}
            )
    await engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "seed":
        raise SystemExit("usage: app.py seed N PASSWORD")
    asyncio.run(seed(int(sys.argv[2]), sys.argv[3]))
