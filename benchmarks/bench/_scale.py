"""Lookup cost as the user table grows: get_by_email and get_by_oauth_account.

Both schemas grow through the same sizes (every user with one OAuth account),
loaded through the drivers' fast paths (:func:`._load.bulk_load`) and ANALYZEd.
At each size, round ``r`` times one lookup per implementation, in rotated order,
each implementation drawing its own random user so that none warms the cache
for another.  An implementation whose lookups have used up ``budget_s`` seconds
at this size (fudb's full scans) stops once it has ``min_samples``.
"""

from __future__ import annotations

import dataclasses
import random
import time

from ._databases import Database
from ._impls import Impl, make_impl
from ._load import account_id_of, analyze, bulk_load, lookup_email_of

__all__ = ["SCALE_LOOKUPS", "ScalePlan", "measure_scale"]

SCALE_LOOKUPS = ("get_by_email", "get_by_oauth_account")
WARMUP = 5


@dataclasses.dataclass(frozen=True)
class ScalePlan:
    sizes: tuple[int, ...]
    rounds: int
    budget_s: float
    min_samples: int
    impls: tuple[str, ...] = ("raw", "userstore", "fudb")


async def _lookup(impl: Impl, op: str, i: int) -> object:
    if op == "get_by_email":
        return await impl.get_by_email(lookup_email_of(i))
    return await impl.get_by_oauth_account("github", account_id_of(i))


async def measure_scale(
    databases: dict[str, Database], plan: ScalePlan, log: object = print
) -> tuple[dict[str, dict[str, dict[int, list[float]]]], dict[int, float]]:
    """Samples (µs) per lookup, implementation and size; and the seconds each load took."""
    samples: dict[str, dict[str, dict[int, list[float]]]] = {
        op: {name: {} for name in plan.impls} for op in SCALE_LOOKUPS
    }
    load_seconds: dict[int, float] = {}
    impls: dict[str, Impl] = {}
    loaded = 0
    try:
        for size in plan.sizes:
            started = time.perf_counter()
            for database in databases.values():
                await bulk_load(database, loaded, size, plain_from=size, tokens=False)
                await analyze(database)
            load_seconds[size] = time.perf_counter() - started
            loaded = size
            if not impls:
                for name in plan.impls:
                    impl = make_impl(name, databases["fudb" if name == "fudb" else "userstore"])
                    await impl.open()
                    impls[name] = impl
            for op in SCALE_LOOKUPS:
                per_impl = await _measure_size(impls, op, size, plan)
                for name, values in per_impl.items():
                    samples[op][name][size] = values
            if callable(log):
                log(f"  {size:>9} users: loaded in {load_seconds[size]:.1f} s, measured")
    finally:
        for impl in impls.values():
            await impl.close()
    return samples, load_seconds


async def _measure_size(
    impls: dict[str, Impl], op: str, size: int, plan: ScalePlan
) -> dict[str, list[float]]:
    picks = {name: random.Random(f"{name}:{op}:{size}") for name in impls}
    for name, impl in impls.items():
        for _ in range(WARMUP):
            await _lookup(impl, op, picks[name].randrange(size))
    values: dict[str, list[float]] = {name: [] for name in impls}
    spent = dict.fromkeys(impls, 0.0)
    active = list(impls)
    for r in range(plan.rounds):
        k = r % len(active)
        for name in [*active[k:], *active[:k]]:
            i = picks[name].randrange(size)
            start = time.perf_counter_ns()
            found = await _lookup(impls[name], op, i)
            elapsed = time.perf_counter_ns() - start
            if found is None:
                raise AssertionError(f"{name} {op} found no user {i} at {size} users")
            values[name].append(elapsed / 1000)
            spent[name] += elapsed / 1e9
        active = [
            name
            for name in active
            if spent[name] < plan.budget_s or len(values[name]) < plan.min_samples
        ]
        if not active:
            break
    return values
