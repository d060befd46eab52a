"""Per-call cost of each operation: every implementation, interleaved, in one run.

For each operation, iteration ``i`` calls every implementation once, in a
random order drawn per iteration (see :func:`shuffled`); a sample is the wall time of one
call (a session opened and closed around it, for the SQLAlchemy ones).  The
same phases then run again through :mod:`._roundtrips`'s counters, to count
the round trips each call makes rather than assume them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._databases import Database
from ._impls import Impl, make_impl
from ._load import (
    PASSWORD,
    PROVIDER_TOKEN,
    account_id_of,
    lookup_email_of,
    token_of,
    user_id_of,
)
from ._roundtrips import Relay, SQLiteCounter

__all__ = [
    "LOOKUPS",
    "OPERATIONS",
    "Workload",
    "count_round_trips",
    "shuffled",
    "summary",
    "time_operations",
]

OPERATIONS = (
    "create",
    "get",
    "get_by_email",
    "get_by_oauth_account",
    "update",
    "add_oauth_account",
    "delete",
    "token create",
    "get_by_token",
)
LOOKUPS = ("get", "get_by_email", "get_by_oauth_account", "get_by_token")
COUNTED_CALLS = 5

Call = Callable[[], Awaitable[Any]]
Measure = Callable[[Impl, Call], Awaitable[tuple[Any, Any]]]
"""Run one call; return its sample (µs, or a count) and the call's result."""


@dataclasses.dataclass(frozen=True)
class Workload:
    """Seeded users ``0 .. seeded`` (account + token each); then link targets, per impl."""

    seeded: int
    iterations: int
    warmup: int
    impls: tuple[str, ...]

    @property
    def per_pass(self) -> int:
        return self.warmup + self.iterations

    def target(self, impl_index: int, i: int) -> int:
        """The plain user that implementation ``impl_index`` links an account to at ``i``."""
        span = self.per_pass + 2 * COUNTED_CALLS
        return self.seeded + impl_index * span + i

    @property
    def users(self) -> int:
        return self.target(len(self.impls), 0)


def shuffled(names: tuple[str, ...], shuffler: random.Random) -> list[str]:
    """Every name once, in a new random order each round.

    Not a fixed rotation: a call right after another connection's call costs
    more on a busy VM (the idle server process has to be woken), and a fixed
    cyclic order would always give one implementation the same predecessor.
    """
    order = list(names)
    shuffler.shuffle(order)
    return order


async def _phases(
    impls: dict[str, Impl], workload: Workload, first: int, count: int, measure: Measure
) -> tuple[dict[str, dict[str, list[Any]]], dict[str, int]]:
    """Run every operation ``count`` times per implementation; samples per op and impl."""
    names = tuple(impls)
    samples: dict[str, dict[str, list[Any]]] = {op: {n: [] for n in names} for op in OPERATIONS}
    misses = dict.fromkeys(names, 0)
    picks = {n: random.Random(f"{n}:{first}") for n in names}
    created: dict[str, list[Any]] = {n: [] for n in names}
    index = {n: workload.impls.index(n) for n in names}

    def seeded(name: str) -> int:
        return picks[name].randrange(workload.seeded)

    shuffler = random.Random(f"order:{first}")

    async def each(op: str, make: Callable[[str, Impl, int], Awaitable[Call]]) -> None:
        for i in range(first, first + count):
            for name in shuffled(names, shuffler):
                impl = impls[name]
                call = await make(name, impl, i)
                sample, result = await measure(impl, call)
                samples[op][name].append(sample)
                if op == "create":
                    created[name].append(result)
                if op in LOOKUPS and result is None:
                    misses[name] += 1

    async def create(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.create, f"New{i}-{name}@Bench.Example", PASSWORD)

    async def get(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.get, user_id_of(seeded(name)))

    async def get_by_email(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.get_by_email, lookup_email_of(seeded(name)))

    async def get_by_oauth_account(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.get_by_oauth_account, "github", account_id_of(seeded(name)))

    async def update(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.update, created[name][i - first], f"{PASSWORD[:-8]}{i:08d}")

    async def add_oauth_account(name: str, impl: Impl, i: int) -> Call:
        user = await impl.load(user_id_of(workload.target(index[name], i)))
        account = {
            "oauth_name": "google",
            "account_id": f"g-{name}-{i}",
            "account_email": f"linked{i}@example.com",
            "access_token": PROVIDER_TOKEN,
            "expires_at": 1_900_000_000,
            "refresh_token": None,
        }
        return functools.partial(impl.add_oauth_account, user, account)

    async def delete(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.delete, created[name][i - first])

    async def create_token(name: str, impl: Impl, i: int) -> Call:
        token = token_of(10_000_000 + 1_000 * i + index[name])
        return functools.partial(impl.create_token, token, user_id_of(seeded(name)))

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)

    async def get_by_token(name: str, impl: Impl, i: int) -> Call:
        return functools.partial(impl.get_by_token, token_of(seeded(name)), since)

    makers = {
        "create": create,
        "get": get,
        "get_by_email": get_by_email,
        "get_by_oauth_account": get_by_oauth_account,
        "update": update,
        "add_oauth_account": add_oauth_account,
        "delete": delete,
        "token create": create_token,
        "get_by_token": get_by_token,
    }
    for op in OPERATIONS:
        await each(op, makers[op])
    return samples, misses


async def _timed(impl: Impl, call: Call) -> tuple[tuple[float, float], Any]:
    """Wall µs and this process's CPU µs (every thread: aiosqlite's too) of one call."""
    cpu, start = time.process_time_ns(), time.perf_counter_ns()
    result = await call()
    wall, cpu = time.perf_counter_ns() - start, time.process_time_ns() - cpu
    return (wall / 1000, cpu / 1000), result


async def _opened(names: tuple[str, ...], databases: dict[str, Database]) -> dict[str, Impl]:
    impls = {}
    for name in names:
        impl = make_impl(name, databases["fudb" if name == "fudb" else "userstore"])
        await impl.open()
        impls[name] = impl
    return impls


async def time_operations(
    databases: dict[str, Database], workload: Workload
) -> tuple[dict[str, dict[str, list[float]]], dict[str, dict[str, float]], dict[str, int]]:
    """Wall µs per call and mean client CPU µs per call, per operation and implementation.

    Warm-up calls dropped.  The CPU is the benchmark process's (every thread), so
    it is what one event loop spends per call: what bounds throughput once the
    loop is saturated (the concurrency runs).
    """
    impls = await _opened(workload.impls, databases)
    try:
        timed, misses = await _phases(impls, workload, 0, workload.per_pass, _timed)
    finally:
        for impl in impls.values():
            await impl.close()
    samples: dict[str, dict[str, list[float]]] = {}
    cpu: dict[str, dict[str, float]] = {}
    for op, per_impl in timed.items():
        samples[op], cpu[op] = {}, {}
        for name, values in per_impl.items():
            kept = values[workload.warmup :]
            samples[op][name] = [wall for wall, _ in kept]
            cpu[op][name] = statistics.fmean(c for _, c in kept) if kept else float("nan")
    return samples, cpu, misses


async def count_round_trips(
    databases: dict[str, Database], workload: Workload
) -> dict[str, dict[str, str]]:
    """Round trips per call (servers), or ``statements / thread hops`` (SQLite)."""
    backend = next(iter(databases.values())).backend
    first, count = workload.per_pass, 2 * COUNTED_CALLS
    if backend == "sqlite":
        counter = SQLiteCounter()
        impls = await _opened(workload.impls, databases)

        async def sqlite_measure(impl: Impl, call: Call) -> tuple[Any, Any]:
            statements, hops = counter.statements, counter.hops
            result = await call()
            return (counter.statements - statements, counter.hops - hops), result

        try:
            with counter.counting():
                samples, _ = await _phases(impls, workload, first, count, sqlite_measure)
        finally:
            for impl in impls.values():
                await impl.close()
        return _summarise(samples, lambda v: f"{v[0]} / {v[1]}")
    url = next(iter(databases.values())).url
    relay = Relay(url.host or "127.0.0.1", url.port or (5432 if backend == "postgres" else 3306))
    port = await relay.start()
    relayed = {schema: database.with_port(port) for schema, database in databases.items()}

    async def relay_measure(impl: Impl, call: Call) -> tuple[Any, Any]:
        before = relay.round_trips
        result = await call()
        return relay.round_trips - before, result

    try:
        impls = await _opened(workload.impls, relayed)
        try:
            samples, _ = await _phases(impls, workload, first, count, relay_measure)
        finally:
            for impl in impls.values():
                await impl.close()
    finally:
        await relay.close()
    return _summarise(samples, str)


def _summarise(
    samples: dict[str, dict[str, list[Any]]], show: Callable[[Any], str]
) -> dict[str, dict[str, str]]:
    """The counts of the last ``COUNTED_CALLS`` calls (the first ones warm caches up)."""
    counts: dict[str, dict[str, str]] = {}
    for op, per_impl in samples.items():
        counts[op] = {}
        for name, values in per_impl.items():
            steady = sorted(set(values[-COUNTED_CALLS:]))
            shown = [show(steady[0])] if len(steady) == 1 else [show(steady[0]), show(steady[-1])]
            counts[op][name] = " to ".join(shown)
    return counts


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    """Count, median and spread of samples (what the JSON keeps of them)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "min": round(ordered[0], 1),
        "p10": at(0.10),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1], 1),
    }
