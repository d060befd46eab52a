"""The thresholds each figure is checked against in one run, and what bounds each one missed.

A missed threshold is explained from the same run's numbers, never from
assumptions: the SA ORM column (SQLAlchemy's ORM alone sending userstore's
statements in the same round trips) is the floor of any adapter that works in
the application's ``AsyncSession``; the raw driver is the floor of everything;
on SQLite the hops to aiosqlite's worker thread are counted per call and one
hop is timed on its own; for the scale threshold the raw driver's own growth
shows what the server does.
"""

from __future__ import annotations

from typing import Any

from ._names import TITLES

__all__ = [
    "LOOKUPS",
    "TARGET_FUDB_LOOKUPS",
    "TARGET_CONNECT",
    "TARGET_FUDB_WRITES",
    "TARGET_RAW",
    "TARGET_SCALE",
    "WRITES",
    "bound",
    "scale_median",
    "summary_of_bounds",
    "targets",
]

TARGET_RAW = 1.5
TARGET_CONNECT = {"sqlite": 2.0, "postgres": 1.3, "mysql": 1.3}
"""connect() / raw per call: the store's own engine and statements, near the driver."""
TARGET_FUDB_WRITES = 3.0
TARGET_FUDB_LOOKUPS = 1.5
TARGET_SCALE = 1.5
WRITES = ("create", "update")
LOOKUPS = ("get", "get_by_email", "get_by_oauth_account", "get_by_token")

Target = tuple[str, str, str, float, bool]
"""``(target, backend, operation, value, met)``."""


def scale_median(point: dict[str, Any], which: str = "grown") -> float:
    """The median of one scale point: the grown tables, or the reference beside them."""
    stats = point.get(which) or {}
    return float(stats.get("median", float("nan")))


def targets(results: dict[str, Any]) -> list[Target]:
    """Every threshold, with the value measured and whether it is met."""
    found: list[Target] = []
    for backend, data in results["operations"].items():
        for op, medians in data["median_us"].items():
            if "raw" in medians:
                value = medians["userstore"] / medians["raw"]
                label = f"userstore / raw ≤ {TARGET_RAW}"
                found.append((label, backend, op, value, value <= TARGET_RAW))
            if "raw" in medians and "connect" in medians:
                value = medians["connect"] / medians["raw"]
                goal = TARGET_CONNECT[backend]
                found.append((f"connect() / raw ≤ {goal}", backend, op, value, value <= goal))
            if "fudb" in medians and op in (*WRITES, *LOOKUPS):
                value = medians["fudb"] / medians["userstore"]
                goal = TARGET_FUDB_WRITES if op in WRITES else TARGET_FUDB_LOOKUPS
                found.append((f"fudb / userstore ≥ {goal}", backend, op, value, value >= goal))
    sizes = results["meta"]["scale_sizes"]
    for backend, data in (results.get("scale") or {}).items():
        if len(sizes) < 2:
            continue
        for op, per_impl in data["stats_us"].items():
            point = per_impl["userstore"][str(sizes[-1])]
            value = scale_median(point) / scale_median(point, "reference")
            label = f"userstore at {sizes[-1]:,} / at {sizes[0]:,} users ≤ {TARGET_SCALE}"
            found.append((label, backend, op, value, value <= TARGET_SCALE))
    return found


def _hops(round_trips: str) -> int | None:
    """The hops of a SQLite count ``statements / hops`` (the first, if a range)."""
    first = round_trips.split(" to ")[0]
    _, _, hops = first.partition(" / ")
    return int(hops) if hops.strip().isdigit() else None


def bound(results: dict[str, Any], target: Target) -> str:
    """What bounds one missed threshold, in this run's numbers."""
    label, backend, op, _, _ = target
    if label.startswith("userstore at"):
        return _scale_bound(results, backend, op)
    data = results["operations"][backend]
    m = data["median_us"][op]
    raw, orm, ours = m.get("raw", 0.0), m.get("orm", 0.0), m["userstore"]
    if label.startswith("connect() / raw"):
        store = m["connect"]
        trips = data["round_trips"][op]
        text = (
            f"SA ORM alone {orm / raw:.2f}x raw; connect() {store / orm:.2f}x SA ORM; "
            f"round trips raw {trips.get('raw', '-')}, connect() {trips.get('connect', '-')}, "
            f"SA ORM {trips.get('orm', '-')}"
        )
        cpu = data.get("cpu_us", {}).get(op, {})
        if cpu.get("raw") and cpu.get("connect"):
            # the same round trips: what is left is the client's work per call
            text += (
                f"; client CPU per call raw {cpu['raw']:,.0f} µs, connect() "
                f"{cpu['connect']:,.0f} µs (+{cpu['connect'] - cpu['raw']:,.0f} µs)"
            )
        return text
    if label.startswith("userstore / raw"):
        text = (
            f"SA ORM alone {orm / raw:.2f}x raw (+{orm - raw:,.0f} µs); "
            f"userstore {ours / orm:.2f}x SA ORM ({ours - orm:+,.0f} µs)"
        )
        hop = results["meta"].get("aiosqlite_hop_us")
        trips = data["round_trips"][op]
        raw_hops, our_hops = _hops(trips.get("raw", "")), _hops(trips.get("userstore", ""))
        if backend == "sqlite" and hop and raw_hops is not None and our_hops is not None:
            extra = our_hops - raw_hops
            text += (
                f"; aiosqlite thread hops {raw_hops} (raw) vs {our_hops}: "
                f"{extra} x {hop:.0f} µs = {extra * hop:,.0f} µs"
            )
        return text
    fudb = m["fudb"]
    return (
        f"fudb / SA ORM alone {fudb / orm:.2f}x (userstore at the bare ORM's cost); "
        f"fudb / raw {fudb / raw:.2f}x; userstore {ours / orm:.2f}x SA ORM"
    )


def _scale_bound(results: dict[str, Any], backend: str, op: str) -> str:
    sizes = results["meta"]["scale_sizes"]
    per_impl = results["scale"][backend]["stats_us"][op]
    parts = []
    for name in ("raw", "fudb"):
        point = per_impl.get(name, {}).get(str(sizes[-1]))
        if point:
            ratio = scale_median(point) / scale_median(point, "reference")
            parts.append(f"{'raw driver' if name == 'raw' else 'fudb 7'} {ratio:.2f}x")
    return "same sizes, same minutes: " + ", ".join(parts)


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}x to {max(values):.2f}x" if values else "-"


def summary_of_bounds(results: dict[str, Any]) -> list[str]:
    """Paragraphs on what bounds the per-call thresholds, per backend, from this run."""
    lines: list[str] = []
    for backend, data in results["operations"].items():
        medians = data["median_us"]
        if not all({"raw", "orm", "userstore"} <= set(m) for m in medians.values()):
            continue
        orm_raw = [m["orm"] / m["raw"] for m in medians.values()]
        ours_orm = [m["userstore"] / m["orm"] for m in medians.values()]
        text = (
            f"- **{TITLES[backend]}**: SQLAlchemy's ORM alone, sending the same statements in "
            f"the same round trips, takes {_range(orm_raw)} the raw driver's time; userstore "
            f"takes {_range(ours_orm)} the ORM's."
        )
        if all("fudb" in m for m in medians.values()):
            writes = [medians[op]["fudb"] / medians[op]["orm"] for op in WRITES if op in medians]
            reads = [medians[op]["fudb"] / medians[op]["orm"] for op in LOOKUPS if op in medians]
            text += (
                f" fudb 7 over the ORM alone: {_range(writes)} on create/update, "
                f"{_range(reads)} on lookups (the best ratio any adapter built on the ORM "
                "could show)."
            )
        hop = results["meta"].get("aiosqlite_hop_us")
        if backend == "sqlite" and hop:
            text += (
                f" One hop to aiosqlite's worker thread costs {hop:.0f} µs here (timed alone); "
                "the raw driver makes 2 per call (the statement, then commit or rollback), "
                "SQLAlchemy's aiosqlite adaptation 3 or 4 per statement (cursor, execute, "
                "fetchall for a lookup, cursor close) and 1 for the commit or rollback, "
                "counted in the round-trips column (the pool's rollback on return is skipped "
                "by userstore's engines for an idle connection)."
            )
        lines.append(text)
    return lines
