"""Fixtures of the migration tests: an Alembic project on the run's scratch database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .project import drop_tables


@pytest.fixture
def scratch_url(db_url: str) -> Iterator[str]:
    """``db_url``; the tables named "user", "oauth_account", "accesstoken" and
    "alembic_version" are dropped after the test, failed or not."""
    try:
        yield db_url
    finally:
        drop_tables(db_url)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return tmp_path / "alembic"
