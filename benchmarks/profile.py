"""Where one implementation's time goes per call: py-spy samples, grouped by layer.

    python benchmarks/profile.py --backend postgres --impl userstore --op get
    python benchmarks/profile.py --backend sqlite --impl orm --op create --calls 3000

Runs ``--calls`` calls of one operation in a child process, which ``py-spy
record --pid`` samples only while the calls run (at ``--rate`` Hz, idle time
excluded: the process's own CPU, not the server's), then groups the samples
by the layer of the innermost Python frame (event loop and sockets, driver,
SQLAlchemy's asyncio bridge, Core, ORM, userstore...) and prints µs of CPU
per call for each, with the hottest userstore functions.  ``--pyinstrument`` runs the calls under
pyinstrument in this process instead and writes its HTML.  Files go to
``$TMPDIR/userstore-profile/``.  Needs the bench environment
(``benchmarks/bench.sh --profile ...`` builds it) and, for py-spy, ptrace rights.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._databases import BACKENDS
from bench._impls import IMPLEMENTATIONS, Impl, make_impl
from bench._load import PASSWORD, account_id_of, analyze, bulk_load, lookup_email_of, user_id_of
from bench._models import declare_models

OUTPUT = Path(tempfile.gettempdir()) / "userstore-profile"
OPERATIONS = ("get", "get_by_email", "get_by_oauth_account", "create", "update")
SEEDED = 1_000
WARMUP = 200

# innermost frame's file -> layer; first match wins
LAYERS = [
    ("userstore", re.compile(r"userstore_sqlalchemy/|/userstore/|src/userstore/")),
    ("SA asyncio bridge (greenlet)", re.compile(r"sqlalchemy/(ext/asyncio|util/_concurrency)")),
    ("SA dialect (driver adaptation)", re.compile(r"sqlalchemy/(dialects|connectors)/")),
    (
        "SA ORM: loading objects",
        re.compile(
            r"sqlalchemy/orm/(loading|strategies|state|attributes|identity|instrumentation|collections|base)\.py"
        ),
    ),
    ("SA ORM: session, flush, query context", re.compile(r"sqlalchemy/orm/")),
    ("SA Core: statements, cache keys", re.compile(r"sqlalchemy/sql/")),
    ("SA Core: connection, pool, results", re.compile(r"sqlalchemy/(engine|pool|event)/")),
    ("SA other", re.compile(r"sqlalchemy/")),
    ("driver", re.compile(r"(asyncpg|aiomysql|pymysql|aiosqlite)/")),
    ("event loop, sockets", re.compile(r"asyncio/|selectors\.py|socket\.py|ssl\.py")),
    ("benchmark harness", re.compile(r"bench/|profile\.py")),
]
# innermost functions where the process sits in a system call: a socket send
# (on a busy machine the server's work is often scheduled inside it) or epoll
WAITS = [
    (
        "syscalls: socket send (often running the server meanwhile)",
        {"_SelectorSocketTransport.write", "_SelectorSocketTransport.writelines"},
    ),
    ("syscalls: epoll wait", {"EpollSelector.select"}),
]
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def layer_of(frames: list[str]) -> tuple[str, str]:
    """The layer of a sampled stack, and its innermost frame."""
    leaf = frames[-1].strip()
    match = _FRAME.match(leaf)
    function, path = (match.group("function"), match.group("file")) if match else (leaf, "")
    if any("_connection_worker_thread" in frame for frame in frames):
        return "aiosqlite's worker thread (SQLite itself; in parallel)", leaf
    for name, functions in WAITS:
        if function in functions:
            return name, leaf
    for name, pattern in LAYERS:
        if pattern.search(path):
            return name, leaf
    return "other (Python stdlib, uuid, greenlet switch...)", leaf


async def _call(impl: Impl, op: str, i: int, users: list[Any]) -> Any:
    seeded = i % SEEDED
    if op == "get":
        return await impl.get(user_id_of(seeded))
    if op == "get_by_email":
        return await impl.get_by_email(lookup_email_of(seeded))
    if op == "get_by_oauth_account":
        return await impl.get_by_oauth_account("github", account_id_of(seeded))
    if op == "create":
        return await impl.create(f"Profiled{i}@Example.com", PASSWORD)
    return await impl.update(users[seeded], f"{PASSWORD[:-8]}{i:08d}")


async def _loop(
    arguments: argparse.Namespace, profiler: Any = None, *, handshake: bool = False
) -> float:
    """Set up, run the calls (profiled), tear down; µs per call.

    With ``handshake``, print ``ready`` and wait for a line on stdin before the
    calls, print ``done`` after them and wait for another line before tearing down.
    """
    from bench._databases import scratch_database

    schema = "fudb" if arguments.impl == "fudb" else "userstore"
    async with scratch_database(arguments.backend, declare_models(schema), "prof") as database:
        await bulk_load(database, 0, SEEDED, plain_from=SEEDED)
        await analyze(database)
        impl = make_impl(arguments.impl, database)
        await impl.open()
        try:
            users = []
            if arguments.op == "update":
                users = [await impl.load(user_id_of(i)) for i in range(SEEDED)]
            for i in range(WARMUP):
                await _call(impl, arguments.op, i, users)
            if handshake:
                print("ready", flush=True)
                sys.stdin.readline()
            if profiler is not None:
                profiler.start()
            started = time.perf_counter()
            for i in range(WARMUP, WARMUP + arguments.calls):
                await _call(impl, arguments.op, i, users)
            elapsed = time.perf_counter() - started
            if profiler is not None:
                profiler.stop()
            if handshake:
                print(f"done {elapsed / arguments.calls * 1e6}", flush=True)
                sys.stdin.readline()
        finally:
            await impl.close()
    return elapsed / arguments.calls * 1e6


def sample(arguments: argparse.Namespace, raw: Path) -> float:
    """Run the calls in a child process under ``py-spy record --pid``; µs per call."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", *sys.argv[1:]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if child.stdin is None or child.stdout is None:
        raise RuntimeError("no pipes to the profiled process")
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the profiled process did not start")
        command = [
            spy,
            "record",
            "--nonblocking",
            "--pid",
            str(child.pid),
            "--rate",
            str(arguments.rate),
        ]
        recorder = subprocess.Popen(
            [*command, "--format", "raw", "-o", str(raw)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if recorder.stdout is None:
            raise RuntimeError("no pipe from py-spy")
        while "Sampling process" not in (line := recorder.stdout.readline()):
            if not line:
                raise RuntimeError("py-spy did not start (ptrace not permitted?)")
        child.stdin.write("go\n")
        child.stdin.flush()
        done = child.stdout.readline().split()
        recorder.send_signal(signal.SIGINT)
        recorder.communicate()
        child.stdin.write("stop\n")
        child.stdin.flush()
        return float(done[1])
    finally:
        child.wait()


def summarise(raw: Path, calls: int, rate: int, wall_us: float | None) -> str:
    """Group py-spy's collapsed stacks by layer; µs of CPU per call."""
    layers: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        layer, leaf = layer_of(stack.split(";"))
        layers[layer] += count
        total += count
        if layer == "userstore":
            ours[leaf.rsplit(":", 1)[0] + ")"] += count
    per_call = 1e6 / rate / calls
    lines = [f"CPU samples: {total} at {rate} Hz = {total * per_call:,.0f} µs per call"]
    if wall_us is not None:
        lines[0] += f" (wall {wall_us:,.0f} µs per call, sampling included)"
    lines += [f"  {count * per_call:7.1f} µs  {name}" for name, count in layers.most_common()]
    if ours:
        lines.append("userstore's own frames (self time):")
        lines += [f"  {count * per_call:7.1f} µs  {name}" for name, count in ours.most_common(12)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, required=True)
    parser.add_argument("--impl", choices=IMPLEMENTATIONS, default="userstore")
    parser.add_argument("--op", choices=OPERATIONS, default="get")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    stem = OUTPUT / f"{arguments.backend}-{arguments.impl}-{arguments.op}"
    if arguments.child:
        asyncio.run(_loop(arguments, handshake=True))
        return
    if arguments.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        wall = asyncio.run(_loop(arguments, profiler))
        stem.with_suffix(".html").write_text(profiler.output_html(), encoding="utf-8")
        print(profiler.output_text(unicode=True, color=False))
        print(f"{wall:,.0f} µs per call under pyinstrument; HTML: {stem.with_suffix('.html')}")
        return
    raw = stem.with_suffix(".txt")
    wall = sample(arguments, raw)
    print(f"{arguments.impl} {arguments.op} on {arguments.backend}, {arguments.calls} calls")
    print(summarise(raw, arguments.calls, arguments.rate, wall))


if __name__ == "__main__":
    main()
