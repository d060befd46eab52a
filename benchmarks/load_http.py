"""HTTP load benchmark: FastAPI Users' documentation app under wrk, userstore beside fudb 7.

The app (``benchmarks/load/app.py``) is served by uvicorn, one worker, as a
subprocess; only its imports differ between the adapters.  Per backend (SQLite
file in a temp dir, PostgreSQL, MariaDB/MySQL; scratch databases
``bench_<hex>_http*`` on the servers, dropped at the end), per adapter:

1. seed ``--users`` users through the adapter's ``SQLAlchemyUserDatabase.create``
   (one argon2 hash shared), register one more through ``POST /auth/register``,
   log in on ``/auth/jwt/login`` and ``/auth/db/login`` for a JWT and a
   database token;
2. drive, with ``wrk -t2 -c64 --latency`` (keep-alive) and ``load/wrk.lua``:
   ``GET /users/me`` with the JWT, ``GET /users/me`` with the database token,
   ``POST /auth/jwt/login`` (FastAPI Users' default ``PasswordHelper``: argon2);
   the two adapters' servers run side by side and alternate per endpoint, the
   order flipping every round; the median of the rounds is reported;
3. count SQL statements per request: a second server per adapter with
   ``LOAD_COUNT_STATEMENTS=1`` (a ``before_cursor_execute`` listener and
   ``GET /_stats``), sequential requests from httpx, counter read before and
   after (never during the timed runs).

Writes ``benchmarks/results/load-http.md``, ``load-http.json`` and
``load-http.png`` (``--quick``: 3 s runs, one round, ``load-http-quick.*``).
Needs ``wrk`` (``apt-get install wrk``); without it, says so and exits 0.
Runs in the benchmarks' environment (``nox -s bench`` or ``benchmarks/bench.sh --http``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from bench._databases import BACKENDS, scratch_database
from bench._models import declare_models
from bench._names import TITLES
from bench._report import load_average, machine, now

HERE = Path(__file__).resolve().parent
APP_DIR = HERE / "load"
LUA = APP_DIR / "wrk.lua"
RESULTS = HERE / "results"
ADAPTERS = ("userstore", "fudb")
ADAPTER_TITLES = {"userstore": "userstore", "fudb": "fudb 7"}
PASSWORD = "load-benchmark-password"
LOGIN_USER = "user1@example.com"
ENDPOINTS = {
    "me-jwt": ("GET", "/users/me", "jwt"),
    "me-db": ("GET", "/users/me", "db"),
    "login-jwt": ("POST", "/auth/jwt/login", None),
}
ENDPOINT_TITLES = {
    "me-jwt": "GET /users/me (JWT)",
    "me-db": "GET /users/me (DB token)",
    "login-jwt": "POST /auth/jwt/login",
}
PACKAGES = (
    "userstore-sqlalchemy",
    "fastapi-users-db-sqlalchemy",
    "fastapi-users",
    "fastapi",
    "SQLAlchemy",
    "uvicorn",
    "uvloop",
    "pwdlib",
    "argon2-cffi",
    "asyncpg",
    "aiomysql",
    "aiosqlite",
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    import importlib.metadata

    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_head() -> str:
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["git", "--no-optional-locks", "-C", str(HERE.parent), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "not a git checkout"
    dirty = git("diff", "--quiet", "HEAD", "--", "protocol", "adapters", "benchmarks/load")
    state = " (uncommitted changes)" if dirty.returncode != 0 else ""
    return head.stdout.strip() + state


def verify_ms() -> float:
    """Median time of one ``PasswordHelper().verify_and_update`` (the login's hash check)."""
    from fastapi_users.password import PasswordHelper

    helper = PasswordHelper()
    hashed = helper.hash(PASSWORD)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        helper.verify_and_update(PASSWORD, hashed)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat)."""
    with contextlib.suppress(OSError):
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_wrk(
    server: Server, endpoint: str, tokens: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """One wrk run, with where the machine's CPU went meanwhile (in cores)."""
    start = time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), children_cpu_seconds()
    run = wrk(server.base, endpoint, tokens, args, args.duration)
    end = time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), children_cpu_seconds()
    wall, busy, served, driven = (b - a for a, b in zip(start, end, strict=True))
    run["cpu_cores"] = {
        "machine": busy / wall,
        "server": served / wall,
        "wrk": driven / wall,
        "rest": (busy - served - driven) / wall,
    }
    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loop_choice() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


class Server:
    """One uvicorn process serving the app for one adapter and one database."""

    def __init__(self, adapter: str, url: str, logdir: Path, *, count: bool = False) -> None:
        self.adapter = adapter
        self.url = url
        self.count = count
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        suffix = "-count" if count else ""
        self.logfile = logdir / f"{adapter}{suffix}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ, LOAD_ADAPTER=self.adapter, LOAD_DATABASE_URL=self.url)
        env["LOAD_COUNT_STATEMENTS"] = "1" if self.count else "0"
        env["PYTHONWARNINGS"] = "default"
        return env

    def seed(self, users: int) -> None:
        command = [sys.executable, str(APP_DIR / "app.py"), "seed", str(users), PASSWORD]
        subprocess.run(command, env=self.env(), check=True)

    def start(self) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(APP_DIR),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--no-access-log", "--loop", loop_choice(),
        ]  # fmt: skip
        with self.logfile.open("ab") as output:
            self.process = subprocess.Popen(
                command, env=self.env(), stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.logfile.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/openapi.json", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer in 30 s: {self.logfile}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, timeout: float = 120.0) -> float:
        """Wait until the server stops using CPU: requests wrk left in flight are done.

        A login run leaves up to one request per connection queued behind the
        password hashing; without this wait they would run during the next run,
        on the other adapter's server.  Returns the seconds waited.
        """
        if not Path("/proc").is_dir():
            time.sleep(2)
            return 2.0
        start = time.monotonic()
        quiet = 0
        last = self.cpu_seconds()
        while quiet < 2 and time.monotonic() - start < timeout:
            time.sleep(0.25)
            now_cpu = self.cpu_seconds()
            quiet = quiet + 1 if now_cpu - last < 0.02 else 0
            last = now_cpu
        return time.monotonic() - start

    def errors_logged(self) -> list[str]:
        """Log lines that say a request failed (uvicorn's ERROR lines, tracebacks)."""
        if not self.logfile.exists():
            return []
        lines = self.logfile.read_text(errors="replace").splitlines()
        return [line for line in lines if line.startswith(("ERROR", "Traceback"))]


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[None]:
    try:
        for server in servers:
            server.start()
        yield
    finally:
        for server in servers:
            server.stop()


def login(client: httpx.Client, path: str) -> str:
    response = client.post(path, data={"username": LOGIN_USER, "password": PASSWORD})
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    return str(response.json()["access_token"])


def prepare(server: Server) -> dict[str, str]:
    """Register one user over HTTP, then log in with both backends: the tokens."""
    with httpx.Client(base_url=server.base, timeout=30) as client:
        response = client.post(
            "/auth/register", json={"email": "registered@example.com", "password": PASSWORD}
        )
        if response.status_code != 201:
            raise RuntimeError(f"register: {response.status_code} {response.text}")
        tokens = {"jwt": login(client, "/auth/jwt/login"), "db": login(client, "/auth/db/login")}
        for kind, token in tokens.items():
            me = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
            if me.status_code != 200 or me.json()["email"] != LOGIN_USER:
                raise RuntimeError(f"/users/me with the {kind} token: {me.status_code} {me.text}")
    return tokens


RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)
STATUS = re.compile(r"^STATUS (\d+) (\d+)$", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
RPS = re.compile(r"Requests/sec:\s+([\d.]+)")


def wrk(
    base: str, endpoint: str, tokens: dict[str, str], args: argparse.Namespace, duration: float
) -> dict[str, Any]:
    method, path, token_kind = ENDPOINTS[endpoint]
    token = tokens[token_kind] if token_kind else "-"
    body = (
        f"username={LOGIN_USER.replace('@', '%40')}&password={PASSWORD}"
        if method == "POST"
        else "-"
    )
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s",
        "--timeout", "30s", "--latency", "-s", str(LUA), base + path, "--", method, token, body,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed: {completed.stderr}\n{completed.stdout}")
    text = completed.stdout
    found = RESULT.search(text)
    if not found:
        raise RuntimeError(f"no RESULT line in wrk's output:\n{text}")
    fields = {key: float(value) for key, value in (pair.split("=") for pair in found[1].split())}
    statuses = {int(code): int(count) for code, count in STATUS.findall(text)}
    non_2xx = NON_2XX.search(text)
    rps = RPS.search(text)
    return {
        "requests": int(fields["requests"]),
        "seconds": fields["duration_us"] / 1e6,
        "rps": float(rps[1]) if rps else fields["requests"] / (fields["duration_us"] / 1e6),
        "p50_ms": fields["p50_us"] / 1000,
        "p90_ms": fields["p90_us"] / 1000,
        "p99_ms": fields["p99_us"] / 1000,
        "max_ms": fields["max_us"] / 1000,
        "mean_ms": fields["mean_us"] / 1000,
        "socket_errors": {k: int(fields[k]) for k in ("connect", "read", "write", "timeout")},
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "statuses": statuses,
        "output": text,
    }


def count_statements(server: Server, tokens: dict[str, str], repeats: int) -> dict[str, Any]:
    """Statements and commits per request, from the server's /_stats counters."""
    counted: dict[str, Any] = {}
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for endpoint, (method, path, token_kind) in ENDPOINTS.items():
            headers = {"Authorization": f"Bearer {tokens[token_kind]}"} if token_kind else {}
            data = {"username": LOGIN_USER, "password": PASSWORD} if method == "POST" else None
            n = repeats if method == "GET" else max(1, repeats // 4)
            client.request(method, path, headers=headers, data=data)  # warm: first-use queries
            before = client.get("/_stats").json()
            codes: dict[int, int] = {}
            for _ in range(n):
                response = client.request(method, path, headers=headers, data=data)
                codes[response.status_code] = codes.get(response.status_code, 0) + 1
            after = client.get("/_stats").json()
            counted[endpoint] = {
                "requests": n,
                "statements_per_request": (after["statements"] - before["statements"]) / n,
                "commits_per_request": (after["commits"] - before["commits"]) / n,
                "statuses": codes,
            }
    return counted


def url_string(url: Any) -> str:
    return str(url.render_as_string(hide_password=False))


async def run_backend(backend: str, args: argparse.Namespace, results: dict[str, Any]) -> None:
    log(f"{backend}: scratch databases, seeding {args.users} users per adapter")
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for adapter in ADAPTERS:
            database = await stack.enter_async_context(
                scratch_database(backend, declare_models(adapter), f"http{adapter}")
            )
            urls[adapter] = url_string(database.url)
        logdir = Path(tempfile.mkdtemp(prefix=f"load_http_{backend}_"))
        servers = {adapter: Server(adapter, urls[adapter], logdir) for adapter in ADAPTERS}
        for server in servers.values():
            server.seed(args.users)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            endpoint: {adapter: [] for adapter in ADAPTERS} for endpoint in ENDPOINTS
        }
        with running(*servers.values()):
            tokens = {adapter: prepare(server) for adapter, server in servers.items()}
            log(f"{backend}: warming up")
            for adapter, server in servers.items():
                for endpoint in ("me-jwt", "me-db"):
                    wrk(server.base, endpoint, tokens[adapter], args, 1)
                server.wait_idle()
            for round_ in range(args.rounds):
                for endpoint in ENDPOINTS:
                    order = ADAPTERS if (round_ % 2 == 0) else ADAPTERS[::-1]
                    for adapter in order:
                        run = timed_wrk(servers[adapter], endpoint, tokens[adapter], args)
                        run["idle_wait_s"] = servers[adapter].wait_idle()
                        runs[endpoint][adapter].append(run)
                        log(
                            f"{backend} round {round_ + 1} {endpoint} {adapter}: "
                            f"{run['rps']:.0f} rps, p50 {run['p50_ms']:.1f} ms, "
                            f"p99 {run['p99_ms']:.1f} ms, statuses {run['statuses']}, "
                            f"cores server {run['cpu_cores']['server']:.2f} "
                            f"rest {run['cpu_cores']['rest']:.2f}, "
                            f"idle after {run['idle_wait_s']:.1f} s"
                        )
        log(f"{backend}: counting statements per request")
        counters = {
            adapter: Server(adapter, urls[adapter], logdir, count=True) for adapter in ADAPTERS
        }
        counts = {}
        with running(*counters.values()):
            for adapter, server in counters.items():
                counts[adapter] = count_statements(server, tokens[adapter], args.count_repeats)
        logged = {
            adapter: servers[adapter].errors_logged() + counters[adapter].errors_logged()
            for adapter in ADAPTERS
        }
        results["backends"][backend] = {
            "load_average": load_average(),
            "runs": runs,
            "median": {
                endpoint: {adapter: medians(per[adapter]) for adapter in ADAPTERS}
                for endpoint, per in runs.items()
            },
            "statements": counts,
            "server_log_errors": logged,
        }
        shutil.rmtree(logdir, ignore_errors=True)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    for run in runs:
        for code, count in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "requests": sum(run["requests"] for run in runs),
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "socket_errors": sum(sum(run["socket_errors"].values()) for run in runs),
        "statuses": statuses,
        "rounds": len(runs),
        "server_cores": statistics.median(run["cpu_cores"]["server"] for run in runs),
        "rest_cores": statistics.median(run["cpu_cores"]["rest"] for run in runs),
    }


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    v = meta["versions"]
    lines = [
        "# HTTP load benchmark: FastAPI Users' app on userstore and on fudb 7 "
        f"({meta['mode']} run)",
        "",
        f"Run {meta['started']} to {meta['finished']} (UTC), commit `{meta['commit']}`, "
        f"with `{meta['command']}`.",
        "",
        f"- Machine: {meta['machine']['cpu']}, {meta['machine']['memory']} RAM, "
        f"{meta['machine']['os']}; {meta['machine']['python']}; load average (1/5/15 min) "
        f"{meta['load_start']} at the start, {meta['load_end']} at the end.",
        f"- Versions: SQLAlchemy {v['SQLAlchemy']}, fastapi-users {v['fastapi-users']}, "
        f"FastAPI {v['fastapi']}, uvicorn {v['uvicorn']} (loop: {meta['loop']}), "
        f"fastapi-users-db-sqlalchemy {v['fastapi-users-db-sqlalchemy']}, "
        f"userstore-sqlalchemy {v['userstore-sqlalchemy']}, pwdlib {v['pwdlib']}, "
        f"argon2-cffi {v['argon2-cffi']}, asyncpg {v['asyncpg']}, aiomysql {v['aiomysql']}, "
        f"aiosqlite {v['aiosqlite']}; {meta['wrk']}.",
        f"- App: `benchmarks/load/app.py`, FastAPI Users' documentation app (UUID ids, "
        f'OAuth accounts relationship `lazy="joined"`, plain `create_async_engine(url)`, '
        f"`async_sessionmaker(expire_on_commit=False)`) with a JWT backend and a "
        f"database-token backend; only the imports differ between the adapters. "
        f"{meta['users']:,} users seeded (+1 registered over HTTP).",
        f"- Server: `uvicorn app:app --workers 1 --no-access-log --loop {meta['loop']}`. "
        f"Load: `wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration_s']:g}s "
        f"--timeout 30s --latency` (keep-alive connections, closed loop), "
        f"{meta['rounds']} round(s) per cell, the two adapters' servers alternating per "
        f"endpoint (order flipped every round), 1 s warm-up of each GET first; medians of "
        f"the rounds. The machine has {os.cpu_count()} cores, not pinned: uvicorn's one "
        f"worker, wrk's threads and the database server share them.",
        "- Login (`POST /auth/jwt/login`) uses FastAPI Users' default `PasswordHelper` "
        "(argon2, pwdlib's defaults): the hash verification, synchronous on the event "
        f"loop, takes {meta['verify_ms']:.0f} ms here (so at most "
        f"{1000 / meta['verify_ms']:.1f} logins/s on one core) and dominates its time, so "
        "its figures say little about either adapter; with 64 connections its latency is "
        "queueing behind other logins' hashes. After every run the driver waits until the "
        "server's process is idle (requests wrk left in flight done) before the next run.",
        "- Statements per request: a separate server per adapter with "
        "`LOAD_COUNT_STATEMENTS=1` (a `before_cursor_execute` listener on the engine and "
        f"`GET /_stats`), {meta['count_repeats']} sequential httpx requests per GET "
        "endpoint (a quarter for login) after one warm request; statements are what goes "
        "through the DBAPI cursor (BEGIN is not among them on any driver), commits are "
        "`Connection.commit` events.",
        "- CPU columns, in cores (median of the rounds): the uvicorn process, and the rest "
        "of the machine (database server, the driver, other users of the machine; wrk's "
        "own CPU excluded) during the wrk run, from /proc. On SQLite there is no database "
        "server, so the rest there is mostly other work on the machine; the rounds' spread "
        "(last column) is the noise to read the ratios against.",
        "- SQLite: each adapter's file in a temp dir; userstore's dialect shim sets WAL, "
        "fudb's file is as SQLAlchemy makes it. Servers: scratch databases "
        "`bench_<hex>_http*`, dropped at the end.",
        "",
        "| backend | endpoint | adapter | rps | p50 ms | p99 ms | ratio rps us/fudb "
        "| statements / request | commits / request | requests | non-2xx | socket errors "
        "| server CPU | rest CPU | rps per round |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    odd = []
    for backend, data in results["backends"].items():
        for endpoint in ENDPOINTS:
            cells = data["median"][endpoint]
            ratio = cells["userstore"]["rps"] / cells["fudb"]["rps"] if cells["fudb"]["rps"] else 0
            for adapter in ADAPTERS:
                cell = cells[adapter]
                counted = data["statements"][adapter][endpoint]
                shown_ratio = f"{ratio:.2f}x" if adapter == "userstore" else ""
                lines.append(
                    f"| {TITLES[backend]} | {ENDPOINT_TITLES[endpoint]} | "
                    f"{ADAPTER_TITLES[adapter]} | {_fmt(cell['rps'])} | {_fmt(cell['p50_ms'])} | "
                    f"{_fmt(cell['p99_ms'])} | {shown_ratio} | "
                    f"{counted['statements_per_request']:g} | {counted['commits_per_request']:g} | "
                    f"{cell['requests']:,} | {cell['non_2xx']} | {cell['socket_errors']} | "
                    f"{cell['server_cores']:.2f} | {cell['rest_cores']:.2f} | "
                    + ", ".join(_fmt(run["rps"]) for run in data["runs"][endpoint][adapter])
                    + " |"
                )
                bad = {
                    code: n for code, n in cell["statuses"].items() if not 200 <= int(code) < 300
                }
                bad_count = {
                    code: n for code, n in counted["statuses"].items() if not 200 <= int(code) < 300
                }
                if bad or cell["socket_errors"] or bad_count:
                    odd.append(
                        f"- {TITLES[backend]}, {ENDPOINT_TITLES[endpoint]}, "
                        f"{ADAPTER_TITLES[adapter]}: statuses {cell['statuses']} under wrk, "
                        f"{counted['statuses']} in the counting pass, "
                        f"{cell['socket_errors']} socket errors."
                    )
        for adapter, errors in data["server_log_errors"].items():
            if errors:
                odd.append(
                    f"- {TITLES[backend]}, {ADAPTER_TITLES[adapter]}: {len(errors)} ERROR/"
                    f"Traceback lines in uvicorn's log, first: `{errors[0]}`"
                )
    lines += ["", "## Errors", ""]
    lines += odd or [
        "None: every response under wrk and in the counting pass was 2xx, no socket "
        "errors, no ERROR or Traceback line in uvicorn's logs."
    ]
    lines += [
        "",
        f"Plot: `{meta['plot']}`. Per-round figures and wrk's raw output: `{meta['json']}`.",
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    backends = list(results["backends"])
    figure, axes = plt.subplots(1, len(ENDPOINTS), figsize=(4.2 * len(ENDPOINTS), 4.2))
    width = 0.38
    colours = {"userstore": "#1f77b4", "fudb": "#ff7f0e"}
    for axis, endpoint in zip(axes, ENDPOINTS, strict=True):
        for offset, adapter in enumerate(ADAPTERS):
            values = [results["backends"][b]["median"][endpoint][adapter]["rps"] for b in backends]
            positions = [i + (offset - 0.5) * width for i in range(len(backends))]
            bars = axis.bar(
                positions, values, width, label=ADAPTER_TITLES[adapter], color=colours[adapter]
            )
            axis.bar_label(bars, labels=[_fmt(value) for value in values], fontsize=7)
        axis.set_xticks(range(len(backends)), [TITLES[b] for b in backends])
        axis.set_title(ENDPOINT_TITLES[endpoint], fontsize=10)
        axis.set_ylabel("requests / s (median of rounds)")
        axis.margins(y=0.15)
    axes[0].legend()
    meta = results["meta"]
    figure.suptitle(
        f"FastAPI Users app, uvicorn 1 worker, wrk -c{meta['connections']}: "
        f"userstore vs fudb 7 ({meta['finished'][:10]}, {meta['commit']})",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def save(results: dict[str, Any], output: Path, stem: str) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    results["meta"]["plot"] = f"benchmarks/results/{stem}.png"
    results["meta"]["json"] = f"benchmarks/results/{stem}.json"
    if results["backends"] and not plot(results, output / f"{stem}.png"):
        results["meta"]["plot"] = "not drawn (matplotlib missing)"
    (output / f"{stem}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    report = output / f"{stem}.md"
    report.write_text(render(results), encoding="utf-8")
    return report


def main(args: argparse.Namespace) -> int:
    # Stopped by a signal, still stop the servers and drop the scratch databases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if shutil.which("wrk") is None:
        print(
            "load_http: wrk is not installed, skipping the HTTP load benchmark. "
            "Install it with `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`.",
            file=sys.stderr,
        )
        return 0
    if args.quick:
        args.duration = args.duration or 3.0
        args.rounds = args.rounds or 1
    args.duration = args.duration or 10.0
    args.rounds = args.rounds or 3
    stem = "load-http-quick" if args.quick else "load-http"
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    results: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "command": "python benchmarks/load_http.py " + shlex.join(sys.argv[1:]),
            "started": now(),
            "commit": git_head(),
            "machine": machine(),
            "versions": versions(),
            "loop": loop_choice(),
            "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" [")[0],
            "load_start": load_average(),
            "users": args.users,
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "count_repeats": args.count_repeats,
            "verify_ms": verify_ms(),
        },
        "backends": {},
    }
    for backend in args.backend or BACKENDS:
        asyncio.run(run_backend(backend, args, results))
        results["meta"]["finished"] = now()
        results["meta"]["load_end"] = load_average()
        report = save(results, args.output_dir, stem)
    print(report.read_text(encoding="utf-8"))
    return 0


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per run, one round")
    parser.add_argument("--backend", action="append", choices=BACKENDS)
    parser.add_argument("--users", type=int, default=1_000, help="users seeded (1000)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (10; quick 3)")
    parser.add_argument("--rounds", type=int, help="rounds per cell, median taken (3; quick 1)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--count-repeats", type=int, default=20)
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    return parser


if __name__ == "__main__":
    sys.exit(main(parser().parse_args()))
