"""The protocol package never imports SQLAlchemy or any adapter it does not use."""

import importlib.util
import json
import subprocess
import sys

import pytest

PROBE = """\
import json, sys
import userstore
after_import = sorted(sys.modules)
userstore.available_adapters()
store = userstore.connect("memory://")
after_connect = sorted(sys.modules)
import userstore.testing
after_testing = sorted(sys.modules)
print(json.dumps({
    "store": type(store).__name__,
    "after_import": after_import,
    "after_connect": after_connect,
    "after_testing": after_testing,
}))
"""

FORBIDDEN = ("sqlalchemy", "userstore_sqlalchemy", "aiosqlite", "asyncpg", "aiomysql", "pymysql")


def _top_level(modules: list[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


@pytest.fixture(scope="module")
def probe() -> dict[str, list[str] | str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str] | str] = json.loads(done.stdout)
    return result


def test_sqlalchemy_is_installed_here() -> None:
    # Otherwise the tests below would pass for the wrong reason.
    assert importlib.util.find_spec("sqlalchemy") is not None


def test_connect_memory_imports_no_adapter_or_driver(probe: dict[str, list[str] | str]) -> None:
    assert probe["store"] == "MemoryStore"
    for stage in ("after_import", "after_connect", "after_testing"):
        loaded = _top_level(list(probe[stage]))
        assert loaded.isdisjoint(FORBIDDEN), f"{stage}: {sorted(loaded & set(FORBIDDEN))}"


def test_import_userstore_does_not_load_the_memory_adapter(
    probe: dict[str, list[str] | str],
) -> None:
    assert "userstore.memory" not in probe["after_import"]
    assert "userstore.memory" in probe["after_connect"]
