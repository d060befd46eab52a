"""The test matrix's own rules (tests/backends.py): where each backend's URL comes from.

A URL without a driver means the default asyncio one, as in ``connect()``; a
driver backend takes its server's URL with its own driver; an unusable URL makes
the backend unavailable with the reason, which fails the run when the backend
is required and is the skip's reason when it is not.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .backends import Backend, resolve, server_url
from .conftest import backend_url

VARIABLE = "USERSTORE_TEST_POSTGRES_URL"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("name", "raw", "driver", "expected"),
    [
        ("postgres", "postgresql://u@db.example/app", None, "postgresql+asyncpg"),
        ("postgres", "postgresql+asyncpg://u@db.example/app", None, "postgresql+asyncpg"),
        ("postgres", "postgresql+psycopg://u@db.example/app", None, "postgresql+psycopg"),
        ("mysql", "mysql://root@db.example/app", None, "mysql+aiomysql"),
        ("mysql", "mariadb://root@db.example/app", None, "mariadb+aiomysql"),
        ("postgres-psycopg", "postgresql://u@db.example/app", "psycopg", "postgresql+psycopg"),
        ("mysql-asyncmy", "mariadb://root@db.example/app", "asyncmy", "mariadb+asyncmy"),
    ],
)
def test_a_url_without_a_driver_gets_the_default_or_the_backends_driver(
    name: str, raw: str, driver: str | None, expected: str
) -> None:
    url = server_url(name, VARIABLE, raw, driver)
    assert url.drivername == expected
    assert (url.host, url.database) == ("db.example", "app")


@pytest.mark.parametrize(
    ("name", "raw", "driver", "message"),
    [
        ("postgres", "not a url", None, f"{VARIABLE} is not a database URL"),
        ("postgres", "mysql://root@db.example/app", None, f"{VARIABLE} names a mysql database"),
        ("mysql", "postgresql://u@db.example/app", None, "not mysql:// or mariadb://"),
        (
            "postgres-psycopg",
            "postgresql+asyncpg://u@db.example/app",
            "psycopg",
            "names the asyncpg driver, not psycopg",
        ),
    ],
)
def test_an_unusable_url_says_what_is_wrong(
    name: str, raw: str, driver: str | None, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        server_url(name, VARIABLE, raw, driver)
    assert message in str(info.value)


def test_an_unreachable_server_fails_if_required_and_skips_with_the_reason_if_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = closed_port()
    monkeypatch.setenv(VARIABLE, f"postgresql://u:s3cret@127.0.0.1:{port}/test")
    with resolve("postgres", tmp_path) as backend:
        assert backend.url is None
    assert backend.reason.startswith(
        f"cannot use postgresql+asyncpg://u:***@127.0.0.1:{port}/test ({VARIABLE}): "
    ), backend.reason
    assert "s3cret" not in backend.reason
    registry = {"postgres": backend}
    monkeypatch.setenv("USERSTORE_REQUIRE_BACKENDS", "sqlite,postgres")
    with pytest.raises(pytest.fail.Exception, match="backend postgres is required but unavailable"):
        backend_url(registry, "postgres")
    monkeypatch.setenv("USERSTORE_REQUIRE_BACKENDS", "sqlite")
    with pytest.raises(pytest.skip.Exception, match="backend postgres unavailable: cannot use"):
        backend_url(registry, "postgres")


def test_a_driver_backend_takes_its_servers_url_with_its_driver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("USERSTORE_TEST_POSTGRES_PSYCOPG_URL", raising=False)
    port = closed_port()
    server = Backend(
        "postgres", "unused", server=make_url(f"postgresql+asyncpg://u@127.0.0.1:{port}/test")
    )
    with resolve("postgres-psycopg", tmp_path, server) as backend:
        assert backend.url is None
    assert backend.reason.startswith(
        f"cannot use postgresql+psycopg://u@127.0.0.1:{port}/test "
        f"({VARIABLE} (with the psycopg driver)): OperationalError"
    ), backend.reason


def test_a_driver_backend_without_its_server_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("USERSTORE_TEST_MYSQL_ASYNCMY_URL", raising=False)
    server = Backend(
        "mysql", None, "USERSTORE_TEST_MYSQL_URL is not set and no Docker engine answers"
    )
    with resolve("mysql-asyncmy", tmp_path, server) as backend:
        assert backend.url is None
    assert backend.reason == (
        "USERSTORE_TEST_MYSQL_ASYNCMY_URL is not set and mysql: "
        "USERSTORE_TEST_MYSQL_URL is not set and no Docker engine answers"
    )
