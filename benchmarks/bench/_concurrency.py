"""Throughput with many tasks sharing a small pool: userstore against the raw driver's pool.

``tasks`` tasks each loop over one workload until the deadline, over a pool of
``pool_size`` connections (SQLAlchemy's ``pool_size``/``max_overflow=0``;
asyncpg's and aiomysql's own pools).  Runs alternate between implementations,
``repeats`` times each; each run starts with a short warm-up that opens the pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._databases import Database
from ._impls import Impl, make_impl
from ._load import PASSWORD, lookup_email_of

__all__ = ["WORKLOADS", "ConcurrencyPlan", "RunResult", "measure_concurrency"]

WORKLOADS = ("get_by_email", "create")
WARMUP_S = 0.3


@dataclasses.dataclass(frozen=True)
class ConcurrencyPlan:
    tasks: int
    pool_size: int
    duration_s: float
    repeats: int
    seeded: int
    impls: tuple[str, ...] = ("raw", "userstore", "connect")


@dataclasses.dataclass
class RunResult:
    calls: int
    seconds: float
    latencies_us: list[float]

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds


def _caller(impl: Impl, workload: str, seeded: int, tag: str) -> Callable[[int, int], Call]:
    picks = random.Random(tag)

    def call(task: int, n: int) -> Call:
        if workload == "get_by_email":
            return functools.partial(impl.get_by_email, lookup_email_of(picks.randrange(seeded)))
        email = f"C{tag}-{task}-{n}@Concurrent.Example"
        return functools.partial(impl.create, email, PASSWORD)

    return call


Call = Callable[[], Awaitable[Any]]


async def _run(
    impl: Impl, make: Callable[[int, int], Call], tasks: int, seconds: float
) -> RunResult:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(task: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            call = make(task, n)
            start = time.perf_counter_ns()
            result = await call()
            latencies.append((time.perf_counter_ns() - start) / 1000)
            if result is None:
                raise AssertionError(f"{impl.name}: a lookup found nothing")
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(task) for task in range(tasks)))
    return RunResult(len(latencies), time.perf_counter() - started, latencies)


async def measure_concurrency(
    database: Database, plan: ConcurrencyPlan
) -> dict[str, dict[str, list[RunResult]]]:
    """Runs per workload and implementation, on userstore's schema."""
    results: dict[str, dict[str, list[RunResult]]] = {
        workload: {name: [] for name in plan.impls} for workload in WORKLOADS
    }
    impls: dict[str, Impl] = {}
    try:
        for name in plan.impls:
            impl = make_impl(name, database)
            await impl.open(pool_size=plan.pool_size)
            impls[name] = impl
        for workload in WORKLOADS:
            for repeat in range(plan.repeats):
                order = plan.impls if repeat % 2 == 0 else tuple(reversed(plan.impls))
                for name in order:
                    impl = impls[name]
                    tag = f"{workload}-{name}-{repeat}"
                    warmup = _caller(impl, workload, plan.seeded, f"warm-{tag}")
                    await _run(impl, warmup, plan.tasks, WARMUP_S)
                    make = _caller(impl, workload, plan.seeded, tag)
                    results[workload][name].append(
                        await _run(impl, make, plan.tasks, plan.duration_s)
                    )
    finally:
        for impl in impls.values():
            await impl.close()
    return results
