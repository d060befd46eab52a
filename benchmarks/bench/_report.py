"""The results: a markdown report, a JSON dump and a PNG of the scale curves."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import sqlite3
from pathlib import Path
from typing import Any

from ._names import IMPL_TITLES, TITLES
from ._targets import bound, scale_median, summary_of_bounds, targets

__all__ = ["load_average", "machine", "plot_scale", "render", "versions"]

PACKAGES = (
    "userstore-sqlalchemy",
    "fastapi-users-db-sqlalchemy",
    "SQLAlchemy",
    "asyncpg",
    "aiomysql",
    "PyMySQL",
    "aiosqlite",
    "greenlet",
)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    memory = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
    }


def versions() -> str:
    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return ", ".join(f"{name} {version(name)}" for name in PACKAGES)


def _us(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a == a and b == b and b else "-"


def render(results: dict[str, Any]) -> str:
    """The markdown report of one run."""
    meta = results["meta"]
    lines = [
        f"# userstore benchmarks ({meta['mode']} run)",
        "",
        f"Run {meta['started']} to {meta['finished']} (UTC) with `{meta['command']}`.",
        "",
        f"- Machine: {meta['machine']['cpu']}, {meta['machine']['memory']} RAM, "
        f"{meta['machine']['os']}; {meta['machine']['python']}.",
        f"- Load average (1 / 5 / 15 min): {meta['load_start']} at the start, "
        f"{meta['load_end']} at the end; "
        + ", ".join(
            f"{load} as {TITLES[b]} started" for b, load in meta.get("load_per_backend", {}).items()
        )
        + ".",
        f"- Versions: {meta['versions']}; sqlite3 library {meta['machine']['sqlite']}; "
        f"userstore from {meta['source']}.",
        "- Servers: " + "; ".join(f"{TITLES[b]} {s}" for b, s in meta["servers"].items()) + ".",
        "",
        "Implementations: **raw driver** (asyncpg / aiomysql / aiosqlite) sending the SQL "
        "userstore sends, in the fewest transactions (asyncpg: every statement alone, "
        "a write committed by the server as it runs, as userstore's `connect()` face "
        "sends a one-statement write; aiomysql and aiosqlite ending each call with "
        "`commit()`/`rollback()`), with the connection settings of userstore's dialect shim, "
        "on one connection held for the run: the floor. **SA ORM**: SQLAlchemy's ORM alone "
        "sending the same statements on userstore's models, one session per call: the floor "
        "of any ORM-based adapter. **userstore** and **fudb 7** "
        "(fastapi-users-db-sqlalchemy 7): each adapter on its own mixins' tables, wired as "
        "in the FastAPI Users tutorial (plain `create_async_engine(url)`, "
        "`async_sessionmaker(engine, expire_on_commit=False)`), one session and one adapter "
        "object per call, as a request does; the session's open and close are in the time. "
        "**connect()**: the store frameworks get from `userstore.connect(url, models=Base)` "
        "on userstore's tables, its own engine, one `store.session()` per call.",
        "",
    ]
    lines += _operations_section(results)
    if results.get("scale"):
        lines += _scale_section(results)
    if results.get("concurrency"):
        lines += _concurrency_section(results)
    if results.get("session_size"):
        lines += _session_size_section(results)
    lines += _targets_section(results)
    return "\n".join(lines) + "\n"


def _operations_section(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    lines = [
        "## Per call: one connection, sequential calls",
        "",
        f"Median µs per call over {meta['iterations']} calls per implementation and "
        f"operation (after {meta['warmup']} warm-up calls), the implementations interleaved "
        "(each round calls every one once, in a new random order), on "
        f"{meta['seeded']:,} users that each have an OAuth account and an "
        "access token. Round trips are counted through a TCP relay (a burst of client bytes "
        "after the server spoke); on SQLite they are `statements run / hops to aiosqlite's "
        "thread` (from SQLite's trace callback; the DELETE's foreign-key cascades not "
        "counted), over the last calls of a separate pass.",
        "",
    ]
    for backend, data in results["operations"].items():
        impls = [n for n in IMPL_TITLES if n in data["median_us"]["create"]]
        header = [
            "operation",
            *(IMPL_TITLES[n] for n in impls),
            "userstore / raw",
            "connect() / raw",
            "userstore / SA ORM",
            "fudb / userstore",
            "round trips: " + " · ".join(IMPL_TITLES[n] for n in impls),
        ]
        lines += [f"### {TITLES[backend]}", "", _row(header), "|" + "---|" * len(header)]
        for op, medians in data["median_us"].items():
            lines.append(
                _row(
                    [
                        op,
                        *(_us(medians[n]) for n in impls),
                        _ratio(medians.get("userstore", 0), medians.get("raw", 0)),
                        _ratio(medians.get("connect", 0), medians.get("raw", 0)),
                        _ratio(medians.get("userstore", 0), medians.get("orm", 0)),
                        _ratio(medians.get("fudb", 0), medians.get("userstore", 0)),
                        " · ".join(data["round_trips"][op].get(n, "-") for n in impls),
                    ]
                )
            )
        misses = {n: m for n, m in data["misses"].items() if m}
        if misses:
            lines.append(f"\nLookups that found nothing: {misses}.")
        lines.append("")
    return lines


def _session_size_section(results: dict[str, Any]) -> list[str]:
    plan = results["meta"]["session_size"]
    sizes = [str(size) for size in plan["sizes"]]
    separate = results["meta"].get("session_size_run")
    lines = [
        "## Writes in a session holding many users",
        "",
        *(
            [
                f"Measured in a run of its own, {separate['started']} (UTC), with "
                f"`{separate['command']}`, userstore from {separate['source']}.",
                "",
            ]
            if separate
            else []
        ),
        "One session per implementation loads N users, then runs each write in that "
        f"session, {plan['rounds']} times per size, the implementations interleaved; median "
        "µs, and the growth from the smallest N to the largest. The bare ORM is shown with "
        "the tutorial's `expire_on_commit=False` and with SQLAlchemy's default, whose commit "
        "expires every object the session holds; userstore with both.",
        "",
    ]
    header = ["backend", "write", "implementation", *[f"N={int(s):,}" for s in sizes], "growth"]
    lines += [_row(header), "|" + "---|" * len(header)]
    for backend, per_write in results["session_size"].items():
        for write, per_impl in per_write.items():
            for name, per_size in per_impl.items():
                values = [per_size.get(s) for s in sizes]
                growth = f"{values[-1] / values[0]:.2f}x" if values[0] and values[-1] else "n/a"
                cells = [f"{v:,.0f}" if v is not None else "n/a" for v in values]
                lines.append(_row([TITLES[backend], write, name, *cells, growth]))
    return [*lines, ""]


def _scale_section(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    sizes: list[int] = meta["scale_sizes"]
    first = sizes[0]
    lines = [
        "## Lookups as the user table grows",
        "",
        "Median µs per lookup (one connection, sequential; each implementation drawing its "
        "own random users), every user with one OAuth account, rows bulk-loaded through the "
        "driver's fast path (asyncpg `copy_records_to_table`, aiomysql `executemany` "
        "multi-row INSERTs, aiosqlite `executemany` in one transaction), then ANALYZEd. "
        f"Beside the growing tables, a second pair stays at {first:,} users; at each larger "
        f"size every round looks up once in each, all interleaved, so the ratio to {first:,} "
        "users comes from the same minutes of the run. Up to "
        f"{meta['scale_rounds']} lookups per point; an implementation stops early once it has "
        f"spent {meta['scale_budget_s']:g} s at one point (fudb's full scans), with at least "
        f"{meta['scale_min_samples']} samples. Plot: `{meta['plot']}`.",
        "",
    ]
    header = [
        "backend",
        "lookup",
        "implementation",
        *(f"{size:,} users" for size in sizes),
        *(f"{size:,} / {first:,} (same minutes)" for size in sizes[1:]),
        "samples",
    ]
    lines += [_row(header), "|" + "---|" * len(header)]
    for backend, data in results["scale"].items():
        for op, per_impl in data["stats_us"].items():
            for name, per_size in per_impl.items():
                points = [per_size.get(str(size), {}) for size in sizes]
                counts = [
                    stats.get("n", 0) for point in points for stats in point.values() if stats
                ]
                lines.append(
                    _row(
                        [
                            TITLES[backend],
                            op,
                            IMPL_TITLES[name],
                            *(_us(scale_median(point)) for point in points),
                            *(
                                _ratio(scale_median(point), scale_median(point, "reference"))
                                for point in points[1:]
                            ),
                            "-".join(str(c) for c in sorted({min(counts), max(counts)})),
                        ]
                    )
                )
    loads = "; ".join(
        f"{TITLES[b]}: " + ", ".join(f"{int(s):,} in {t:.0f} s" for s, t in d["load_s"].items())
        for b, d in results["scale"].items()
    )
    lines += ["", f"Load times (both schemas, cumulative sizes): {loads}.", ""]
    return lines


IMPLS_SHOWN = ("raw", "userstore", "connect")


def _concurrency_section(results: dict[str, Any]) -> list[str]:
    meta = results["meta"]
    plan = meta["concurrency"]
    lines = [
        "## Concurrency",
        "",
        f"{plan['tasks']} tasks over a pool of {plan['pool_size']} connections, each task "
        f"looping over one workload for {plan['duration_s']:g} s, {plan['repeats']} runs per "
        "implementation alternating (the median run shown). get_by_email: random seeded "
        "users; create: new users. userstore: `create_async_engine(url, pool_size=10, "
        "max_overflow=0)`, a session per call; connect(): `userstore.connect(url, "
        "pool_size=10, max_overflow=0)`, a store session per call; raw: asyncpg's / "
        "aiomysql's pool (asyncpg's reset query on release skipped, as every call ends its "
        "transaction).",
        "",
    ]
    header = [
        "backend",
        "workload",
        "raw calls/s",
        "userstore calls/s",
        "userstore / raw throughput",
        "connect() calls/s",
        "connect() / raw throughput",
        "raw · userstore · connect() p50 / p99 ms",
        "client CPU µs per call, raw / userstore / connect() (sequential runs)",
        "raw / userstore CPU",
        "raw / connect() CPU",
    ]
    lines += [_row(header), "|" + "---|" * len(header)]
    for backend, data in results["concurrency"].items():
        cpu = results["operations"].get(backend, {}).get("cpu_us", {})
        for workload, per_impl in data.items():
            per_call = cpu.get(workload, {})
            raw_cpu, our_cpu = per_call.get("raw", float("nan")), per_call.get("userstore", 0.0)
            store_cpu = per_call.get("connect", 0.0)
            cells: dict[str, tuple[float, str]] = {}
            for name, runs in per_impl.items():
                run = sorted(runs, key=lambda r: r["per_second"])[len(runs) // 2]
                latency = run["latency_us"]
                p50, p99 = latency["median"] / 1000, latency["p99"] / 1000
                cells[name] = (run["per_second"], f"{p50:.1f} / {p99:.1f}")
            lines.append(
                _row(
                    [
                        TITLES[backend],
                        workload,
                        f"{cells['raw'][0]:,.0f}",
                        f"{cells['userstore'][0]:,.0f}",
                        _ratio(cells["userstore"][0], cells["raw"][0]),
                        f"{cells.get('connect', (0.0, '-'))[0]:,.0f}",
                        _ratio(cells.get("connect", (0.0, "-"))[0], cells["raw"][0]),
                        " · ".join(cells[n][1] for n in IMPLS_SHOWN if n in cells),
                        f"{_us(raw_cpu)} / {_us(our_cpu)} / {_us(store_cpu)}",
                        _ratio(raw_cpu, our_cpu),
                        _ratio(raw_cpu, store_cpu),
                    ]
                )
            )
    lines += [
        "",
        "One process, one event loop: with 64 tasks the loop is saturated, so throughput "
        "follows the client CPU each call costs (mean over the sequential per-call runs "
        "above, every thread of the process). The last column is the throughput ratio that "
        "CPU alone predicts.",
        "",
    ]
    return lines


def _targets_section(results: dict[str, Any]) -> list[str]:
    rows = targets(results)
    missed = [r for r in rows if not r[4]]
    lines = ["## Thresholds", "", f"{len(rows) - len(missed)} of {len(rows)} met."]
    if not missed:
        return [*lines, ""]
    lines += [
        "",
        "### What bounds the missed ones",
        "",
        "From this run's medians (SA ORM: SQLAlchemy's ORM alone sending userstore's "
        "statements in the same round trips, the floor of any adapter working in the "
        "application's `AsyncSession`):",
        "",
        *summary_of_bounds(results),
        "",
        "Missed, each with what bounds it:",
        "",
    ]
    header = ["threshold", "backend", "operation", "measured", "bounded by (this run)"]
    lines += [_row(header), "|" + "---|" * len(header)]
    lines += [
        _row([row[0], TITLES[row[1]], row[2], f"{row[3]:.2f}", bound(results, row)])
        for row in missed
    ]
    lines.append("")
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def plot_scale(results: dict[str, Any], path: Path) -> bool:
    """Plot µs per lookup against users, per backend and lookup; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    scale = results["scale"]
    sizes = results["meta"]["scale_sizes"]
    backends = list(scale)
    ops = list(next(iter(scale.values()))["stats_us"])
    figure, axes = plt.subplots(
        len(ops), len(backends), figsize=(4.2 * len(backends), 3.4 * len(ops)), squeeze=False
    )
    for column, backend in enumerate(backends):
        for row, op in enumerate(ops):
            axis = axes[row][column]
            for name, per_size in scale[backend]["stats_us"][op].items():
                medians = [scale_median(per_size[str(size)]) for size in sizes]
                axis.plot(sizes, medians, marker="o", label=IMPL_TITLES[name])
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_title(f"{TITLES[backend]}: {op}", fontsize=10)
            axis.set_xlabel("users")
            axis.set_ylabel("µs per lookup (median)")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize=8)
    stamp = results["meta"]["finished"]
    figure.suptitle(f"Lookup cost as the table grows ({stamp} UTC)", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
