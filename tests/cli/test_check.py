"""``userstore check``: the contract on a live database, in scratch tables only."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from userstore.testing import CASES

from .conftest import CLIDatabase, run_userstore

SCRATCH = re.compile(r"\b(us_[0-9a-f]{8}_)<n>_user\b")


def _app_database(path: Path) -> None:
    """The application's own tables, one named like userstore's user table."""
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "user" (id INTEGER PRIMARY KEY, email TEXT)')
        db.execute("INSERT INTO \"user\" (email) VALUES ('app@example.com')")
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
        db.execute("INSERT INTO orders (total) VALUES (42)")


def _app_state(path: Path) -> tuple[list[str], list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as db:
        # sqlite_sequence is SQLite's own (AUTOINCREMENT tables create it), not the app's
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if not r[0].startswith("sqlite_")
        ]
        users = list(db.execute('SELECT * FROM "user"'))
        orders = list(db.execute("SELECT * FROM orders"))
    return sorted(tables), users, orders


@pytest.mark.backend("sqlite")
def test_check_with_no_arguments_uses_the_sqlite_file_here(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    database = tmp_path / "userstore.db"
    _app_database(database)
    before = _app_state(database)

    script = Path(sys.executable).with_name("userstore")  # the README's first command, as is
    done = subprocess.run(
        [str(script), "check"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""

    lines = done.stdout.splitlines()
    assert lines[0] == "userstore check sqlite:///userstore.db"
    assert lines[1].startswith("scratch: tables "), lines[1]
    assert SCRATCH.search(lines[1]) is not None, lines[1]
    rules = [line for line in lines if line.startswith(("  pass ", "  FAIL "))]
    assert len(rules) == len(CASES)
    assert all(line.startswith("  pass  s") for line in rules)
    for case, line in zip(CASES, rules, strict=True):
        assert line.endswith(f" {case.title}"), (case.title, line)
    assert any(line.strip().startswith("observed: ") for line in lines)
    assert lines[-1] == f"{len(CASES)} passed, 0 failed"

    assert _app_state(database) == before  # the application's tables, untouched


def test_check_json_names_its_scratch_tables_and_leaves_no_trace(cli_db: CLIDatabase) -> None:
    cli_db.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR(50))",
        "INSERT INTO accounts (id, owner) VALUES (1, 'app')",
    )
    before = cli_db.tables()

    done = cli_db.run("check", "--json")
    assert done.status == 0, str(done)
    assert done.stderr == ""
    report = done.json()
    assert report["failed"] == 0
    assert report["passed"] == len(CASES) == len(report["results"])
    assert [r["id"] for r in report["results"]] == [c.id for c in CASES]
    assert all(r["passed"] and r["error"] == "" for r in report["results"])
    assert SCRATCH.search(report["scratch"]) is not None

    assert cli_db.tables() == before == {"accounts"}
    assert cli_db.execute("SELECT id, owner FROM accounts") == [(1, "app")]


def test_check_hides_the_password_of_the_url(tmp_path: Path, cli_env: dict[str, str]) -> None:
    done = run_userstore("check", "--url", "memory://admin:s3cret@host", cwd=tmp_path, env=cli_env)
    assert done.status == 0, str(done)
    assert "s3cret" not in done.stdout
    assert done.stdout.splitlines()[0] == "userstore check memory://admin:***@host"
