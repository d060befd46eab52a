"""Lookup cost as the user table grows: get_by_email and get_by_oauth_account.

Both schemas grow through the same sizes (every user with one OAuth account),
loaded through the drivers' fast paths (:func:`._load.bulk_load`) and ANALYZEd.
A second pair of databases stays at the first size (the reference), so that
at every larger size each round looks up once per implementation in the grown
tables and once in the reference tables, in a random order: the ratio to the
first size comes from the same minutes of the same run, whatever else the
machine was doing meanwhile.  Each implementation draws its own random users,
so that none warms the cache for another.  An implementation whose lookups
have used up ``budget_s`` seconds at one size (fudb's full scans) stops once
it has ``min_samples``.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

from ._databases import Database
from ._impls import Impl, make_impl
from ._load import account_id_of, analyze, bulk_load, lookup_email_of
from ._operations import shuffled

__all__ = ["SCALE_LOOKUPS", "ScalePlan", "ScaleSamples", "measure_scale"]

SCALE_LOOKUPS = ("get_by_email", "get_by_oauth_account")
WARMUP = 5
REFERENCE = "reference"

ScaleSamples = dict[str, dict[str, dict[int, dict[str, list[float]]]]]
"""op -> implementation -> size -> ``{"grown": [...], "reference": [...]}`` (µs)."""


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


async def _opened(plan: ScalePlan, databases: dict[str, Database]) -> dict[str, Impl]:
    impls = {}
    for name in plan.impls:
        impl = make_impl(name, databases["fudb" if name == "fudb" else "userstore"])
        await impl.open()
        impls[name] = impl
    return impls


async def measure_scale(
    databases: dict[str, Database],
    references: dict[str, Database],
    plan: ScalePlan,
    log: Callable[[str], None] = print,
) -> tuple[ScaleSamples, dict[int, float]]:
    """Samples per lookup, implementation and size; and the seconds each load took.

    ``databases`` grow through ``plan.sizes``; ``references`` are loaded to the
    first size once and measured beside every larger one.
    """
    samples: ScaleSamples = {op: {name: {} for name in plan.impls} for op in SCALE_LOOKUPS}
    load_seconds: dict[int, float] = {}
    first = plan.sizes[0]
    impls: dict[str, Impl] = {}
    reference_impls: dict[str, Impl] = {}
    loaded = 0
    try:
        for database in references.values():
            await bulk_load(database, 0, first, plain_from=first, tokens=False)
            await analyze(database)
        reference_impls = await _opened(plan, references)
        for size in plan.sizes:
            started = time.perf_counter()
            for database in databases.values():
                await bulk_load(database, loaded, size, plain_from=size, tokens=False)
                await analyze(database)
            load_seconds[size] = time.perf_counter() - started
            loaded = size
            if not impls:
                impls = await _opened(plan, databases)
            for op in SCALE_LOOKUPS:
                tables = {"grown": impls}
                if size != first:
                    tables[REFERENCE] = reference_impls
                per_impl = await _measure_size(tables, op, {"grown": size, REFERENCE: first}, plan)
                for name, values in per_impl.items():
                    samples[op][name][size] = values
            log(f"  {size:>9} users: loaded in {load_seconds[size]:.1f} s, measured")
    finally:
        for impl in [*impls.values(), *reference_impls.values()]:
            await impl.close()
    return samples, load_seconds


async def _measure_size(
    tables: dict[str, dict[str, Impl]], op: str, sizes: dict[str, int], plan: ScalePlan
) -> dict[str, dict[str, list[float]]]:
    """Interleave every (implementation, tables) pair; samples per implementation and tables."""
    pairs = tuple(f"{name}:{which}" for which, impls in tables.items() for name in impls)
    picks = {pair: random.Random(f"{pair}:{op}:{sizes['grown']}") for pair in pairs}

    def call(pair: str) -> tuple[Impl, int]:
        name, which = pair.split(":")
        return tables[which][name], picks[pair].randrange(sizes[which])

    for pair in pairs:
        for _ in range(WARMUP):
            impl, i = call(pair)
            await _lookup(impl, op, i)
    values: dict[str, list[float]] = {pair: [] for pair in pairs}
    spent = dict.fromkeys(pairs, 0.0)
    active = pairs
    shuffler = random.Random(f"order:{op}:{sizes['grown']}")
    for _ in range(plan.rounds):
        for pair in shuffled(active, shuffler):
            impl, i = call(pair)
            start = time.perf_counter_ns()
            found = await _lookup(impl, op, i)
            elapsed = time.perf_counter_ns() - start
            if found is None:
                raise AssertionError(f"{pair} {op} found no user {i}")
            values[pair].append(elapsed / 1000)
            spent[pair] += elapsed / 1e9
        active = tuple(
            pair
            for pair in active
            if spent[pair] < plan.budget_s or len(values[pair]) < plan.min_samples
        )
        if not active:
            break
    result: dict[str, dict[str, list[float]]] = {}
    for pair, found_values in values.items():
        name, which = pair.split(":")
        result.setdefault(name, {})[which] = found_values
    return result
