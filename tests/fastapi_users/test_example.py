"""``examples/fastapi_users_app.py`` starts (with the interpreter ``uv run`` uses) and serves.

The example runs in its own process under uvicorn on a free loopback port, on
its default backend, SQLite (``DATABASE_URL`` points it at this run's scratch
file); it creates its tables at start-up, and this test drops them afterwards.
It gets GitHub credentials, so its OAuth routes are mounted and answer too.  The
same wiring runs on every backend in test_app.py; starting a process per backend
would cost seconds each and add nothing.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from .app import drop_tables

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_users_app.py"
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The example serving on ``db_url``, with GitHub configured; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PORT": str(port),
        "SECRET": "s" * 32,
        "GITHUB_CLIENT_ID": "example-id",
        "GITHUB_CLIENT_SECRET": "example-secret",
    }
    asyncio.run(drop_tables(db_url))  # tables another module may have left
    log = (tmp_path / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        asyncio.run(drop_tables(db_url))


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: IO[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the example exited with {process.returncode}: {_read(log)}")
        try:
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the example did not answer within {START_TIMEOUT_S} s: {_read(log)}")


def _read(log: IO[str]) -> str:
    log.seek(0)
    return log.read()[-2000:]


@pytest.mark.parametrize(
    "db_url", [pytest.param("sqlite", marks=pytest.mark.backend("sqlite"))], indirect=True
)
def test_the_example_registers_logs_in_and_serves_the_user(server: str) -> None:
    base = server
    email = f"Example.{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=30) as client:
        registered = client.post("/auth/register", json={"email": email, "password": "pw-1234"})
        assert registered.status_code == 201, registered.text
        duplicate = client.post("/auth/register", json={"email": email.upper(), "password": "x"})
        assert duplicate.status_code == 400, duplicate.text

        login = client.post("/auth/login", data={"username": email.lower(), "password": "pw-1234"})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert client.get("/users/me", headers=headers).json()["email"] == email
        hello = client.get("/authenticated-route", headers=headers)
        assert hello.json() == {"message": f"Hello {email}!"}
        assert client.post("/auth/logout", headers=headers).status_code == 204
        assert client.get("/users/me", headers=headers).status_code == 401

        authorize = client.get("/auth/github/authorize")
        assert authorize.status_code == 200, authorize.text
        url = authorize.json()["authorization_url"]
        assert url.startswith("https://github.com/login/oauth/authorize?")
        associate = client.get("/auth/github/associate/authorize", headers=headers)
        assert associate.status_code == 401  # the token was revoked by the logout
