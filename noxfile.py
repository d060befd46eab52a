"""Contributor sessions: tests per backend and SQLAlchemy minor, lint, types, benchmarks.

    nox -s tests                 every backend x SQLAlchemy 2.0 and 2.1
    nox -s "tests(backend='postgres', sqlalchemy='2.1')"
    nox -s lint typecheck
    nox -s behaviour             fastapi-users-db-sqlalchemy beside userstore, per backend
    nox -s bench                 benchmarks (``-- --quick`` smoke run, ``-- --http`` HTTP only)
    nox -s differential          memory reference vs each backend, long hypothesis budget

Server URLs come from USERSTORE_TEST_POSTGRES_URL and USERSTORE_TEST_MYSQL_URL
(or testcontainers when a Docker engine answers).  Sessions build their
environments with uv when it is installed and with virtualenv otherwise
(``python3 -m pip install nox`` is enough).
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")

PYTHON = "3.11"
BACKENDS = ["memory", "sqlite", "postgres", "mysql", "postgres-psycopg", "mysql-asyncmy"]
SQLALCHEMY = {"2.0": "sqlalchemy[asyncio]>=2.0.30,<2.1", "2.1": "sqlalchemy[asyncio]>=2.1,<2.2"}
PYPROJECT = nox.project.load_toml("pyproject.toml")
DEV = nox.project.dependency_groups(PYPROJECT, "dev")
PACKAGES = ["-e", "protocol[fastapi-users,cli]", "-e", "adapters/sqlalchemy[all]"]


@nox.session(python=PYTHON)
@nox.parametrize("sqlalchemy", list(SQLALCHEMY))
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str, sqlalchemy: str) -> None:
    """The test matrix on one backend and one SQLAlchemy line (memory: tests without a database)."""
    session.install(*PACKAGES, *DEV, SQLALCHEMY[sqlalchemy])
    session.run("pytest", f"--backend={backend}", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on both packages."""
    session.install(*PACKAGES, "mypy", "pytest", "alembic")
    session.run("mypy")


@nox.session(python=PYTHON)
def behaviour(session: nox.Session) -> None:
    """fastapi-users-db-sqlalchemy 7 (which needs SQLAlchemy 2.0) beside userstore."""
    session.install(*PACKAGES, "fastapi-users-db-sqlalchemy==7.*", SQLALCHEMY["2.0"])
    session.run("python", "benchmarks/behaviour.py", *session.posargs)


def _http_arguments(posargs: list[str]) -> list[str]:
    """The arguments of benchmarks/run.py that benchmarks/load_http.py takes too."""
    kept, rest = [], iter(posargs)
    for argument in rest:
        if argument == "--quick":
            kept.append(argument)
        elif argument == "--backend":
            kept += [argument, next(rest, "")]
        elif argument.startswith("--backend="):
            kept.append(argument)
    return kept


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The benchmark harness (benchmarks/); ``-- --quick`` for a smoke run.

    benchmarks/run.py, then the HTTP load benchmark benchmarks/load_http.py (with
    run.py's ``--quick`` and ``--backend``; it needs wrk, ``apt-get install wrk``,
    and skips with a message without it).  ``-- --http [load_http.py arguments]``
    runs the HTTP benchmark alone.
    """
    session.install(
        *PACKAGES,
        "fastapi-users-db-sqlalchemy==7.*",
        SQLALCHEMY["2.0"],
        "matplotlib",
        "uvicorn",
        "uvloop",
        "httpx",
    )
    if session.posargs[:1] == ["--http"]:
        session.run("python", "benchmarks/load_http.py", *session.posargs[1:])
        return
    session.run("python", "benchmarks/run.py", *session.posargs)
    session.run("python", "benchmarks/load_http.py", *_http_arguments(session.posargs))


@nox.session(python=PYTHON)
def differential(session: nox.Session) -> None:
    """The differential test (tests/differential) with a longer budget than CI's.

    ``USERSTORE_DIFF_EXAMPLES`` (default here 300 per backend and configuration),
    ``USERSTORE_DIFF_STEPS`` and ``USERSTORE_DIFF_SEED`` override the budget and seed.
    """
    session.install(*PACKAGES, *DEV, SQLALCHEMY["2.1"])
    env = {
        "USERSTORE_DIFF_EXAMPLES": os.environ.get("USERSTORE_DIFF_EXAMPLES", "300"),
        "USERSTORE_DIFF_STEPS": os.environ.get("USERSTORE_DIFF_STEPS", "40"),
    }
    session.run("pytest", "tests/differential", "-s", *session.posargs, env=env)
