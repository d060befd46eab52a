"""``create_engine``: an engine tuned for userstore (optional; any engine works)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._unit import install_shim

__all__ = ["async_url", "create_engine"]

_DEFAULT_DRIVERS = {
    "sqlite": "aiosqlite",
    "postgresql": "asyncpg",
    "mysql": "aiomysql",
    "mariadb": "aiomysql",
}
# driver module -> the extra of userstore-sqlalchemy that installs it
_EXTRAS = {"aiosqlite": "sqlite", "asyncpg": "postgres", "aiomysql": "mysql", "pymysql": "mysql"}


def async_url(url: str | URL) -> URL:
    """Return ``url`` parsed, with the asyncio driver named and MySQL's charset set.

    A URL without a driver gets the asyncio one (``sqlite`` → aiosqlite,
    ``postgresql`` → asyncpg, ``mysql``/``mariadb`` → aiomysql).  MySQL URLs get
    ``charset=utf8mb4`` unless they name one.  Raises SQLAlchemy's
    ``ArgumentError`` (or ``ValueError``, for a port that is not a number) for a
    URL it cannot parse.
    """
    parsed = make_url(url)
    parsed = parsed.set(drivername=parsed.drivername.lower())
    if "+" not in parsed.drivername and parsed.drivername in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{_DEFAULT_DRIVERS[parsed.drivername]}")
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def create_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """Return an ``AsyncEngine`` for ``url`` with the dialect shim installed from the start.

    The URL is completed by :func:`async_url`.  Options go to
    :func:`sqlalchemy.ext.asyncio.create_async_engine`.  A driver that is not
    installed raises ``ModuleNotFoundError`` naming the extra that installs it
    (``pip install 'userstore-sqlalchemy[postgres]'``).
    """
    parsed = async_url(url)
    try:
        engine = create_async_engine(parsed, **options)
    except ModuleNotFoundError as error:
        raise _missing_driver(error) from None
    install_shim(engine.sync_engine)
    return engine


def _missing_driver(error: ModuleNotFoundError) -> ModuleNotFoundError:
    root = (error.name or "").partition(".")[0]
    extra = _EXTRAS.get(root)
    if extra is not None:
        hint = f"pip install 'userstore-sqlalchemy[{extra}]'"
    elif root:
        hint = f"pip install {root}"
    else:
        return error
    return ModuleNotFoundError(f"the {root} driver is not installed: {hint}", name=error.name)
