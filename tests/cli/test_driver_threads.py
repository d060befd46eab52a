"""A driver thread that finishes after the command is done still reports on an open loop.

aiosqlite, after a failed connect, queues its worker thread's shutdown with a
future nobody awaits; when ``asyncio.run`` closed the loop first, the thread's
callback raised "Event loop is closed" and printed a traceback after the
command's one-line error (about one run in three here).  The command now waits
for the threads it started before its loop closes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUNS = 25

SCRIPT = f"""
import contextlib, io, sys
from userstore._cli import main

for _ in range({RUNS}):
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["users", "list", "--url", "sqlite+aiosqlite:////nonexistent/dir/x.db"])
    assert status == 2, status
"""


def test_a_failed_sqlite_connect_prints_only_its_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    expected = "userstore: cannot open SQLite database /nonexistent/dir/x.db"
    assert lines == [f"{expected} (unable to open database file)"] * RUNS
