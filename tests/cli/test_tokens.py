"""``userstore tokens purge``: old access tokens deleted in batches, with counts and progress."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

import userstore

from .conftest import CLIDatabase, run_async, run_userstore

NOW = dt.datetime.now(dt.UTC)


def _seed(url: str, ages: list[dt.timedelta]) -> None:
    """One user with one token per age."""

    async def seed() -> None:
        async with userstore.connect(url) as store, store.session() as session:
            user = await session.users.create({"email": "t@example.com", "hashed_password": "$x$"})
            async with session.transaction():
                for i, age in enumerate(ages):
                    await session.tokens.create(
                        {"token": f"tok{i:040}", "user_id": user.id, "created_at": NOW - age}
                    )

    run_async(seed())


def _remaining(db: CLIDatabase) -> int:
    (row,) = db.execute("SELECT count(*) FROM accesstoken")
    return int(row[0])


@pytest.fixture
def db(cli_db: CLIDatabase) -> CLIDatabase:
    """25 tokens 40 days old, 5 tokens 1 hour old."""
    cli_db.ok("init")
    _seed(cli_db.url, [dt.timedelta(days=40)] * 25 + [dt.timedelta(hours=1)] * 5)
    return cli_db


def test_purge_deletes_only_older_tokens_in_batches(db: CLIDatabase) -> None:
    dry = db.ok("tokens", "purge", "--older-than", "30d", "--dry-run")
    assert re.fullmatch(r"25 access tokens created before \S+ \(dry run\)\n", dry.stdout)
    assert _remaining(db) == 30

    done = db.ok("tokens", "purge", "--older-than", "30d", "--batch-size", "10")
    assert re.fullmatch(r"deleted 25 access tokens created before \S+ \(3 batches\)\n", done.stdout)
    assert _remaining(db) == 5

    again = db.ok("tokens", "purge", "--older-than", "30d")
    assert again.stdout.startswith("deleted 0 access tokens")
    assert _remaining(db) == 5


def test_purge_json_is_clean_and_progress_goes_to_stderr(db: CLIDatabase) -> None:
    done = db.run(
        "tokens", "purge", "--older-than", "2d12h", "--batch-size", "10", "--progress", "--json"
    )
    assert done.status == 0, str(done)
    report = done.json()
    before = dt.datetime.fromisoformat(report["before"])
    assert abs((NOW - dt.timedelta(days=2, hours=12)) - before) < dt.timedelta(minutes=5)
    assert report == {
        "older_than": "2d12h",
        "before": report["before"],
        "matching": 25,
        "deleted": 25,
        "batches": 3,
        "dry_run": False,
    }
    assert done.stderr.splitlines() == [
        "purging access tokens: 10/25 (40%)",
        "purging access tokens: 20/25 (80%)",
        "purging access tokens: 25/25 (100%)",
    ]
    assert _remaining(db) == 5


def test_purge_without_progress_when_stderr_is_not_a_terminal(db: CLIDatabase) -> None:
    done = db.ok("tokens", "purge", "--older-than", "90m", "--batch-size", "7")
    assert done.stderr == ""
    assert "deleted 25 access tokens" in done.stdout
    assert "(4 batches)" in done.stdout
    assert _remaining(db) == 5


@pytest.mark.parametrize("age", ["30", "d", "30x", "-1d", "1.5h", ""])
def test_purge_refuses_a_malformed_duration(
    tmp_path: Path, cli_env: dict[str, str], age: str
) -> None:
    done = run_userstore("tokens", "purge", f"--older-than={age}", cwd=tmp_path, env=cli_env)
    assert done.status == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("userstore tokens purge: argument --older-than: not a duration: ")
    assert not (tmp_path / "userstore.db").exists()
