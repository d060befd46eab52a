"""Access tokens: fastapi-users-db-sqlalchemy's names, plus digests and bulk clean-up.

The module path is fastapi-users-db-sqlalchemy's (``...access_token``), so an
application's imports change only in the package name.
"""

from __future__ import annotations

from ._tokendb import SQLAlchemyAccessTokenDatabase
from .models import SQLAlchemyBaseAccessTokenTable, SQLAlchemyBaseAccessTokenTableUUID

__all__ = [
    "SQLAlchemyAccessTokenDatabase",
    "SQLAlchemyBaseAccessTokenTable",
    "SQLAlchemyBaseAccessTokenTableUUID",
]
