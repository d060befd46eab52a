"""The command's everyday habits: --version, the URL from the environment, JSON errors, plurals."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .conftest import CLIDatabase, Runner


def test_version_names_userstore_and_each_adapter_distribution(run: Runner) -> None:
    done = run("--version")
    assert done.status == 0, str(done)
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"userstore \d+\.\d+\.\d+\S*", lines[0]), str(done)
    assert any(line.strip().startswith("adapter userstore-sqlalchemy ") for line in lines)
    assert "memory" in done.stdout
    assert "postgresql" in done.stdout


def test_url_comes_from_userstore_url_then_database_url(
    run: Runner, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    both = {**cli_env, "USERSTORE_URL": f"sqlite:///{first}", "DATABASE_URL": f"sqlite:///{second}"}
    assert run("init", env=both).status == 0
    assert first.exists()
    assert not second.exists()
    only_database_url = {**cli_env, "DATABASE_URL": f"sqlite:///{second}"}
    done = run("init", "--json", env=only_database_url)
    assert done.status == 0, str(done)
    assert second.exists()
    assert not (tmp_path / "userstore.db").exists()  # the default is the last resort
    explicit = run("init", "--url", "sqlite:///third.db", env=both)
    assert explicit.status == 0
    assert (tmp_path / "third.db").exists()


def test_json_errors_are_a_document_on_stdout_too(run: Runner) -> None:
    done = run("users", "show", "nobody@example.com", "--json", "--url", "memory://")
    assert done.status == 1, str(done)
    assert json.loads(done.stdout) == {
        "error": "no user has the id or email 'nobody@example.com'",
        "status": 1,
    }
    assert done.stderr.startswith("userstore: no user has")
    bad = run("init", "--json", "--url", "mysql://root@127.0.0.1:3306/")
    assert bad.status == 2, str(bad)
    assert "names no database" in json.loads(bad.stdout)["error"]


def test_counts_say_one_token_and_one_batch(cli_db: CLIDatabase) -> None:
    cli_db.ok("init")
    done = cli_db.ok("tokens", "purge", "--older-than", "1d", "--dry-run")
    assert done.stdout.startswith("0 access tokens created before "), done.stdout
    listed = cli_db.ok("users", "list")
    assert listed.stdout.splitlines()[-1] == "0 users"


def test_a_mismatched_id_type_is_refused(cli_db: CLIDatabase) -> None:
    cli_db.ok("init")  # uuid ids
    done = cli_db.run("users", "list", "--id-type", "int")
    assert done.status == 2, str(done)
    assert "column id holds non-integer ids, the models declare integer ones" in done.stderr


def test_check_says_each_observation_once(run: Runner) -> None:
    done = run("check", "--url", "memory://")
    assert done.status == 0, str(done)
    for line in done.stdout.splitlines():
        if line.strip().startswith("observed:"):
            notes = line.split("observed:", 1)[1].split("; ")
            assert len(notes) == len(set(notes)), line
    assert "(8 times)" in done.stdout
