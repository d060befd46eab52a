"""Scale-out figures: stale reads with and without read-your-writes, and what a read costs.

Starts the throwaway clusters of ``tests/scaleout/servers.py`` (a PostgreSQL
primary with a hot standby, a 3-node Galera cluster), then measures, each step
of a user's life in a new session as web requests do:

- stale reads over ``--rounds`` rounds (register, then log in; issue a token,
  then use it; verify, then read back) through ``connect(url, replicas=[...])``,
  and through the same routing with the position check switched off (every read
  on the replica: what a time-window-free routing recipe gives), with the share
  of reads the replica served;
- the median of a lookup (session open, ``get_by_email``, close) on the primary
  alone, routed with the replica, and on a Galera node with and without
  ``wsrep_sync_wait``, after a write on another node.

Prints a markdown table; ``--output`` writes it to a file too.  Run from the
repository root: ``uv run python benchmarks/scaleout.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

import userstore  # noqa: E402
from tests.scaleout.servers import galera_cluster, postgres_primary_replica  # noqa: E402
from userstore_sqlalchemy.routing import replica_set  # noqa: E402


def _database(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/userstore"


async def _stale_rounds(store: Any, rounds: int, tag: str) -> dict[str, int]:
    stale = {"login": 0, "token": 0, "verified": 0}
    for n in range(rounds):
        email = f"{tag}{n}@x.io"
        async with store.session() as s:
            user = await s.users.create({"email": email, "hashed_password": "h"})
        async with store.session() as s:
            stale["login"] += await s.users.get_by_email(email) is None
        async with store.session() as s:
            await s.tokens.create({"token": f"{tag}{n:040d}"[:43], "user_id": user.id})
        async with store.session() as s:
            stale["token"] += await s.tokens.get_by_token(f"{tag}{n:040d}"[:43]) is None
        async with store.session() as s:
            found = await s.users.get(user.id)
            if found is not None:
                await s.users.update(found, {"is_verified": True})
        async with store.session() as s:
            again = await s.users.get(user.id)
            stale["verified"] += again is None or not again.is_verified
    return stale


async def _lookup_us(store: Any, email: str, n: int = 300) -> float:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        async with store.session() as s:
            await s.users.get_by_email(email)
        samples.append((time.perf_counter() - began) * 1e6)
    return statistics.median(samples)


async def replicas(rounds: int) -> list[str]:
    lines = []
    with postgres_primary_replica() as pair:
        primary, replica = _database(pair.primary.url), _database(pair.replica.url)
        for mode in ("routed", "no position check"):
            store = userstore.connect(primary, replicas=[replica], table_prefix="s_")
            await store.create_schema()
            routes = replica_set(store.engine, store.replicas)  # type: ignore[attr-defined]
            if mode != "routed":
                routes._caught_up = lambda index, needed: True  # type: ignore[method-assign]
            before = dict(routes.reads)
            stale = await _stale_rounds(store, rounds, "r" if mode == "routed" else "n")
            served = {k: routes.reads[k] - before[k] for k in before}
            reads = sum(served.values())
            share = 100 * served["replica"] / max(1, reads)
            total = sum(stale.values())
            lines.append(
                f"| replica, {mode} | {rounds} rounds: {total} stale of {3 * rounds} reads "
                f"(login {stale['login']}, token {stale['token']}, verified "
                f"{stale['verified']}); {share:.0f}% of reads on the replica |"
            )
            await store.drop_schema()
            await store.close()
        plain = userstore.connect(primary, table_prefix="l_")
        routed = userstore.connect(primary, replicas=[replica], table_prefix="l_")
        await plain.create_schema()
        async with plain.session() as s:
            await s.users.create({"email": "l@x.io", "hashed_password": "h"})
        await asyncio.sleep(0.2)
        for _ in range(2):  # warm, then measured
            alone, with_replica = (
                await _lookup_us(plain, "l@x.io"),
                await _lookup_us(routed, "l@x.io"),
            )
        lines.append(
            f"| PostgreSQL lookup (session, get_by_email) | primary alone {alone:.0f} µs; "
            f"routed to the replica {with_replica:.0f} µs |"
        )
        await plain.drop_schema()
        await plain.close()
        await routed.close()
    return lines


async def galera() -> list[str]:
    with galera_cluster() as cluster:
        one = userstore.connect(cluster.nodes[0].url, table_prefix="g_")
        two = userstore.connect(cluster.nodes[1].url, table_prefix="g_")
        await one.create_schema()
        await asyncio.sleep(0.5)
        async with one.session() as s:
            await s.users.create({"email": "g@x.io", "hashed_password": "h"})
        with_wait = await _lookup_us(two, "g@x.io")
        without = userstore.connect(cluster.nodes[1].url, table_prefix="g_")
        await _lookup_us(without, "g@x.io", n=5)  # the shim's setup has run on its connection

        def no_wait(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            if not record.info.get("no_wait"):  # once per connection, after the shim's setup
                cursor = dbapi_connection.cursor()
                cursor.execute("SET SESSION wsrep_sync_wait = 0")
                cursor.close()
                record.info["no_wait"] = True

        event.listen(without.engine.sync_engine, "checkout", no_wait)  # type: ignore[attr-defined]
        no_wait_us = await _lookup_us(without, "g@x.io")
        await one.drop_schema()
        for store in (one, two, without):
            await store.close()
    return [
        f"| Galera lookup on another node (session, get_by_email) | with wsrep_sync_wait=1 "
        f"{with_wait:.0f} µs; with 0 {no_wait_us:.0f} µs |"
    ]


async def main(arguments: argparse.Namespace, head: str) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on commit {head} "
        "with `python benchmarks/scaleout.py`.",
        "",
        "| setup | figure |",
        "|---|---|",
    ]
    lines += await replicas(arguments.rounds)
    lines += await galera()
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    text = asyncio.run(main(args, commit))
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
