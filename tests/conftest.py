"""The test matrix: memory, sqlite, postgres and mysql, chosen per test by fixture.

The contract, FastAPI Users and fault tests also run on the driver backends
(``postgres-psycopg``, ``mysql-asyncmy``: the same servers through their other
asyncio driver), by adding ``DRIVER_PARAMS`` to their parameters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .backends import (
    ALL_BACKENDS,
    DRIVER_BACKENDS,
    MAIN_BACKENDS,
    SCALEOUT_BACKENDS,
    Backend,
    required_backends,
    resolve,
    unconfigured,
)

BACKEND_PARAMS = [pytest.param(name, marks=pytest.mark.backend(name)) for name in MAIN_BACKENDS]
DRIVER_PARAMS = [pytest.param(name, marks=pytest.mark.backend(name)) for name in DRIVER_BACKENDS]


@pytest.fixture(scope="session")
def backend_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    """Every backend, resolved at most once per run and torn down at its end."""
    tmp_dir = tmp_path_factory.mktemp("backends")
    with contextlib.ExitStack() as stack:
        cache: dict[str, Backend] = {}

        class Registry(dict[str, Backend]):
            def __missing__(self, name: str) -> Backend:
                driver = DRIVER_BACKENDS.get(name)
                server = self[driver.server] if driver is not None else None
                backend = stack.enter_context(resolve(name, Path(tmp_dir), server))
                cache[name] = backend
                self[name] = backend
                return backend

        yield Registry()


def backend_url(registry: dict[str, Backend], name: str) -> str:
    """The URL of backend ``name`` for this run; skip (or fail, if required) without one."""
    backend = registry[name]
    if backend.url is None:
        if name in required_backends():
            pytest.fail(f"backend {name} is required but unavailable: {backend.reason}")
        pytest.skip(f"backend {name} unavailable: {backend.reason}")
    return backend.url


@pytest.fixture(params=BACKEND_PARAMS)
def db_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """The URL of one SQL backend (the test runs once per backend)."""
    return backend_url(backend_registry, request.param)


@pytest.fixture
def backend_name(db_url: str) -> str:
    """sqlite, postgres or mysql, for messages."""
    return {"sqlite": "sqlite", "postgresql": "postgres"}.get(db_url.split("+")[0], "mysql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=["memory", *ALL_BACKENDS, *SCALEOUT_BACKENDS],
        help="run only the tests of these backends (repeatable); tests that need no "
        "database count as 'memory'; postgres-psycopg and mysql-asyncmy are the "
        "servers through their other driver; galera, postgres-replica and mariadb-replica "
        "the throwaway clusters of tests/scaleout",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the ``--backend`` ones; leave out those of backends with no server configured.

    A backend that is not required and has no server at all (no variable, no
    Docker engine) is reported once, in the summary, instead of as one skip per test.
    """
    wanted = set(config.getoption("--backend") or ())
    required = required_backends()
    missing = {
        name: why
        for name in ALL_BACKENDS
        if name not in required and (why := unconfigured(name)) is not None
    }
    keep, drop = [], []
    left_out: dict[str, int] = {}
    for item in items:
        names = {m.args[0] for m in item.iter_markers("backend")} or {"memory"}
        if wanted and not names & wanted:
            drop.append(item)
        elif names <= set(missing):
            drop.append(item)
            for name in names:
                left_out[name] = left_out.get(name, 0) + 1
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    config.stash[_LEFT_OUT] = {name: (n, missing[name]) for name, n in left_out.items()}


_LEFT_OUT = pytest.StashKey[dict[str, tuple[int, str]]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line per backend whose tests did not run, and why."""
    for name, (count, why) in sorted(config.stash.get(_LEFT_OUT, {}).items()):
        terminalreporter.write_line(
            f"backend {name}: {count} tests not run, no server ({why}); "
            "USERSTORE_REQUIRE_BACKENDS makes that an error"
        )


def _forbid_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """With ``USERSTORE_NO_SKIPS`` set (CI sets it), a skip becomes a failure.

    CI runs the matrix on every backend and on both SQLAlchemy lines: a test that
    skips itself on one of them hides a difference, whatever its reason.
    """
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("USERSTORE_NO_SKIPS"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, and USERSTORE_NO_SKIPS is set: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    _forbid_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    _forbid_skip(report)
    return report
