"""Benchmarks: userstore beside the raw drivers and fastapi-users-db-sqlalchemy 7.

On SQLite (aiosqlite, temp files), PostgreSQL (asyncpg) and MariaDB/MySQL
(aiomysql), in one process and one run:

1. per call, one connection, sequential: create, get, get_by_email (another
   case), get_by_oauth_account, update, add_oauth_account, delete, token create
   and get_by_token, for the raw driver (the floor), SQLAlchemy's ORM alone,
   userstore and fudb 7, interleaved; median µs, ratios, round trips counted;
2. scale: get_by_email and get_by_oauth_account at 1k, 100k and 1M users,
   each larger size measured beside a second pair of databases kept at 1k
   (interleaved: the ratio to 1k comes from the same minutes);
3. concurrency: 64 tasks over a pool of 10 connections, userstore against the
   raw driver's pool (servers only);
4. session size: update, add_oauth_account and a token's create in a session
   holding 100 to 10,000 loaded users, the bare ORM, userstore and fudb.

Writes ``benchmarks/results/bench.md`` (the report), ``bench.json`` (each
series summarised: count, median, min, p10, p90, p99, max) and
``bench-scale.png`` (needs matplotlib); ``--quick`` (a smoke run, about a
minute) writes ``bench-quick.*`` instead.  fudb 7 pins SQLAlchemy
< 2.1, so this runs in its own environment: ``nox -s bench`` or
``benchmarks/bench.sh``.  Server URLs come from ``USERSTORE_TEST_POSTGRES_URL``
and ``USERSTORE_TEST_MYSQL_URL``; each run works in scratch databases
``bench_<hex>_<schema>``, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._concurrency import ConcurrencyPlan, measure_concurrency
from bench._databases import BACKENDS, SERVER_BACKENDS, Database, scratch_database
from bench._load import analyze, bulk_load
from bench._models import declare_models
from bench._operations import Workload, count_round_trips, median, summary, time_operations
from bench._report import load_average, machine, now, plot_scale, render, versions
from bench._roundtrips import aiosqlite_hop_us
from bench._scale import ScalePlan, measure_scale
from bench._session_size import SessionSizePlan, measure_session_size

RESULTS = Path(__file__).resolve().parent / "results"
IMPLS = ("raw", "orm", "userstore", "connect", "fudb")


@dataclasses.dataclass(frozen=True)
class Plan:
    mode: str
    workload: Workload
    scale: ScalePlan
    concurrency: ConcurrencyPlan
    session_size: SessionSizePlan


def plan(quick: bool) -> Plan:
    if quick:
        return Plan(
            "quick",
            Workload(seeded=200, iterations=40, warmup=5, impls=IMPLS),
            ScalePlan(sizes=(1_000, 10_000), rounds=40, budget_s=2.0, min_samples=10),
            ConcurrencyPlan(tasks=64, pool_size=10, duration_s=1.0, repeats=1, seeded=200),
            SessionSizePlan(sizes=(100, 1_000), rounds=10),
        )
    return Plan(
        "full",
        Workload(seeded=1_000, iterations=1_000, warmup=50, impls=IMPLS),
        ScalePlan(sizes=(1_000, 100_000, 1_000_000), rounds=400, budget_s=12.0, min_samples=10),
        ConcurrencyPlan(tasks=64, pool_size=10, duration_s=5.0, repeats=3, seeded=1_000),
        SessionSizePlan(sizes=(100, 1_000, 10_000), rounds=60),
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def databases(backend: str, tag: str) -> Any:
    """A scratch database per schema: userstore's (raw, ORM, userstore) and fudb's."""
    async with (
        scratch_database(backend, declare_models("userstore"), f"{tag}us") as ours,
        scratch_database(backend, declare_models("fudb"), f"{tag}fudb") as theirs,
    ):
        yield {"userstore": ours, "fudb": theirs}


def source() -> str:
    """The commit measured, and whether the packages measured differ from it."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        root = Path(__file__).resolve().parent.parent
        command = ["git", "--no-optional-locks", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "not a git checkout"
    changed = git("diff", "--quiet", "HEAD", "--", "protocol", "adapters").returncode != 0
    state = " with uncommitted changes in protocol/ or adapters/" if changed else ""
    return f"commit {head.stdout.strip()}{state}"


SERVER_QUERIES = {
    "postgres": "SELECT current_setting('server_version'), current_setting('shared_buffers')",
    "mysql": "SELECT VERSION(), CONCAT(@@innodb_buffer_pool_size DIV 1048576, 'MB')",
}


async def server(database: Database) -> str:
    from sqlalchemy.ext.asyncio import create_async_engine

    if database.backend == "sqlite":
        return f"{machine()['sqlite']} (WAL for userstore, as its shim sets; fudb's file as is)"
    engine = create_async_engine(database.url)
    try:
        async with engine.connect() as connection:
            version, memory = (
                await connection.exec_driver_sql(SERVER_QUERIES[database.backend])
            ).one()
    finally:
        await engine.dispose()
    setting = "shared_buffers" if database.backend == "postgres" else "innodb_buffer_pool_size"
    return f"{version} ({setting} {memory})"


async def run_backend(backend: str, chosen: Plan, results: dict[str, Any]) -> None:
    workload = chosen.workload
    results["meta"]["load_per_backend"][backend] = load_average()
    skip = results["meta"]["skip"]
    if "operations" not in skip:
        log(f"{backend}: per-call operations (load average {load_average()})")
        async with databases(backend, "op") as dbs:
            results["meta"]["servers"][backend] = await server(dbs["userstore"])
            for database in dbs.values():
                await bulk_load(database, 0, workload.users, plain_from=workload.seeded)
                await analyze(database)
            samples, cpu, misses = await time_operations(dbs, workload)
            log(f"{backend}: counting round trips")
            round_trips = await count_round_trips(dbs, workload)
            if backend == "sqlite":
                results["meta"]["aiosqlite_hop_us"] = await aiosqlite_hop_us(dbs["userstore"].path)
            results["operations"][backend] = {
                "median_us": {
                    op: {name: median(values) for name, values in per_impl.items()}
                    for op, per_impl in samples.items()
                },
                "cpu_us": cpu,
                "round_trips": round_trips,
                "misses": misses,
                "stats_us": {
                    op: {name: summary(values) for name, values in per_impl.items()}
                    for op, per_impl in samples.items()
                },
            }
            if backend in SERVER_BACKENDS and "concurrency" not in results["meta"]["skip"]:
                log(f"{backend}: concurrency")
                runs = await measure_concurrency(dbs["userstore"], chosen.concurrency)
                results["concurrency"][backend] = {
                    workload_name: {
                        name: [
                            {
                                "calls": run.calls,
                                "seconds": run.seconds,
                                "per_second": run.per_second,
                                "latency_us": summary(run.latencies_us),
                            }
                            for run in per_run
                        ]
                        for name, per_run in per_impl.items()
                    }
                    for workload_name, per_impl in runs.items()
                }
    if "session" not in results["meta"]["skip"]:
        log(f"{backend}: session size {', '.join(f'{s:,}' for s in chosen.session_size.sizes)}")
        async with databases(backend, "ss") as dbs:
            results["session_size"][backend] = await measure_session_size(
                dbs, chosen.session_size, log=lambda message: log(f"{backend}:{message}")
            )
    if "scale" in results["meta"]["skip"]:
        return
    log(f"{backend}: scale {', '.join(f'{s:,}' for s in chosen.scale.sizes)}")
    async with databases(backend, "sc") as dbs, databases(backend, "rf") as references:
        scale_samples, load_s = await measure_scale(
            dbs, references, chosen.scale, log=lambda message: log(f"{backend}:{message}")
        )
    results["scale"][backend] = {
        "stats_us": {
            op: {
                name: {
                    str(size): {which: summary(values) for which, values in tables.items()}
                    for size, tables in per_size.items()
                }
                for name, per_size in per_impl.items()
            }
            for op, per_impl in scale_samples.items()
        },
        "load_s": {str(size): seconds for size, seconds in load_s.items()},
    }


async def measure(arguments: argparse.Namespace, chosen: Plan, stem: str) -> dict[str, Any]:
    results: dict[str, Any] = {
        "meta": {
            "mode": chosen.mode,
            "command": "python benchmarks/run.py " + shlex.join(sys.argv[1:]),
            "started": now(),
            "load_start": load_average(),
            "machine": machine(),
            "versions": versions(),
            "source": source(),
            "servers": {},
            "load_per_backend": {},
            "iterations": chosen.workload.iterations,
            "warmup": chosen.workload.warmup,
            "seeded": chosen.workload.seeded,
            "scale_sizes": list(chosen.scale.sizes),
            "scale_rounds": chosen.scale.rounds,
            "scale_budget_s": chosen.scale.budget_s,
            "scale_min_samples": chosen.scale.min_samples,
            "concurrency": dataclasses.asdict(chosen.concurrency),
            "session_size": dataclasses.asdict(chosen.session_size),
            "plot": f"benchmarks/results/{stem}-scale.png",
            "skip": arguments.skip,
        },
        "operations": {},
        "scale": {},
        "concurrency": {},
        "session_size": {},
    }
    backends = arguments.backend or BACKENDS
    for done, backend in enumerate(backends, 1):
        await run_backend(backend, chosen, results)
        results["meta"]["finished"] = now()
        results["meta"]["load_end"] = load_average()
        if done < len(backends):  # a run cut short still leaves the backends it finished
            results["meta"]["finished"] += f" (partial: {done} of {len(backends)} backends)"
            save(results, arguments.output_dir, stem)
    return results


def save(results: dict[str, Any], output: Path, stem: str) -> Path:
    """Write the JSON, the plot and the markdown report; return the report's path."""
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{stem}.json").write_text(json.dumps(results), encoding="utf-8")
    if results["scale"] and not plot_scale(results, output / f"{stem}-scale.png"):
        log("matplotlib is not installed: no plot")
        results["meta"]["plot"] = "not drawn (matplotlib missing)"
    report = output / f"{stem}.md"
    report.write_text(render(results), encoding="utf-8")
    return report


def main(arguments: argparse.Namespace) -> Path:
    chosen = plan(arguments.quick)
    if arguments.sizes:
        sizes = tuple(int(size) for size in arguments.sizes.split(","))
        chosen = dataclasses.replace(chosen, scale=dataclasses.replace(chosen.scale, sizes=sizes))
    stem = "bench-quick" if arguments.quick else "bench"
    results = asyncio.run(measure(arguments, chosen, stem))
    return save(results, arguments.output_dir, stem)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (about two minutes)")
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["operations", "scale", "concurrency", "session"],
        help="a part (operations: the per-call part, and concurrency with it)",
    )
    parser.add_argument("--sizes", help="scale sizes instead of the plan's, e.g. 1000,100000")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    report = main(parser.parse_args())
    print(report.read_text(encoding="utf-8"))
