"""``userstore check`` runs a third-party adapter's harness, found by its entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from userstore import AdapterNotFound
from userstore.testing import CASES, HARNESS_ENTRY_POINT_GROUP, MemoryHarness, harness_for

ADAPTER = '''\
"""A store served under myscheme://, kept in memory."""

from typing import ClassVar

from userstore.memory import MemoryAdapter


class MyAdapter(MemoryAdapter):
    schemes: ClassVar[tuple[str, ...]] = ("myscheme", "nocheck")
'''

HARNESS = '''\
"""The conformance harness of myscheme:// (the package's test support)."""

from userstore.testing import MemoryHarness


def harness(url: str) -> MemoryHarness:
    made = MemoryHarness(url)
    made.name = "myscheme"
    return made
'''

ENTRY_POINTS = f"""\
[userstore.adapters]
myscheme = myadapter:MyAdapter
nocheck = myadapter:MyAdapter

[{HARNESS_ENTRY_POINT_GROUP}]
myscheme = myadapter.testing:harness
"""


@pytest.fixture(scope="module")
def third_party(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed distribution ``myadapter``: its package and its ``dist-info``."""
    root = tmp_path_factory.mktemp("site")
    package = root / "myadapter"
    package.mkdir()
    (package / "__init__.py").write_text(ADAPTER)
    (package / "testing.py").write_text(HARNESS)
    info = root / "myadapter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myadapter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return root


def _userstore(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    return subprocess.run(
        [sys.executable, "-m", "userstore", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def test_userstore_check_runs_a_third_party_adapters_harness(third_party: Path) -> None:
    done = _userstore(third_party, "check", "--url", "myscheme://anything")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "userstore check myscheme://anything"
    rules = [line for line in lines if line.startswith(("  pass ", "  FAIL "))]
    assert len(rules) == len(CASES)
    assert all(line.startswith("  pass  s") for line in rules)
    assert lines[-1] == f"{len(CASES)} passed, 0 failed"


def test_an_adapter_that_declares_no_harness_is_refused_in_one_line(third_party: Path) -> None:
    done = _userstore(third_party, "check", "--url", "nocheck://anything")
    assert done.returncode != 0
    assert "declares no conformance harness" in done.stderr, done.stderr
    assert HARNESS_ENTRY_POINT_GROUP in done.stderr
    assert "Traceback" not in done.stderr


def test_harness_for_memory_is_the_memory_harness() -> None:
    harness = harness_for("memory://")
    assert isinstance(harness, MemoryHarness)
    assert harness.url == "memory://"


def test_harness_for_a_scheme_no_adapter_serves_raises_adapter_not_found() -> None:
    with pytest.raises(AdapterNotFound):
        harness_for("nosuchscheme://x")


def test_adapter_classes_offer_no_harness() -> None:
    from userstore.memory import MemoryAdapter
    from userstore_sqlalchemy import SQLAlchemyAdapter

    assert not hasattr(MemoryAdapter, "harness")
    assert not hasattr(SQLAlchemyAdapter, "harness")
