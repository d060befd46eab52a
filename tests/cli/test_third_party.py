"""A third-party adapter, installed as a distribution, runs ``userstore check``.

The adapter and its harness live in a package written to a temporary directory,
with a ``*.dist-info`` whose ``entry_points.txt`` declares both groups
(``userstore.adapters`` and ``userstore.testing``): the entry points are found by
``importlib.metadata`` exactly as for an installed wheel.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from userstore.testing import CASES

from .conftest import Runner

ADAPTER = """
from typing import Any, ClassVar

from userstore.memory import MemoryStore


class ElsewhereAdapter:
    schemes: ClassVar[tuple[str, ...]] = ("elsewhere",)

    @classmethod
    def connect(cls, url: str, **options: Any) -> MemoryStore:
        return MemoryStore(**options)
"""

HARNESS = """
from userstore.testing import MemoryHarness


class ElsewhereHarness(MemoryHarness):
    name = "elsewhere"
    scratch_description = "a store of the elsewhere adapter per case"

    def __init__(self, url: str) -> None:
        super().__init__(url)
"""


def _install(site: Path, *, with_harness: bool) -> None:
    package = site / "elsewhere_store"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(ADAPTER))
    (package / "testing.py").write_text(textwrap.dedent(HARNESS))
    info = site / "elsewhere_store-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: elsewhere-store\nVersion: 1.0\n")
    points = "[userstore.adapters]\nelsewhere = elsewhere_store:ElsewhereAdapter\n"
    if with_harness:
        points += "\n[userstore.testing]\nelsewhere = elsewhere_store.testing:ElsewhereHarness\n"
    (info / "entry_points.txt").write_text(points)


def test_a_third_party_adapter_runs_the_suite(tmp_path: Path, run: Runner) -> None:
    _install(tmp_path, with_harness=True)
    done = run("check", "--url", "elsewhere://anywhere", "--json")
    assert done.status == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] == len(CASES), report
    text = run("check", "--url", "elsewhere://anywhere")
    assert "scratch: a store of the elsewhere adapter per case" in text.stdout


def test_an_adapter_without_a_harness_is_named_in_one_line(tmp_path: Path, run: Runner) -> None:
    _install(tmp_path, with_harness=False)
    done = run("check", "--url", "elsewhere://anywhere")
    assert done.status != 0
    assert done.stderr.strip().splitlines() == [
        "userstore: no conformance harness for 'elsewhere': the adapter declares none in "
        "the userstore.testing entry-point group"
    ]
