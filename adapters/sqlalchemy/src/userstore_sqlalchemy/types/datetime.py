"""``UTCDateTime``: timezone-aware UTC datetimes with microseconds on every backend.

``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, ``DATETIME(6)`` holding naive UTC on
MySQL/MariaDB, SQLAlchemy's fixed-width text on SQLite (which sorts and compares
like the instants it holds).  Naive datetimes are refused: on the way in they
would mean something different on each backend.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

from ..dialects import shim_for

__all__ = ["TIMESTAMPAware", "UTCDateTime", "now_utc"]


def now_utc() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out; naive ones raise ``ValueError``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        """``datetime.datetime``: field rules derived from the column refuse naive ones."""
        return dt.datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The backend's datetime column type with microsecond precision."""
        return dialect.type_descriptor(shim_for(dialect).datetime_type(dialect))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Convert to UTC; drop the zone where the column has none."""
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused; give a timezone-aware one")
        value = value.astimezone(dt.UTC)
        if shim_for(dialect).stores_naive_utc(dialect):
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return the value as an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


TIMESTAMPAware = UTCDateTime
"""fastapi-users-db-sqlalchemy's name for the same idea."""
