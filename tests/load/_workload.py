"""The mixed workload of the load test, and the ledger of what each call returned.

Each operation opens its own store session, as a request does, and records its
outcome in a :class:`Ledger`: what was created, which refusals happened, and
anything that contradicts what committed calls promised (an ``anomaly``).  The
test then compares the ledger with the database.

Collisions are made to happen: emails come from a fixed pool in random case
(and, for some, in a spelling that NFKC and casefold fold together:
``straße`` / ``STRASSE``), OAuth account ids from a small pool, and three
operations race on purpose: two creates of one email in different case, two
links of one ``(oauth_name, account_id)`` to different users, and the create of
a token that is stored already.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from userstore import (
    AccessTokenAlreadyExists,
    OAuthAccountAlreadyLinked,
    Store,
    UserAlreadyExists,
    UserStoreError,
    email_key,
)

__all__ = ["Ledger", "Workload", "run_load"]

EMAIL_POOL = 3000
ACCOUNT_POOL = 400
PROVIDERS = ("github", "google")
HASH = "$argon2id$v=19$m=65536,t=3,p=4$load-test-hash"

# operation name -> weight (out of 100)
MIX = {
    "register": 28,
    "register_race": 4,
    "login": 30,
    "oauth_link": 9,
    "oauth_race": 3,
    "oauth_lookup": 7,
    "token_create": 8,
    "token_duplicate": 2,
    "token_lookup": 6,
    "token_delete": 3,
}

EXPECTED_REFUSALS = {
    "register": UserAlreadyExists,
    "register_race": UserAlreadyExists,
    "oauth_link": OAuthAccountAlreadyLinked,
    "oauth_race": OAuthAccountAlreadyLinked,
    "token_duplicate": AccessTokenAlreadyExists,
}


def pool_email(index: int) -> str:
    """The ``index``-th email of the pool (every tenth has an ``ß``)."""
    local = f"stra\u00dfe{index}" if index % 10 == 0 else f"user{index}"
    return f"{local}@example.com"


def spelling(email: str, rng: random.Random) -> str:
    """A spelling of ``email`` with the same key: random case, ``ß`` maybe as ``SS``."""
    if "\u00df" in email and rng.random() < 0.5:
        email = email.replace("\u00df", "SS")
    return "".join(c.upper() if rng.random() < 0.5 else c for c in email)


@dataclasses.dataclass
class Ledger:
    """What the store's calls returned during the run."""

    users: dict[str, Any] = dataclasses.field(default_factory=dict)
    """email key -> id, for every create that returned."""
    user_ids: list[Any] = dataclasses.field(default_factory=list)
    links: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)
    """(oauth_name, account_id) -> user id, for every link that returned."""
    linked: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    kept_tokens: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Tokens never deleted (duplicates are attempted on these): token -> user id."""
    loose_tokens: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Tokens a delete may pick: token -> user id (removed once picked)."""
    deleted_tokens: set[str] = dataclasses.field(default_factory=set)
    refused_keys: set[str] = dataclasses.field(default_factory=set)
    """Email keys whose create raised ``UserAlreadyExists``."""
    ops: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    latencies: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    refusals: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """Expected typed refusals, by exception type."""
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """Every other exception a store call raised, by type (typed or not)."""
    untyped: list[str] = dataclasses.field(default_factory=list)
    """Exceptions that are not ``UserStoreError``: type and message."""
    anomalies: list[str] = dataclasses.field(default_factory=list)
    """Answers that contradict a call that had returned before."""
    next_race: int = 0
    """Numbers the races, each on a new email or account id."""


class Workload:
    """The operations of one load run against ``store``."""

    def __init__(self, store: Store, ledger: Ledger) -> None:
        self.store = store
        self.ledger = ledger

    # -- users ---------------------------------------------------------------------------

    async def _create(self, email: str) -> bool:
        """Create a user; record it; ``False`` if ``UserAlreadyExists``."""
        key = email_key(email)
        try:
            async with self.store.session() as s:
                user = await s.users.create({"email": email, "hashed_password": HASH})
        except UserAlreadyExists:
            self.ledger.refused_keys.add(key)
            self.ledger.refusals["UserAlreadyExists"] += 1
            return False
        if key in self.ledger.users:
            self.ledger.anomalies.append(f"second create of {key!r} succeeded")
        else:
            self.ledger.users[key] = user.id
            self.ledger.user_ids.append(user.id)
        return True

    async def register(self, rng: random.Random) -> None:
        await self._create(spelling(pool_email(rng.randrange(EMAIL_POOL)), rng))

    async def register_race(self, rng: random.Random) -> None:
        """Two creates of one new email, in different spellings: exactly one wins."""
        self.ledger.next_race += 1
        email = f"race{self.ledger.next_race}.stra\u00dfe@example.com"
        won = await asyncio.gather(
            self._create(spelling(email, rng)), self._create(spelling(email, rng))
        )
        if sum(won) != 1:
            self.ledger.anomalies.append(f"race on {email!r}: {sum(won)} winners")

    async def login(self, rng: random.Random) -> None:
        email = spelling(pool_email(rng.randrange(EMAIL_POOL)), rng)
        known = self.ledger.users.get(email_key(email))
        async with self.store.session() as s:
            found = await s.users.get_by_email(email)
        if known is not None and (found is None or found.id != known):
            self.ledger.anomalies.append(f"get_by_email({email!r}) missed committed user {known}")

    # -- OAuth ---------------------------------------------------------------------------

    async def _link(self, user_id: Any, pair: tuple[str, str]) -> bool:
        """Link ``pair`` to the user (looked up in the same session); ``False`` if linked."""
        name, account = pair
        try:
            async with self.store.session() as s:
                user = await s.users.get(user_id)
                if user is None:
                    self.ledger.anomalies.append(f"committed user {user_id} not found by id")
                    return False
                await s.users.add_oauth_account(
                    user,
                    {
                        "oauth_name": name,
                        "account_id": account,
                        "account_email": f"{account}@{name}.example",
                        "access_token": secrets.token_urlsafe(48),
                        "refresh_token": secrets.token_urlsafe(48),
                        "expires_at": 2_000_000_000,
                    },
                )
        except OAuthAccountAlreadyLinked:
            self.ledger.refusals["OAuthAccountAlreadyLinked"] += 1
            return False
        if pair in self.ledger.links:
            self.ledger.anomalies.append(f"second link of {pair} succeeded")
        else:
            self.ledger.links[pair] = user_id
            self.ledger.linked.append(pair)
        return True

    async def oauth_link(self, rng: random.Random) -> None:
        if not self.ledger.user_ids:
            return await self.register(rng)
        pair = (rng.choice(PROVIDERS), f"acct-{rng.randrange(ACCOUNT_POOL)}")
        await self._link(rng.choice(self.ledger.user_ids), pair)

    async def oauth_race(self, rng: random.Random) -> None:
        if len(self.ledger.user_ids) < 2:
            return await self.register(rng)
        self.ledger.next_race += 1
        pair = (rng.choice(PROVIDERS), f"race-{self.ledger.next_race}")
        first, second = rng.sample(self.ledger.user_ids, 2)
        won = await asyncio.gather(self._link(first, pair), self._link(second, pair))
        if sum(won) != 1:
            self.ledger.anomalies.append(f"link race on {pair}: {sum(won)} winners")

    async def oauth_lookup(self, rng: random.Random) -> None:
        if not self.ledger.linked:
            return await self.oauth_link(rng)
        pair = rng.choice(self.ledger.linked)
        async with self.store.session() as s:
            found = await s.users.get_by_oauth_account(*pair)
        owner = self.ledger.links[pair]
        if found is None or found.id != owner:
            self.ledger.anomalies.append(f"get_by_oauth_account{pair} missed user {owner}")

    # -- access tokens -------------------------------------------------------------------

    async def token_create(self, rng: random.Random) -> None:
        if not self.ledger.user_ids:
            return await self.register(rng)
        user_id = rng.choice(self.ledger.user_ids)
        token = secrets.token_urlsafe(32)
        async with self.store.session() as s:
            await s.tokens.create({"token": token, "user_id": user_id})
        kept = rng.random() < 0.5
        (self.ledger.kept_tokens if kept else self.ledger.loose_tokens)[token] = user_id

    async def token_duplicate(self, rng: random.Random) -> None:
        if not self.ledger.kept_tokens or not self.ledger.user_ids:
            return await self.token_create(rng)
        token = rng.choice(list(self.ledger.kept_tokens))
        try:
            async with self.store.session() as s:
                await s.tokens.create({"token": token, "user_id": rng.choice(self.ledger.user_ids)})
        except AccessTokenAlreadyExists:
            self.ledger.refusals["AccessTokenAlreadyExists"] += 1
        else:
            self.ledger.anomalies.append(f"duplicate token {token[:6]}... was created")

    async def token_lookup(self, rng: random.Random) -> None:
        if not self.ledger.kept_tokens:
            return await self.token_create(rng)
        token = rng.choice(list(self.ledger.kept_tokens))
        async with self.store.session() as s:
            found = await s.tokens.get_by_token(token)
        owner = self.ledger.kept_tokens[token]
        if found is None or found.user_id != owner:
            self.ledger.anomalies.append(f"get_by_token missed a token of user {owner}")

    async def token_delete(self, rng: random.Random) -> None:
        """Log out: look the token up and delete it, in one session (FastAPI Users' order)."""
        if not self.ledger.loose_tokens:
            return await self.token_create(rng)
        token = rng.choice(list(self.ledger.loose_tokens))
        del self.ledger.loose_tokens[token]
        async with self.store.session() as s:
            found = await s.tokens.get_by_token(token)
            if found is None:
                self.ledger.anomalies.append("a stored token was not found before its delete")
                return
            await s.tokens.delete(found)
        self.ledger.deleted_tokens.add(token)


async def _worker(
    workload: Workload, seed: int, deadline: float, ops: list[str], weights: list[int]
) -> None:
    rng = random.Random(seed)
    ledger = workload.ledger
    while time.monotonic() < deadline:
        kind = rng.choices(ops, weights)[0]
        operation: Callable[[random.Random], Awaitable[None]] = getattr(workload, kind)
        started = time.perf_counter()
        try:
            await operation(rng)
        except UserStoreError as error:
            ledger.errors[type(error).__name__] += 1
        except Exception as error:
            ledger.errors[type(error).__name__] += 1
            ledger.untyped.append(f"{kind}: {type(error).__module__}.{type(error).__name__}")
        ledger.ops[kind] += 1
        ledger.latencies[kind].append(time.perf_counter() - started)


async def run_load(
    store: Store, ledger: Ledger, *, tasks: int, seconds: float, seed: int = 0
) -> float:
    """Run ``tasks`` workers on ``store`` for ``seconds``, recording into ``ledger``.

    Returns the elapsed time: workers start no call after ``seconds`` and finish
    the one they are in.
    """
    workload = Workload(store, ledger)
    ops, weights = list(MIX), list(MIX.values())
    started = time.monotonic()
    deadline = started + seconds
    async with asyncio.TaskGroup() as group:
        for n in range(tasks):
            group.create_task(_worker(workload, seed * 100_000 + n, deadline, ops, weights))
    return time.monotonic() - started
