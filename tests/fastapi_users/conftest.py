"""Fixtures of the FastAPI Users tests: the tutorial's plain engine, the app, its tables.

The models use FastAPI Users' table names ("user", "oauth_account", "accesstoken"),
which other test packages use too in the same scratch database.  So each test
module creates the tables on a backend before its first test there, and drops
them when the module ends, whether its tests passed or not.  Tests share the
module's tables and use emails and account ids of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..backends import Backend
from ..conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url
from .app import App, Base, build_app, drop_tables, drop_tables_on


@pytest.fixture(params=[*BACKEND_PARAMS, *DRIVER_PARAMS])
def db_url(request: pytest.FixtureRequest, backend_registry: dict[str, Backend]) -> str:
    """The URL of one SQL backend, the other asyncio drivers included (once per backend)."""
    return backend_url(backend_registry, request.param)


@pytest.fixture(scope="module")
def module_tables() -> Iterator[set[str]]:
    """URLs on which this module created the tables; they are dropped when it ends."""
    created: set[str] = set()
    yield created
    for url in sorted(created):
        asyncio.run(drop_tables(url))


@pytest_asyncio.fixture
async def engine(db_url: str, module_tables: set[str]) -> AsyncIterator[AsyncEngine]:
    """A plain ``create_async_engine(url)`` (as in the tutorial), the module's tables created."""
    engine = create_async_engine(db_url)
    try:
        if db_url not in module_tables:
            module_tables.add(db_url)  # dropped at the end even if creating fails half-way
            async with engine.begin() as connection:
                await drop_tables_on(connection)  # what another module may have left
                await connection.run_sync(Base.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def app(engine: AsyncEngine) -> App:
    """The FastAPI Users app on ``engine`` (OAuth logins do not associate by email)."""
    return build_app(engine)
