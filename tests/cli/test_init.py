"""``userstore init``: the default tables, or the application's models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import CLIDatabase, run_userstore

DEFAULT_TABLES = {"user", "oauth_account", "accesstoken"}


@pytest.mark.backend("sqlite")
def test_init_with_no_arguments_creates_the_sqlite_file_here(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    done = run_userstore("init", cwd=tmp_path, env=cli_env)
    assert done.status == 0, str(done)
    assert done.stdout == "schema ready at sqlite:///userstore.db (default models, uuid ids)\n"
    with sqlite3.connect(tmp_path / "userstore.db") as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == DEFAULT_TABLES


def test_init_creates_the_default_tables_once(cli_db: CLIDatabase) -> None:
    first = cli_db.ok("init", "--json")
    assert first.json() == {
        "url": cli_db.url,
        "models": "default",
        "id_type": "uuid",
        "schema": "ready",
    }
    assert cli_db.tables() == DEFAULT_TABLES
    cli_db.ok("init")  # a second run changes nothing and does not fail
    assert cli_db.tables() == DEFAULT_TABLES


def test_init_with_integer_ids(cli_db: CLIDatabase) -> None:
    cli_db.ok("init", "--id-type", "int")
    created = cli_db.ok("users", "create", "ada@example.com", "--id-type", "int", stdin="pw\n")
    verb, noun, user_id, email = created.stdout.split()
    assert (verb, noun, email) == ("created", "user", "ada@example.com")
    assert user_id.isdigit()  # the database's pick: not necessarily 1 (a cluster steps by 3)
    shown = cli_db.ok("users", "show", user_id, "--id-type", "int", "--json").json()
    assert shown["id"] == int(user_id)
    assert shown["email"] == "ada@example.com"


def test_init_with_the_applications_models(cli_db: CLIDatabase, models_module: str) -> None:
    done = cli_db.ok("init", "--models", models_module)
    assert done.stdout.endswith("(app_models:Base models, uuid ids)\n")
    assert cli_db.tables() == {*DEFAULT_TABLES, "invoice"}

    # the application's custom column is written and shown
    cli_db.ok("users", "create", "ada@example.com", "--models", models_module, stdin="pw\n")
    cli_db.execute("UPDATE \"user\" SET nickname = 'ada'")
    shown = cli_db.ok("users", "show", "ada@example.com", "--models", models_module, "--json")
    assert shown.json()["nickname"] == "ada"
