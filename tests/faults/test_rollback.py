"""The reference case of the fault tests: a block that fails by the application's own error.

Without any fault, a transaction block that raises leaves the objects it touched
readable with their committed values, as after a lost connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from userstore_sqlalchemy import SQLAlchemyStore
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .conftest import objects_stay_readable


class AppError(Exception):
    """The application's own failure inside the block."""


@pytest_asyncio.fixture
async def any_store(db_url: str) -> AsyncIterator[SQLAlchemyStore]:
    """A store on scratch tables of each backend."""
    async with SQLAlchemyHarness(db_url).open_store() as opened:
        assert isinstance(opened, SQLAlchemyStore)
        yield opened


@pytest.mark.parametrize("at_commit", [False, True], ids=["then-a-call", "at-the-end"])
async def test_objects_stay_readable_after_the_block_raised(
    any_store: SQLAlchemyStore, at_commit: bool
) -> None:
    async def fail(s: Any) -> None:
        raise AppError

    await objects_stay_readable(any_store, fail, at_commit=at_commit, raises=AppError)
