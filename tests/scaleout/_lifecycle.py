"""A user's life through a routed store, each step in a new session as web requests do.

Shared by the replica modules (PostgreSQL standby, MariaDB GTID replica): register,
log in, issue a token and use it, verify and read back; every read that misses
what the step before wrote is recorded as stale.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from userstore_sqlalchemy import (
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyStore,
    SQLAlchemyUserDatabase,
)
from userstore_sqlalchemy.access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
)
from userstore_sqlalchemy.routing import ReplicaSet, replica_set

Stale = list[tuple[str, int]]


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    __tablename__ = "routed_user"


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    __tablename__ = "routed_token"
    user_id: Mapped[Any] = mapped_column(
        ForeignKey("routed_user.id", ondelete="cascade"), nullable=False
    )
    token: Mapped[str] = mapped_column(String(43), primary_key=True)


def _report(
    face: str, rounds: int, stale: Stale, routes: ReplicaSet, before: dict[str, int], began: float
) -> int:
    replica = routes.reads["replica"] - before["replica"]
    primary = routes.reads["primary"] - before["primary"]
    print(
        f"\n{face}: {rounds} rounds in {time.monotonic() - began:.1f} s, {len(stale)} stale; "
        f"reads on the replica {replica} of {replica + primary} "
        f"({100 * replica / max(1, replica + primary):.0f}%)"
    )
    return replica


async def through_connect(store: SQLAlchemyStore, rounds: int) -> tuple[Stale, int]:
    """The life of ``rounds`` users through ``store``; the stale reads and the replica's reads."""
    routes = replica_set(store.engine, store.replicas)
    before, began = dict(routes.reads), time.monotonic()
    stale: Stale = []
    for n in range(rounds):
        email = f"user{n}@x.io"
        async with store.session() as s:  # register
            user = await s.users.create({"email": email, "hashed_password": "h"})
        async with store.session() as s:  # log in
            if await s.users.get_by_email(email.upper()) is None:
                stale.append(("login", n))
        async with store.session() as s:  # the token the login issues
            await s.tokens.create({"token": f"{n:043d}", "user_id": user.id})
        async with store.session() as s:  # a request with it
            if await s.tokens.get_by_token(f"{n:043d}") is None:
                stale.append(("token", n))
        async with store.session() as s:  # verification
            found = await s.users.get(user.id)
            assert found is not None
            await s.users.update(found, {"is_verified": True})
        async with store.session() as s:  # read back
            again = await s.users.get(user.id)
            if again is None or not again.is_verified:
                stale.append(("verified", n))
    return stale, _report("connect()", rounds, stale, routes, before, began)


async def through_drop_in(
    maker: async_sessionmaker[AsyncSession], routes: ReplicaSet, rounds: int
) -> tuple[Stale, int]:
    """The same through FastAPI Users' drop-in classes on ``maker``'s routing sessions."""
    before, began = dict(routes.reads), time.monotonic()
    stale: Stale = []
    for n in range(rounds):
        email = f"dropin{n}-{secrets.token_hex(2)}@x.io"
        async with maker() as session:
            user = await SQLAlchemyUserDatabase(session, User).create(
                {"email": email, "hashed_password": "h"}
            )
        async with maker() as session:
            if await SQLAlchemyUserDatabase(session, User).get_by_email(email) is None:
                stale.append(("login", n))
        token = secrets.token_urlsafe(32)
        async with maker() as session:
            await SQLAlchemyAccessTokenDatabase(session, AccessToken).create(
                {"token": token, "user_id": user.id}
            )
        async with maker() as session:
            tokens = SQLAlchemyAccessTokenDatabase(session, AccessToken)
            if await tokens.get_by_token(token) is None:
                stale.append(("token", n))
        async with maker() as session:
            users = SQLAlchemyUserDatabase(session, User)
            found = await users.get(user.id)
            assert found is not None
            await users.update(found, {"is_verified": True})
        async with maker() as session:
            again = await SQLAlchemyUserDatabase(session, User).get(user.id)
            if again is None or not again.is_verified:
                stale.append(("verified", n))
    return stale, _report("drop-in", rounds, stale, routes, before, began)
