"""``GUID``: a UUID column that always gives ``uuid.UUID`` back.

Native ``UUID`` on PostgreSQL and MariaDB 10.7+; elsewhere ``CHAR(36)`` holding the
lower-case hyphenated form, which is also what fastapi-users-db-sqlalchemy's GUID
stores, so existing rows keep matching.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import CHAR, TypeDecorator, TypeEngine

from ..dialects import shim_for

__all__ = ["GUID", "UUID_ID", "uuid7"]

UUID_ID = uuid.UUID
"""The id type of the UUID variants of the tables (``SQLAlchemyBaseUserTableUUID``...)."""


class GUID(TypeDecorator[uuid.UUID]):
    """A UUID column: binds ``uuid.UUID`` (or its string form), reads ``uuid.UUID``."""

    impl = CHAR(36)
    cache_ok = True

    @property
    def python_type(self) -> type[uuid.UUID]:
        """``uuid.UUID``: field rules derived from the column take UUIDs only."""
        return uuid.UUID

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """The backend's native UUID type, or ``CHAR(36)``."""
        return dialect.type_descriptor(shim_for(dialect).uuid_type(dialect))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Pass ``uuid.UUID`` to native columns, its hyphenated string to the others."""
        if value is None:
            return None
        if not isinstance(value, uuid.UUID):
            value = uuid.UUID(str(value))
        if shim_for(dialect).binds_uuid_objects(dialect):
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        """Return exactly a ``uuid.UUID`` (drivers may hand back a subclass or a string)."""
        if value is None or type(value) is uuid.UUID:
            return value
        if isinstance(value, uuid.UUID):
            return uuid.UUID(int=value.int)
        if isinstance(value, bytes):
            value = value.decode("ascii")
        return uuid.UUID(value)


_lock = threading.Lock()
_last = (0, 0)


def uuid7() -> uuid.UUID:
    """Return a time-ordered UUID (RFC 9562 version 7), increasing within this process.

    OAuth-account ids use it, so sorting a user's accounts by id gives the order
    they were linked in, without a column for it.
    """
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_seq = _last
        if millis <= last_millis:
            millis, seq = last_millis, last_seq + 1
            if seq > 0xFFF:
                millis, seq = last_millis + 1, 0
        else:
            seq = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _last = (millis, seq)
    rand = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (millis << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)
