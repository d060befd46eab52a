"""``userstore.connect()`` finds this adapter through its real entry points."""

import tomllib
from importlib.metadata import distribution, entry_points
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import userstore
from userstore import ENTRY_POINT_GROUP, _registry
from userstore_sqlalchemy import SQLAlchemyAdapter, SQLAlchemyStore

from ..backends import Backend
from ..conftest import backend_url

SCHEMES = ("sqlite", "postgresql", "mysql", "mariadb")
PYPROJECT = Path(__file__).parents[2] / "adapters" / "sqlalchemy" / "pyproject.toml"


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing registered in-process, nothing cached: connect() must use the entry points."""
    monkeypatch.setattr(_registry, "_registered", {})
    monkeypatch.setattr(_registry, "_loaded", {})


def test_pyproject_registers_the_schemes() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert declared == dict.fromkeys(SCHEMES, "userstore_sqlalchemy.store:SQLAlchemyAdapter")


def test_installed_distribution_has_the_entry_points() -> None:
    installed = {
        ep.name: ep
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "userstore-sqlalchemy"
    }
    assert sorted(installed) == sorted(SCHEMES)
    for ep in installed.values():
        assert ep.load() is SQLAlchemyAdapter
    assert distribution("userstore-sqlalchemy").version
    assert set(SQLAlchemyAdapter.schemes) == set(SCHEMES)


@pytest.mark.parametrize(
    ("url", "dialect", "driver"),
    [
        ("sqlite+aiosqlite:///store.db", "sqlite", "aiosqlite"),
        ("sqlite:///store.db", "sqlite", "aiosqlite"),
        ("sqlite://", "sqlite", "aiosqlite"),
        ("postgresql://u@db.example/app", "postgresql", "asyncpg"),
        ("postgresql+asyncpg://u@db.example/app", "postgresql", "asyncpg"),
        ("mysql+aiomysql://u@db.example/app", "mysql", "aiomysql"),
        ("mysql://u@db.example/app", "mysql", "aiomysql"),
        ("mariadb://u@db.example/app", "mariadb", "aiomysql"),
        ("mariadb+aiomysql://u@db.example/app", "mariadb", "aiomysql"),
        ("postgresql+psycopg://u@db.example/app", "postgresql", "psycopg"),
        ("mysql+asyncmy://u@db.example/app", "mysql", "asyncmy"),
        ("mariadb+asyncmy://u@db.example/app", "mariadb", "asyncmy"),
    ],
)
async def test_connect_returns_a_sqlalchemy_store(
    clean_registry: None, url: str, dialect: str, driver: str
) -> None:
    store = userstore.connect(url)
    try:
        assert type(store) is SQLAlchemyStore
        assert store.url == url
        assert (store.engine.dialect.name, store.engine.dialect.driver) == (dialect, driver)
        scheme = url.partition("://")[0].partition("+")[0].lower()
        assert _registry._loaded == {scheme: SQLAlchemyAdapter}
    finally:
        await store.close()


async def test_connect_passes_options(clean_registry: None) -> None:
    store = userstore.connect("sqlite://", id_type="int", token_digest=True, table_prefix="app_")
    try:
        assert isinstance(store, SQLAlchemyStore)
        assert (store.id_type, store.token_digest) == ("int", True)
        assert set(store.models.metadata.tables) == {
            "app_user",
            "app_oauth_account",
            "app_accesstoken",
        }
    finally:
        await store.close()


async def round_trip(url: str) -> None:
    store = userstore.connect(url, table_prefix="registry_")
    assert isinstance(store, SQLAlchemyStore)
    try:
        await store.create_schema()
        try:
            async with store.session() as session:
                user = await session.users.create(
                    {"email": "Ada@Example.com", "hashed_password": "h"}
                )
                found = await session.users.get_by_email("ada@example.com")
                assert found is not None
                assert found.id == user.id
        finally:
            await store.drop_schema()
    finally:
        await store.close()


async def test_connected_store_works_on_the_real_database(
    clean_registry: None, db_url: str
) -> None:
    await round_trip(db_url)


async def test_mariadb_scheme_works_on_the_real_server(
    clean_registry: None, backend_registry: dict[str, Backend]
) -> None:
    url = make_url(backend_url(backend_registry, "mysql")).set(drivername="mariadb")
    await round_trip(url.render_as_string(hide_password=False))
    assert _registry._loaded == {"mariadb": SQLAlchemyAdapter}
