"""Writes in a session that holds many loaded users: the bare ORM, userstore and fudb.

A script or batch job loads users and updates them in one session.  For each
size (100 to 10,000 users loaded, one SELECT), each implementation opens one
session, loads that many users, then times, in that same session, ``update`` of
one of them, ``add_oauth_account`` and a token's ``create``, ``rounds`` times,
the implementations interleaved round by round.  The sessions are made as the
FastAPI Users tutorial makes them (``expire_on_commit=False``) and, for the bare
ORM, also with SQLAlchemy's default (``expire_on_commit=True``), whose commit
visits every object the session holds, and userstore with both (its own commits
expire nothing either way).  Reported: the median per write and size,
and its growth from the smallest size to the largest.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from ._databases import Database
from ._load import bulk_load

__all__ = ["SessionSizePlan", "measure_session_size"]

WRITES = ("update", "add_oauth_account", "token create")
IMPLS = (
    "orm",
    "orm (expire_on_commit=True)",
    "userstore",
    "userstore (expire_on_commit=True)",
    "fudb",
)


@dataclasses.dataclass(frozen=True)
class SessionSizePlan:
    sizes: tuple[int, ...] = (100, 1_000, 10_000)
    rounds: int = 60


class _Writer:
    """One implementation's session, holding ``size`` users, and its three writes."""

    def __init__(self, name: str, database: Database, session: AsyncSession) -> None:
        self.name = name
        self.models = database.models
        self.session = session
        self.users: list[Any] = []
        if name.startswith(("userstore", "fudb")):
            models = self.models
            self.user_db = models.users_module.SQLAlchemyUserDatabase(
                session, models.user, models.oauth_account
            )
            self.token_db = models.tokens_module.SQLAlchemyAccessTokenDatabase(
                session, models.access_token
            )

    async def load(self, size: int) -> None:
        user = self.models.user
        result = await self.session.execute(select(user).order_by(user.id).limit(size))
        self.users = list(result.unique().scalars().all())
        self.size = size
        # read once: with expire_on_commit=True the bare ORM's objects expire at each
        # commit, and reading an expired attribute would be I/O outside the greenlet
        self.ids = [u.id for u in self.users]

    async def update(self, n: int) -> None:
        user = self.users[n % len(self.users)]
        # a value no earlier size wrote: every update changes the row
        value = f"h{self.size}-{n}"
        if hasattr(self, "user_db"):
            await self.user_db.update(user, {"hashed_password": value})
        else:
            user.hashed_password = value
            await self.session.commit()

    async def add_oauth_account(self, n: int) -> None:
        user = self.users[n % len(self.users)]
        account = {
            "oauth_name": "bench",
            "account_id": f"{self.name}-{n}-{uuid.uuid4().hex[:8]}",
            "access_token": "gho_x",
            "account_email": "a@x.io",
        }
        if hasattr(self, "user_db"):
            await self.user_db.add_oauth_account(user, account)
        else:
            user_id = self.ids[n % len(self.ids)]
            self.session.add(self.models.oauth_account(user_id=user_id, **account))
            await self.session.commit()

    async def token_create(self, n: int) -> None:
        user_id = self.ids[n % len(self.ids)]
        token = uuid.uuid4().hex + uuid.uuid4().hex[:11]
        if hasattr(self, "token_db"):
            await self.token_db.create({"token": token, "user_id": user_id})
        else:
            self.session.add(self.models.access_token(token=token, user_id=user_id))
            await self.session.commit()


async def measure_session_size(
    dbs: dict[str, Database], plan: SessionSizePlan, log: Callable[[str], None]
) -> dict[str, Any]:
    """Medians (µs) per write, implementation and size: ``{write: {impl: {size: µs}}}``."""
    largest = max(plan.sizes)
    for database in dbs.values():
        await bulk_load(database, 0, largest, plain_from=0, tokens=False)
    medians: dict[str, dict[str, dict[str, float]]] = {
        write: {name: {} for name in IMPLS} for write in WRITES
    }
    engines = {
        name: create_async_engine(dbs["fudb" if name == "fudb" else "userstore"].url)
        for name in IMPLS
    }
    try:
        for size in plan.sizes:
            log(f" session size {size:,}")
            writers = []
            for name in IMPLS:
                expire = name.endswith("=True)")
                maker = async_sessionmaker(engines[name], expire_on_commit=expire)
                database = dbs["fudb" if name == "fudb" else "userstore"]
                writer = _Writer(name, database, maker())
                await writer.load(size)
                writers.append(writer)
            samples: dict[str, dict[str, list[float]]] = {
                write: {name: [] for name in IMPLS} for write in WRITES
            }
            for n in range(plan.rounds):
                for writer in writers if n % 2 == 0 else reversed(writers):
                    for write, run in (
                        ("update", writer.update),
                        ("add_oauth_account", writer.add_oauth_account),
                        ("token create", writer.token_create),
                    ):
                        began = time.perf_counter_ns()
                        await run(n)
                        samples[write][writer.name].append((time.perf_counter_ns() - began) / 1e3)
            for writer in writers:
                await writer.session.close()
            for write, per_impl in samples.items():
                for name, values in per_impl.items():
                    values.sort()
                    medians[write][name][str(size)] = values[len(values) // 2]
    finally:
        for engine in engines.values():
            await engine.dispose()
    return medians
