"""connect() and the adapter registry: entry points, register(), errors."""

import base64
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import pytest

import userstore
from userstore import (
    ENTRY_POINT_GROUP,
    AdapterNotFound,
    Store,
    _errors,
    _registry,
    available_adapters,
    connect,
    register,
)
from userstore.memory import MemoryAdapter, MemoryStore


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start with nothing registered in-process and no adapter cached."""
    monkeypatch.setattr(_registry, "_registered", {})
    monkeypatch.setattr(_registry, "_loaded", {})


class RecordingAdapter:
    """An in-process adapter that remembers the URLs and options it was given."""

    schemes: ClassVar[tuple[str, ...]] = ("fake",)
    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    @classmethod
    def connect(cls, url: str, **options: Any) -> Store:
        cls.calls.append((url, options))
        return MemoryStore(**options)


@pytest.fixture
def recording() -> type[RecordingAdapter]:
    RecordingAdapter.calls = []
    return RecordingAdapter


# The built-in memory adapter, through the real entry point --------------------------------


def test_memory_entry_point_is_installed() -> None:
    (memory,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "memory"]
    assert memory.value == "userstore.memory:MemoryAdapter"
    assert memory.load() is MemoryAdapter
    assert ENTRY_POINT_GROUP == "userstore.adapters"


def test_connect_memory_loads_the_entry_point(clean_registry: None) -> None:
    store = connect("memory://")
    assert type(store) is MemoryStore
    assert _registry._loaded == {"memory": MemoryAdapter}
    assert (store.id_type, store.token_digest) == ("uuid", False)


def test_each_connect_returns_a_new_store(clean_registry: None) -> None:
    assert connect("memory://") is not connect("memory://")


def test_connect_passes_options_through(clean_registry: None) -> None:
    store = connect("memory://", id_type="int", token_digest=True)
    assert isinstance(store, MemoryStore)
    assert (store.id_type, store.token_digest) == ("int", True)


@pytest.mark.parametrize(
    "url", ["memory+anything://", "MEMORY://", "Memory+Driver://host/db?x=1", "memory://x"]
)
def test_scheme_case_and_driver_suffix_are_ignored(clean_registry: None, url: str) -> None:
    assert type(connect(url)) is MemoryStore


@pytest.mark.parametrize(
    "url", ["postgres://u@db.example/app", "POSTGRES+asyncpg://u@db.example/app"]
)
def test_postgres_scheme_is_served_by_the_postgresql_adapter(
    clean_registry: None, recording: type[RecordingAdapter], url: str
) -> None:
    register("postgresql", recording)
    connect(url, id_type="int")
    assert recording.calls == [(url, {"id_type": "int"})]
    assert _registry.url_scheme(url) == "postgresql"


@pytest.mark.parametrize(
    ("options", "part"), [({"bogus": 1}, "bogus"), ({"id_type": "str"}, "id_type")]
)
def test_a_bad_option_of_memory_is_invalid_url(
    clean_registry: None, options: dict[str, Any], part: str
) -> None:
    with pytest.raises(userstore.InvalidURL) as info:
        connect("memory://", **options)
    assert info.value.part == part


def test_invalid_url_is_a_store_error_and_a_value_error() -> None:
    error = userstore.InvalidURL("the URL names no database", part="database")
    assert isinstance(error, userstore.UserStoreError)
    assert isinstance(error, ValueError)
    assert (str(error), error.part) == ("the URL names no database", "database")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is userstore.InvalidURL
    assert (str(copy), copy.part) == ("the URL names no database", "database")
    assert "InvalidURL" in (_errors.__doc__ or "")  # drawn in the hierarchy


def test_available_adapters_lists_memory_without_loading_anything(clean_registry: None) -> None:
    adapters = available_adapters()
    assert adapters["memory"] == "userstore.memory:MemoryAdapter"
    assert list(adapters) == sorted(adapters)
    assert _registry._loaded == {}


# Errors -----------------------------------------------------------------------------------


def test_unknown_scheme_lists_the_installed_adapters(clean_registry: None) -> None:
    with pytest.raises(AdapterNotFound) as info:
        connect("nosuch://host/db")
    message = str(info.value)
    assert message.startswith("no adapter serves 'nosuch'; installed: ")
    assert "memory (userstore.memory:MemoryAdapter)" in message
    for scheme, target in available_adapters().items():
        assert f"{scheme} ({target})" in message
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, userstore.UserStoreError)


@pytest.mark.parametrize("url", ["memory", "memory:", "memory:/x", "", "://host", "sqlite:db"])
def test_url_without_a_scheme_is_refused(clean_registry: None, url: str) -> None:
    with pytest.raises(AdapterNotFound, match="not a store URL"):
        connect(url)


def test_malformed_url_error_hides_credentials(clean_registry: None) -> None:
    with pytest.raises(AdapterNotFound) as info:
        connect("postgresql:admin:s3cr3t@db.example/app")
    assert "s3cr3t" not in str(info.value)
    assert "db.example/app" in str(info.value)


# register() -------------------------------------------------------------------------------


def test_register_serves_a_scheme_in_process(
    clean_registry: None, recording: type[RecordingAdapter]
) -> None:
    with pytest.raises(AdapterNotFound):
        connect("fake://x")
    register("fake", recording)
    store = connect("fake+driver://host/db", id_type="int")
    assert type(store) is MemoryStore
    assert recording.calls == [("fake+driver://host/db", {"id_type": "int"})]
    expected = f"{__name__}:RecordingAdapter"
    assert available_adapters()["fake"] == expected


def test_register_is_case_insensitive(
    clean_registry: None, recording: type[RecordingAdapter]
) -> None:
    register("FAKE", recording)
    connect("Fake://x")
    assert [url for url, _ in recording.calls] == ["Fake://x"]


def test_register_wins_over_an_entry_point(
    clean_registry: None, recording: type[RecordingAdapter]
) -> None:
    register("memory", recording)
    connect("memory://")
    assert len(recording.calls) == 1
    assert available_adapters()["memory"] == f"{__name__}:RecordingAdapter"


def test_registry_is_clean_after_the_fixture() -> None:
    # monkeypatch put back the module's own dicts: nothing from the tests above leaks.
    assert "fake" not in _registry._registered
    assert "fake" not in available_adapters()


# A third-party adapter, installed as a real distribution ---------------------------------

PYPROJECT = """\
[project]
name = "fake-userstore-adapter"
version = "1.0"
dependencies = ["userstore"]

[project.entry-points."userstore.adapters"]
fake = "fake_userstore_adapter:FakeAdapter"
wrong = "fake_userstore_adapter:FakeAdapter"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""

MODULE = '''\
"""A third-party userstore adapter, as small as one can be."""

from userstore.memory import MemoryStore

CALLS = []


class FakeAdapter:
    """Serve fake:// with an in-memory store."""

    schemes = ("fake",)

    @classmethod
    def connect(cls, url, **options):
        """Return a new MemoryStore."""
        CALLS.append(url)
        return MemoryStore(**options)
'''

PROBE = """\
import asyncio, importlib.metadata, json, sys
import userstore

out = {"version": importlib.metadata.version("fake-userstore-adapter")}
out["available"] = userstore.available_adapters()
out["imported_before_connect"] = "fake_userstore_adapter" in sys.modules
store = userstore.connect("fake://x", id_type="int")
out["store"] = f"{type(store).__module__}.{type(store).__name__}"
out["imported_after_connect"] = "fake_userstore_adapter" in sys.modules
out["calls"] = sys.modules["fake_userstore_adapter"].CALLS

async def use(store):
    async with store.session() as s:
        user = await s.users.create({"email": "a@example.com", "hashed_password": "h"})
        found = await s.users.get_by_email("A@EXAMPLE.COM")
        return [user.id, found.id]

out["ids"] = asyncio.run(use(store))
for url in ("wrong://x", "nosuch://x"):
    try:
        userstore.connect(url)
    except userstore.AdapterNotFound as exc:
        out[url] = str(exc)
print(json.dumps(out))
"""


def _record_line(root: Path, path: Path) -> str:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path.relative_to(root).as_posix()},sha256={digest},{len(data)}"


def install_by_hand(project: Path, target: Path) -> None:
    """Install a one-module project into ``target`` as an installer would, wheel-less.

    Writes the module and a ``.dist-info`` (METADATA, entry_points.txt, INSTALLER,
    RECORD) built from the project's pyproject.toml: importlib.metadata sees a
    real installed distribution, and no build backend or network is needed.
    """
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    module = project / "src" / "fake_userstore_adapter.py"
    (target / module.name).write_bytes(module.read_bytes())
    dist_info = target / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        f"Name: {meta['name']}\n"
        f"Version: {meta['version']}\n"
        + "".join(f"Requires-Dist: {dep}\n" for dep in meta["dependencies"])
    )
    groups = meta["entry-points"]
    (dist_info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items()) + "\n"
            for group, eps in groups.items()
        )
    )
    (dist_info / "INSTALLER").write_text("userstore-tests\n")
    files = [target / module.name, *sorted(dist_info.iterdir())]
    record = [_record_line(target, f) for f in files]
    record.append(f"{dist_info.name}/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture(scope="module")
def third_party_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("fake-userstore-adapter")
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "src").mkdir()
    (project / "src" / "fake_userstore_adapter.py").write_text(MODULE)
    site = tmp_path_factory.mktemp("site")
    install_by_hand(project, site)
    return site


def run_probe(site: Path) -> dict[str, Any]:
    inherited = os.environ.get("PYTHONPATH")
    path = os.pathsep.join([str(site), inherited] if inherited else [str(site)])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_third_party_adapter_through_a_real_entry_point(third_party_site: Path) -> None:
    out = run_probe(third_party_site)
    assert out["version"] == "1.0"
    assert out["available"]["fake"] == "fake_userstore_adapter:FakeAdapter"
    assert out["available"]["memory"] == "userstore.memory:MemoryAdapter"
    assert out["imported_before_connect"] is False, "available_adapters() imported the adapter"
    assert out["imported_after_connect"] is True
    assert out["store"] == "userstore.memory.MemoryStore"
    assert out["calls"] == ["fake://x"]
    assert out["ids"] == [1, 1]
    assert "wrong" in out["wrong://x"]
    assert "does not serve 'wrong'" in out["wrong://x"]
    assert "fake (fake_userstore_adapter:FakeAdapter)" in out["nosuch://x"]


def test_third_party_adapter_is_absent_without_its_distribution(clean_registry: None) -> None:
    # The distribution lives only on the subprocess's path, not in this environment.
    assert "fake" not in available_adapters()
    with pytest.raises(AdapterNotFound):
        connect("fake://x")


def test_hand_installed_distribution_is_seen_by_importlib_metadata(
    third_party_site: Path,
) -> None:
    from importlib.metadata import distributions

    (dist,) = distributions(path=[str(third_party_site)])
    assert dist.metadata["Name"] == "fake-userstore-adapter"
    eps = {ep.name: ep.value for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP}
    assert eps == {
        "fake": "fake_userstore_adapter:FakeAdapter",
        "wrong": "fake_userstore_adapter:FakeAdapter",
    }
    assert dist.files is not None
    assert {str(f) for f in dist.files} >= {"fake_userstore_adapter.py"}
