"""userstore-sqlalchemy: the SQLAlchemy 2.x asyncio adapter of userstore.

A drop-in replacement for fastapi-users-db-sqlalchemy (same class names and
signatures) that behaves identically on SQLite, PostgreSQL and MySQL/MariaDB:
one dialect shim per backend makes collations, padding, foreign keys, datetimes,
UUIDs and error reporting agree with userstore's contract.
"""

from .access_token import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTable,
    SQLAlchemyBaseAccessTokenTableUUID,
)
from .engine import create_engine
from .models import (
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTable,
    SQLAlchemyBaseUserTableUUID,
)
from .store import SQLAlchemyAdapter, SQLAlchemyStore, build_models
from .types import GUID, UUID_ID, ExactString, UTCDateTime
from .users import SQLAlchemyUserDatabase

__version__ = "0.1.0"

__all__ = [
    "GUID",
    "UUID_ID",
    "ExactString",
    "SQLAlchemyAccessTokenDatabase",
    "SQLAlchemyAdapter",
    "SQLAlchemyBaseAccessTokenTable",
    "SQLAlchemyBaseAccessTokenTableUUID",
    "SQLAlchemyBaseOAuthAccountTable",
    "SQLAlchemyBaseOAuthAccountTableUUID",
    "SQLAlchemyBaseUserTable",
    "SQLAlchemyBaseUserTableUUID",
    "SQLAlchemyStore",
    "SQLAlchemyUserDatabase",
    "UTCDateTime",
    "__version__",
    "build_models",
    "create_engine",
]

# Names whose code lives in a private module report the public one (reprs, pickles).
# The table mixins and column types keep their modules (``models``, ``access_token``,
# ``types``, all public): SQLAlchemy resolves their annotations in that module.
SQLAlchemyAccessTokenDatabase.__module__ = f"{__name__}.access_token"
build_models.__module__ = __name__
