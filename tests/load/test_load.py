"""Issue 8, part 3: 200 concurrent tasks for 30 seconds on each backend.

A mixed workload (``_workload.py``: register, login lookup, OAuth link and
lookup, token create, lookup and delete, with deliberate races) runs through
``userstore.connect(url)`` with a pool of 10 + 10 connections, one session per
operation.  Afterwards a fresh store reads the tables back and the test requires:
no lost user (every create that returned is stored), no duplicated user (one row
per email key, and every ``UserAlreadyExists`` had a winner), every uniqueness
rule held (email key, OAuth ``(name, account_id)``, token), no exception other
than the expected typed refusals (no ``StoreUnavailable``: on SQLite writers wait
for the lock), and no answer that contradicts a committed call.

``USERSTORE_LOAD_SECONDS`` sets the duration (default 30).  The throughput per
operation is printed (``pytest -s``) and, if ``USERSTORE_LOAD_REPORT`` names a
JSON file, merged into it under the backend's name.
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import statistics
from pathlib import Path
from typing import Any

from sqlalchemy import select

import userstore
from userstore import email_key
from userstore_sqlalchemy import SQLAlchemyStore

from ._workload import EXPECTED_REFUSALS, Ledger, run_load

TASKS = 200
SECONDS = float(os.environ.get("USERSTORE_LOAD_SECONDS", "30"))
POOL = {"pool_size": 10, "max_overflow": 10, "pool_timeout": 30}


async def test_mixed_load_keeps_every_rule(db_url: str, backend_name: str) -> None:
    prefix = f"load_{secrets.token_hex(3)}_"
    store = userstore.connect(db_url, table_prefix=prefix, **POOL)
    assert isinstance(store, SQLAlchemyStore)
    ledger = Ledger()
    try:
        try:
            await store.create_schema()
            elapsed = await run_load(store, ledger, tasks=TASKS, seconds=SECONDS)
        finally:
            await store.close()
        stored = await _read_back(db_url, prefix)
    finally:
        await _drop(db_url, prefix)
    report = _report(backend_name, elapsed, ledger, stored)
    print(f"\n{json.dumps(report, indent=2)}")
    _save(backend_name, report)

    assert ledger.untyped == [], "store calls raised exceptions that are not UserStoreError"
    assert dict(ledger.errors) == {}, "store calls raised errors other than expected refusals"
    assert ledger.anomalies == [], "calls contradicted what committed calls returned"
    _check_users(ledger, stored["users"])
    _check_links(ledger, stored["accounts"])
    _check_tokens(ledger, stored["tokens"])
    # the load did what it claims: many calls, and every kind of collision happened
    assert set(ledger.ops) == set(EXPECTED_REFUSALS) | {
        "login",
        "oauth_lookup",
        "token_create",
        "token_lookup",
        "token_delete",
    }
    refused = {kind.__name__ for kind in EXPECTED_REFUSALS.values()}
    assert all(ledger.refusals[name] > 0 for name in refused), ledger.refusals


def _check_users(ledger: Ledger, rows: list[Any]) -> None:
    keys = collections.Counter(email_key(row.email) for row in rows)
    assert [k for k, n in keys.items() if n > 1] == [], "two users share an email key"
    assert all(row.email_key == email_key(row.email) for row in rows)
    stored = {row.email_key: row.id for row in rows}
    lost = {k: v for k, v in ledger.users.items() if stored.get(k) != v}
    assert lost == {}, "creates that returned are missing (or hold another id)"
    assert set(stored) == set(ledger.users), "users stored that no create returned"
    assert ledger.refused_keys <= set(stored), "UserAlreadyExists without a winner"


def _check_links(ledger: Ledger, rows: list[Any]) -> None:
    pairs = collections.Counter((row.oauth_name, row.account_id) for row in rows)
    assert [p for p, n in pairs.items() if n > 1] == [], "an OAuth account is linked twice"
    stored = {(row.oauth_name, row.account_id): row.user_id for row in rows}
    assert stored == ledger.links


def _check_tokens(ledger: Ledger, rows: list[Any]) -> None:
    stored = {row.token: row.user_id for row in rows}
    assert len(stored) == len(rows)
    assert stored == {**ledger.kept_tokens, **ledger.loose_tokens}
    assert not ledger.deleted_tokens & set(stored)


async def _read_back(url: str, prefix: str) -> dict[str, list[Any]]:
    """Every row of the three tables, read by a store that took no part in the load."""
    fresh = userstore.connect(url, table_prefix=prefix)
    assert isinstance(fresh, SQLAlchemyStore)
    tables = fresh.models.metadata.tables
    try:
        async with fresh.engine.connect() as connection:
            return {
                name: list(await connection.execute(select(tables[f"{prefix}{table}"])))
                for name, table in (
                    ("users", "user"),
                    ("accounts", "oauth_account"),
                    ("tokens", "accesstoken"),
                )
            }
    finally:
        await fresh.close()


async def _drop(url: str, prefix: str) -> None:
    fresh = userstore.connect(url, table_prefix=prefix)
    try:
        await fresh.drop_schema()
    finally:
        await fresh.close()


def _report(
    backend: str, elapsed: float, ledger: Ledger, stored: dict[str, list[Any]]
) -> dict[str, Any]:
    total = sum(ledger.ops.values())
    return {
        "backend": backend,
        "tasks": TASKS,
        "seconds": round(elapsed, 1),
        "pool": POOL,
        "operations": total,
        "ops_per_second": round(total / elapsed, 1),
        "by_operation": {
            kind: {
                "count": ledger.ops[kind],
                "per_second": round(ledger.ops[kind] / elapsed, 1),
                "median_ms": round(1000 * statistics.median(ledger.latencies[kind]), 1),
                "p99_ms": round(1000 * _p99(ledger.latencies[kind]), 1),
                "max_ms": round(1000 * max(ledger.latencies[kind]), 1),
            }
            for kind in sorted(ledger.ops)
        },
        "refusals": dict(ledger.refusals),
        "errors": dict(ledger.errors),
        "stored": {name: len(rows) for name, rows in stored.items()},
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _save(backend: str, report: dict[str, Any]) -> None:
    target = os.environ.get("USERSTORE_LOAD_REPORT")
    if not target:
        return
    path = Path(target)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[backend] = report
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
