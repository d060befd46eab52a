"""FastAPI Users' documentation app served by uvicorn, one process per test module and backend.

A test module names the application it drives in ``APP`` (``module:attribute``,
as uvicorn takes it) and the auth router's prefix in ``AUTH``.  The ``server``
fixture drops the tables the app uses (FastAPI Users' names, shared with other
test packages in the same scratch database), starts ``python -m
tests.dropin.serve APP`` on a free loopback port with ``DATABASE_URL`` pointing
at the backend, waits until it answers, and stops it and drops the tables when
the module is done with that backend.  Its whole output is kept in a log file.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import BACKEND_PARAMS, backend_url
from ..fastapi_users.app import drop_tables
from .client import Server

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def server(
    request: pytest.FixtureRequest,
    backend_registry: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The module's ``APP`` serving on one backend over TCP."""
    url = backend_url(backend_registry, request.param)  # type: ignore[arg-type]
    app: str = request.module.APP
    port = _free_port()
    log_path = tmp_path_factory.mktemp("uvicorn") / "server.log"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "tests.dropin.serve", app]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    asyncio.run(drop_tables(url))  # what another module may have left
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    served = Server(
        base_url=f"http://127.0.0.1:{port}",
        auth=request.module.AUTH,
        db_url=url,
        log_path=log_path,
    )
    try:
        _wait_until_up(served, process)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        asyncio.run(drop_tables(url))


def _wait_until_up(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn did not answer within {START_TIMEOUT_S} s:\n{server.log()[-3000:]}")
