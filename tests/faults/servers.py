"""Throwaway database servers a test starts, stops and starts again; never the shared ones.

:func:`postgres_server` runs ``initdb`` into a new temporary directory and
``postgres`` on a free port of 127.0.0.1 (as the ``postgres`` OS user: both refuse
to run as root), trust authentication, database ``postgres``.
:func:`mariadb_server` runs ``mariadb-install-db`` and ``mariadbd`` the same way,
``root`` with an empty password, database ``userstore``.  Each yields a
:class:`ThrowawayServer` whose :meth:`~ThrowawayServer.stop` is a fast shutdown
and whose :meth:`~ThrowawayServer.start` brings the server back on the same port
and data directory; on exit the server is stopped and the directory removed,
also after a failure.  Without the binaries the fixture skips, or fails when
``USERSTORE_REQUIRE_BACKENDS`` names the backend (the rule of tests/backends.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..backends import required_backends


def _pg_bin() -> Path:
    """``USERSTORE_PG_BIN``, else the newest /usr/lib/postgresql/<version>/bin."""
    if os.environ.get("USERSTORE_PG_BIN"):
        return Path(os.environ["USERSTORE_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
# initdb and postgres refuse to run as root; as another user they run as that user
PG_USER = "postgres" if os.geteuid() == 0 else None
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayServer:
    """One database server process on ``port``, over the data directory ``root/data``.

    ``url`` is the SQLAlchemy URL of its database; ``starts`` counts the starts.
    """

    def __init__(
        self,
        name: str,
        root: Path,
        port: int,
        url: str,
        command: list[str],
        ready: list[str],
        stop_signal: signal.Signals,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.root = root
        self.port = port
        self.url = url
        self._command = command
        self._ready = ready
        self._stop_signal = stop_signal
        self._user = user
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        """Whether the server was started and not stopped since."""
        return self._process is not None

    @property
    def log(self) -> Path:
        """The server's stdout and stderr."""
        return self.root / "server.log"

    def start(self) -> None:
        """Start the server and wait until it answers queries (``START_TIMEOUT`` at most)."""
        assert self._process is None, f"{self.name} is running already"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                self._command, stdout=log, stderr=subprocess.STDOUT, user=self._user
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start: {self._tail()}")
            answered = subprocess.run(self._ready, capture_output=True, check=False)
            if answered.returncode == 0:
                self.starts += 1
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {START_TIMEOUT} s: {self._tail()}")

    def stop(self) -> None:
        """Shut the server down fast (open connections are cut) and wait until it exits."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self._stop_signal)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _tail(self) -> str:
        lines = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:])


def _require(name: str, binaries: list[Path | str]) -> None:
    missing = [str(b) for b in binaries if shutil.which(str(b)) is None]
    if not missing:
        return
    reason = f"throwaway {name} server: not found: {', '.join(missing)}"
    if name in required_backends():
        pytest.fail(f"backend {name} is required but {reason}")
    pytest.skip(reason)


def _run(command: list[str], what: str, user: str | None = None) -> None:
    done = subprocess.run(command, capture_output=True, check=False, user=user)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise RuntimeError(f"{what} failed ({done.returncode}): {output[-2000:]}")


@contextlib.contextmanager
def _running(
    make: Callable[[Path, int], ThrowawayServer], prefix: str
) -> Iterator[ThrowawayServer]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    server = None
    try:
        server = make(root, free_port())
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def postgres_server() -> contextlib.AbstractContextManager[ThrowawayServer]:
    """A PostgreSQL cluster of its own (see the module docstring)."""
    _require("postgres", [PG_BIN / "initdb", PG_BIN / "postgres", PG_BIN / "pg_isready"])

    def make(root: Path, port: int) -> ThrowawayServer:
        if PG_USER is not None:
            shutil.chown(root, PG_USER, PG_USER)
        data = root / "data"
        _run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            "initdb",
            user=PG_USER,
        )
        settings = ["listen_addresses=127.0.0.1", "fsync=off", "max_connections=20"]
        command = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root)]
        for setting in settings:
            command += ["-c", setting]
        ready = [str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        ready += ["-d", "postgres", "-U", "postgres"]
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        # SIGINT is PostgreSQL's fast shutdown: sessions are cut, transactions rolled back
        return ThrowawayServer("postgres", root, port, url, command, ready, signal.SIGINT, PG_USER)

    return _running(make, "userstore-pg-")


def mariadb_server() -> contextlib.AbstractContextManager[ThrowawayServer]:
    """A MariaDB server of its own (see the module docstring)."""
    _require("mysql", ["mariadb-install-db", "mariadbd", "mariadb"])

    def make(root: Path, port: int) -> ThrowawayServer:
        data = root / "data"
        as_root = ["--user=root"] if os.geteuid() == 0 else []  # refused unless told
        _run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *as_root,
            ],
            "mariadb-install-db",
        )
        command = ["mariadbd", "--no-defaults", f"--datadir={data}", f"--port={port}"]
        command += ["--bind-address=127.0.0.1", f"--socket={root / 'sock'}", *as_root]
        command += [f"--pid-file={root / 'pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=16M"]
        command += ["--innodb-log-file-size=8M", "--max-connections=20"]
        client = ["--no-defaults", "-h127.0.0.1", f"-P{port}", "-uroot", "--connect-timeout=1"]
        ready = ["mariadb", *client, "-e", "CREATE DATABASE IF NOT EXISTS userstore"]
        url = f"mysql+aiomysql://root@127.0.0.1:{port}/userstore"
        # SIGTERM is mariadbd's shutdown: connections are killed, transactions rolled back
        return ThrowawayServer("mysql", root, port, url, command, ready, signal.SIGTERM)

    return _running(make, "userstore-mariadb-")
