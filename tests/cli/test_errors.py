"""Every error is one line on stderr, with exit status 2 and no traceback."""

from __future__ import annotations

import argparse
import re
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from userstore import InvalidURL
from userstore._cli._main import _explain

from ..backends import Backend
from ..conftest import backend_url
from .conftest import Done, Runner

COMMANDS = {
    "check": ["check"],
    "init": ["init"],
    "users list": ["users", "list"],
    "tokens purge": ["tokens", "purge", "--older-than", "30d"],
}


def one_line_error(done: Done) -> str:
    """The single stderr line of a failed run (status 2, nothing on stdout)."""
    assert done.status == 2, str(done)
    assert done.stdout == "", str(done)
    assert "Traceback" not in done.stderr, str(done)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, str(done)
    assert lines[0].startswith("userstore"), str(done)
    return lines[0]


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "mysql"])
def test_unreachable_server_names_host_and_port(run: Runner, command: str, scheme: str) -> None:
    port = closed_port()
    line = one_line_error(run(*COMMANDS[command], "--url", f"{scheme}://u:pw@127.0.0.1:{port}/db"))
    assert line.startswith(f"userstore: cannot reach 127.0.0.1:{port} ("), line
    if scheme.startswith("postgres"):
        assert line == f"userstore: cannot reach 127.0.0.1:{port} (connection refused)"


def test_unknown_host_is_named_with_the_default_port(run: Runner) -> None:
    line = one_line_error(run("users", "list", "--url", "postgresql://u@no-such-host.invalid/db"))
    assert line.startswith("userstore: cannot reach no-such-host.invalid:5432 (unknown host"), line


def test_sqlite_file_that_cannot_be_opened(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "app.db"
    line = one_line_error(run("init", "--url", f"sqlite:///{path}"))
    assert line == f"userstore: cannot open SQLite database {path} (unable to open database file)"


@pytest.mark.backend("postgres")
def test_database_missing_on_a_reachable_server(
    run: Runner, backend_registry: dict[str, Backend]
) -> None:
    server = make_url(backend_url(backend_registry, "postgres"))
    url = server.set(database="userstore_no_such_db").render_as_string(hide_password=False)
    line = one_line_error(run("users", "list", "--url", url))
    where = f"{server.host}:{server.port or 5432}"
    assert line == (
        f'userstore: cannot connect to {where}: database "userstore_no_such_db" does not exist'
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://admin:s3cret@db.example:port/app",
            "userstore: bad URL postgresql://admin:***@db.example:port/app: "
            "the port is not a number",
        ),
        (
            "mysql+pymysql://root@127.0.0.1/app",
            "userstore: bad URL mysql+pymysql://root@127.0.0.1/app: 'mysql+pymysql' is not an "
            "asyncio driver (give no driver, or mysql+<asyncio driver>)",
        ),
        (
            "postgresql+nosuchdriver://db.example/app",
            "userstore: bad URL postgresql+nosuchdriver://db.example/app: SQLAlchemy has no "
            "dialect or driver 'postgresql+nosuchdriver'",
        ),
        ("app.db", "userstore: not a store URL (expected scheme://...): 'app.db'"),
        (
            "mysql://root:s3cret@127.0.0.1:3306",
            "userstore: bad URL mysql://root:***@127.0.0.1:3306: the URL names no database "
            "(add /<database> after 127.0.0.1:3306)",
        ),
        (
            "postgres://admin:s3cret@db.example/app?sslmode=sometimes",
            "userstore: bad URL postgres://admin:***@db.example/app?sslmode=sometimes: "
            "sslmode='sometimes' is not an SSL mode (use one of disable, allow, prefer, require, "
            "verify-ca, verify-full; for certificates pass an ssl.SSLContext: "
            "connect_args={'ssl': context})",
        ),
        (
            "postgresql://admin:s3cret@db.example/app?sslcert=client.pem",
            "userstore: bad URL postgresql://admin:***@db.example/app?sslcert=client.pem: "
            "asyncpg takes no option 'sslcert': asyncpg takes certificates and keys as an "
            "ssl.SSLContext: connect_args={'ssl': ssl.create_default_context(cafile=...)}",
        ),
        (
            "sqlite:///app.db?mode=ro",
            "userstore: bad URL sqlite:///app.db?mode=ro: SQLite ignores the query option 'mode' "
            "unless the URL also has uri=true (SQLite URI parameters); driver options: "
            "cached_statements, check_same_thread, detect_types, isolation_level, timeout, uri",
        ),
    ],
    ids=[
        "port",
        "sync-driver",
        "unknown-driver",
        "no-scheme",
        "no-database",
        "sslmode",
        "libpq-option",
        "sqlite-option",
    ],
)
@pytest.mark.parametrize("command", ["check", "users list"])
def test_bad_url(run: Runner, command: str, url: str, expected: str) -> None:
    line = one_line_error(run(*COMMANDS[command], "--url", url))
    assert line == expected
    assert "s3cret" not in line


@pytest.mark.parametrize("command", ["check", "init"])
def test_unknown_scheme_lists_the_installed_adapters(run: Runner, command: str) -> None:
    line = one_line_error(run(*COMMANDS[command], "--url", "oracle://scott:tiger@db/orcl"))
    assert line.startswith("userstore: no adapter serves 'oracle'; installed: ")
    for scheme in ("mariadb", "memory", "mysql", "postgresql", "sqlite"):
        assert f"{scheme} (" in line


FAKE_MISSING = 'raise ModuleNotFoundError("No module named {name!r}", name={name!r})\n'


@pytest.mark.parametrize(
    ("driver", "extra", "url"),
    [
        ("aiosqlite", "sqlite", None),  # the README's first command, with nothing but a driver
        ("asyncpg", "postgres", "postgresql://u@127.0.0.1/app"),
        ("aiomysql", "mysql", "mariadb://u@127.0.0.1/app"),
        ("psycopg", "psycopg", "postgresql+psycopg://u@127.0.0.1/app"),
        ("asyncmy", "asyncmy", "mysql+asyncmy://u@127.0.0.1/app"),
    ],
)
def test_missing_driver_names_the_extra(
    run: Runner, tmp_path: Path, cli_env: dict[str, str], driver: str, extra: str, url: str | None
) -> None:
    shadow = tmp_path / "without" / driver
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(FAKE_MISSING.format(name=driver))
    env = {**cli_env, "PYTHONPATH": str(shadow.parent)}
    line = one_line_error(run("check", *(["--url", url] if url else []), env=env))
    assert line == (
        f"userstore: the {driver} driver is not installed: "
        f"pip install 'userstore-sqlalchemy[{extra}]'"
    )


def test_missing_pwdlib_names_the_extra(
    run: Runner, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    shadow = tmp_path / "without" / "pwdlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(FAKE_MISSING.format(name="pwdlib"))
    env = {**cli_env, "PYTHONPATH": str(shadow.parent)}
    assert run("init").status == 0
    line = one_line_error(run("users", "create", "ada@example.com", stdin="pw\n", env=env))
    assert line == (
        "userstore: users create needs pwdlib to hash the password: pip install 'userstore[cli]'"
    )


def test_missing_tables_suggest_init(run: Runner) -> None:
    line = one_line_error(run("users", "list"))
    assert line.startswith("userstore: table 'user' does not exist; "), line
    assert "create the tables with `userstore init --url sqlite:///userstore.db`" in line, line


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nosuchmodule:Base", "--models: no module named 'nosuchmodule'"),
        ("json:Base", "--models: json has no attribute 'Base'"),
        ("json", "--models takes module:attribute (app.models:Base), not 'json'"),
        ("broken_models:Base", "--models: importing broken_models failed: RuntimeError: boom"),
        ("json:dumps", "is not a SQLAlchemy declarative base or registry"),
        ("no_user_models:Base", "maps no user model"),
    ],
)
def test_models_errors(run: Runner, tmp_path: Path, spec: str, expected: str) -> None:
    (tmp_path / "broken_models.py").write_text('raise RuntimeError("boom")\n')
    (tmp_path / "no_user_models.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase\n\n\nclass Base(DeclarativeBase):\n    pass\n"
    )
    line = one_line_error(run("init", "--models", spec))
    assert expected in line, line
    assert not (tmp_path / "userstore.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["users"],
        ["users", "frobnicate"],
        ["users", "list", "--page-size", "0"],
        ["tokens", "purge"],
        ["check", "--no-such-option"],
    ],
    ids=["nothing", "no-action", "unknown-action", "page-size", "no-age", "unknown-option"],
)
def test_usage_errors_are_one_line_too(run: Runner, args: list[str]) -> None:
    line = one_line_error(run(*args))
    assert re.search(r"\(see userstore( \S+)* --help\)$", line), line


def test_invalid_url_raised_when_connecting_is_a_bad_url_too() -> None:
    """An option the driver refuses only when connecting is reported by its type, like the rest."""
    error = InvalidURL("asyncpg takes no option 'x': drop it", part="x")
    args = argparse.Namespace(command="users", url="postgresql://admin:s3cret@db.example/app")
    failure = _explain(error, args)
    assert str(failure) == (
        "bad URL postgresql://admin:***@db.example/app: asyncpg takes no option 'x': drop it"
    )
