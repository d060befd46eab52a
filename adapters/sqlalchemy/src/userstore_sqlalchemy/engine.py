"""``create_engine``: an engine tuned for userstore (optional; any engine works)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._unit import install_shim

__all__ = ["create_engine"]

_DEFAULT_DRIVERS = {
    "sqlite": "aiosqlite",
    "postgresql": "asyncpg",
    "mysql": "aiomysql",
    "mariadb": "aiomysql",
}


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """Return an ``AsyncEngine`` for ``url`` with the dialect shim installed from the start.

    A URL without a driver gets the asyncio one (``sqlite`` → aiosqlite,
    ``postgresql`` → asyncpg, ``mysql``/``mariadb`` → aiomysql).  MySQL URLs get
    ``charset=utf8mb4`` unless they name one.  Options go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    parsed = make_url(url)
    parsed = parsed.set(drivername=parsed.drivername.lower())
    if "+" not in parsed.drivername and parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{_DEFAULT_DRIVERS[parsed.drivername]}")
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    options.setdefault("pool_pre_ping", False)
    engine = create_async_engine(parsed, **options)
    install_shim(engine.sync_engine)
    return engine
