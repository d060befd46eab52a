"""``userstore.connect()`` finds this adapter through its real entry points."""

import asyncio
import os
import threading
import tomllib
from importlib.metadata import distribution, entry_points
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import userstore
from userstore import ENTRY_POINT_GROUP, _registry
from userstore_sqlalchemy import (
    SQLAlchemyAdapter,
    SQLAlchemyStore,
    SQLAlchemyUserDatabase,
    build_models,
)
from userstore_sqlalchemy._runner import install_shim
from userstore_sqlalchemy.engine import async_url, create_engine

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


# Bad URLs and options: InvalidURL naming the part, before any connection -----------------

# db.invalid never resolves: had a connection been attempted, the error would be
# StoreUnavailable ("cannot reach db.invalid:..."), not InvalidURL
BAD_URLS = [
    ("mysql://root:s3cret@db.invalid:3306/", "database", "the URL names no database"),
    ("mariadb://root:s3cret@db.invalid", "database", "the URL names no database"),
    ("postgresql://u:s3cret@db.invalid:99999/app", "port", "out of range"),
    ("postgresql://u:s3cret@db.invalid:port/app", "port", "not a number"),
    ("postgresql+nosuchdriver://u:s3cret@db.invalid/app", "driver", "no dialect or driver"),
    ("mysql+pymysql://u:s3cret@db.invalid/app", "driver", "not an asyncio driver"),
    ("postgresql://u:s3cret@db.invalid/app?bogus=1", "bogus", "asyncpg takes no option 'bogus'"),
    ("postgresql://u:s3cret@db.invalid/app?sslmode=maybe", "sslmode", "is not an SSL mode"),
    ("postgresql://u:s3cret@db.invalid/app?ssl=true", "ssl", "is not an SSL mode"),
    ("postgresql://u:s3cret@db.invalid/app?ssl=require&sslmode=disable", "sslmode", "not both"),
    ("postgresql://u:s3cret@db.invalid/app?connect_timeout=5", "connect_timeout", "'timeout'"),
    ("postgresql://u:s3cret@db.invalid/app?sslrootcert=ca.pem", "sslrootcert", "SSLContext"),
    (
        "postgresql://u:s3cret@db.invalid/app?prepared_statement_cache_size=x",
        "prepared_statement_cache_size",
        "wrong type",
    ),
    ("mysql://u:s3cret@db.invalid/app?bogus=1", "bogus", "aiomysql takes no option 'bogus'"),
    ("mysql://u:s3cret@db.invalid/app?ssl_mode=REQUIRED", "ssl_mode", "ssl_ca="),
    ("sqlite:///app.db?mode=ro", "mode", "unless the URL also has uri=true"),
    ("sqlite:///app.db?timeout=soon", "timeout", "wrong type"),
    ("sqlite://app.db", "host", "names a file, not a server"),
]


@pytest.mark.parametrize(("url", "part", "reason"), BAD_URLS)
def test_bad_url_is_refused_naming_the_part(
    clean_registry: None, url: str, part: str, reason: str
) -> None:
    with pytest.raises(userstore.InvalidURL) as info:
        userstore.connect(url)
    assert info.value.part == part
    assert reason in str(info.value)
    assert "s3cret" not in str(info.value)
    assert isinstance(info.value, userstore.UserStoreError)
    assert isinstance(info.value, ValueError)  # what connect() raised before
    assert info.value.__cause__ is None or "s3cret" not in str(info.value.__cause__)


@pytest.mark.parametrize(
    ("url", "part", "reason"),
    [
        *BAD_URLS,
        ("postgresql:u:s3cret@db.invalid/app", "url", "not a database URL"),
        ("nosuchdialect+x://u:s3cret@db.invalid/app", "driver", "no dialect or driver"),
    ],
)
def test_create_engine_refuses_bad_urls_too(url: str, part: str, reason: str) -> None:
    with pytest.raises(userstore.InvalidURL) as info:
        create_engine(url)
    assert info.value.part == part
    assert reason in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "options", "part"),
    [
        ("sqlite://", {"bogus": 1}, "bogus"),
        ("postgresql://u@db.invalid/app", {"echo_pool_please": True}, "echo_pool_please"),
        ("sqlite://", {"id_type": "str"}, "id_type"),
    ],
)
def test_an_option_that_does_not_exist_is_invalid_url(
    clean_registry: None, url: str, options: dict[str, Any], part: str
) -> None:
    with pytest.raises(userstore.InvalidURL) as info:
        userstore.connect(url, **options)
    assert info.value.part == part


@pytest.mark.parametrize(
    "options",
    [{"connect_args": {"bogus": 1}}, {"connect_args": {"sslmode": "maybe"}}],
    ids=["unknown", "bad-sslmode"],
)
def test_bad_connect_args_are_refused_before_connecting(
    clean_registry: None, options: dict[str, object]
) -> None:
    with pytest.raises(userstore.InvalidURL) as info:
        userstore.connect("postgresql://u@db.invalid/app", **options)
    assert info.value.part in ("bogus", "sslmode")


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u@db.example/app",
        "postgres+asyncpg://u@db.example/app",
        "POSTGRES://u@db.example/app",
    ],
)
async def test_postgres_scheme_is_postgresql(clean_registry: None, url: str) -> None:
    assert async_url(url).drivername == "postgresql+asyncpg"
    store = userstore.connect(url)
    try:
        assert isinstance(store, SQLAlchemyStore)
        assert (store.engine.dialect.name, store.engine.dialect.driver) == ("postgresql", "asyncpg")
        assert _registry._loaded == {"postgresql": SQLAlchemyAdapter}
    finally:
        await store.close()


def server_url(registry: dict[str, Backend], name: str, **changes: Any) -> URL:
    return make_url(backend_url(registry, name)).set(**changes)


def without_database(url: URL) -> URL:
    return URL.create(url.drivername, url.username, url.password, url.host, url.port)


def rendered(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.mark.backend("postgres")
async def test_postgres_scheme_works_on_the_real_server(
    clean_registry: None, backend_registry: dict[str, Backend]
) -> None:
    url = server_url(backend_registry, "postgres", drivername="postgres")
    await round_trip(rendered(url))


@pytest.mark.backend("postgres")
async def test_sslmode_is_asyncpgs_ssl(
    clean_registry: None, backend_registry: dict[str, Backend]
) -> None:
    url = server_url(backend_registry, "postgres")
    # the loopback server has no TLS: disable connects, require is refused by the server
    await round_trip(rendered(url.update_query_dict({"sslmode": "disable"})))
    store = userstore.connect(rendered(url.update_query_dict({"sslmode": "require"})))
    try:
        with pytest.raises(userstore.StoreUnavailable, match="SSL"):
            await store.create_schema()
    finally:
        await store.close()


@pytest.mark.backend("postgres")
async def test_sslmode_works_on_an_applications_own_engine(
    backend_registry: dict[str, Backend],
) -> None:
    url = server_url(backend_registry, "postgres").update_query_dict({"sslmode": "disable"})
    engine = create_async_engine(url)  # the application's plain engine, sslmode in its URL
    try:
        install_shim(engine.sync_engine)
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT 1")).scalar() == 1
    finally:
        await engine.dispose()


@pytest.mark.backend("postgres")
async def test_postgresql_without_a_database_uses_the_users(
    clean_registry: None, backend_registry: dict[str, Backend]
) -> None:
    server = make_url(backend_url(backend_registry, "postgres"))
    store = userstore.connect(rendered(without_database(server)))
    assert isinstance(store, SQLAlchemyStore)
    try:
        async with store.engine.connect() as connection:
            found = await connection.exec_driver_sql("SELECT current_database()")
            # libpq's defaults, which asyncpg follows: PGDATABASE, else the user's name
            assert found.scalar() == os.environ.get("PGDATABASE", server.username)
    finally:
        await store.close()


@pytest.mark.backend("mysql")
def test_mysql_without_a_database_is_refused(
    clean_registry: None, backend_registry: dict[str, Backend]
) -> None:
    for scheme in ("mysql", "mariadb"):
        url = without_database(server_url(backend_registry, "mysql", drivername=scheme))
        with pytest.raises(userstore.InvalidURL, match="names no database") as info:
            userstore.connect(rendered(url))
        assert info.value.part == "database"


async def test_option_refused_at_connect_by_the_driver_is_invalid_url(db_url: str) -> None:
    """An application's own engine is not checked up front: the driver's refusal is."""
    engine = create_async_engine(db_url, connect_args={"no_such_option": 1})
    try:
        sessions = async_sessionmaker(engine)
        async with sessions() as session:
            users = SQLAlchemyUserDatabase(session, build_models().user)
            with pytest.raises(userstore.InvalidURL, match="takes no option 'no_such_option'"):
                await users.get_by_email("ada@example.com")
    finally:
        await engine.dispose()
        await driver_threads_stopped()


async def driver_threads_stopped() -> None:
    """Wait for aiosqlite's worker threads to stop: a failed connect leaves one stopping.

    Its last result is handed to the event loop, which must still be running then.
    """
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 1)
