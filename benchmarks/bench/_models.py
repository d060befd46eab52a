"""The application's models, declared as in the FastAPI Users SQLAlchemy tutorial.

Each adapter gets its own ``DeclarativeBase`` with its own mixins: userstore's
for userstore, the bare-ORM reference and the raw drivers (which run SQL against
exactly those tables), fastapi-users-db-sqlalchemy's for fudb.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, relationship

__all__ = ["Models", "declare_models"]

PACKAGES = {"userstore": "userstore_sqlalchemy", "fudb": "fastapi_users_db_sqlalchemy"}


@dataclasses.dataclass(frozen=True)
class Models:
    schema: str
    users_module: ModuleType
    tokens_module: ModuleType
    base: type[DeclarativeBase]
    user: type[Any]
    oauth_account: type[Any]
    access_token: type[Any]


def declare_models(schema: str) -> Models:
    """Declare User, OAuthAccount and AccessToken with ``schema``'s mixins."""
    package = PACKAGES[schema]
    lib = importlib.import_module(package)
    tokens = importlib.import_module(f"{package}.access_token")

    class Base(DeclarativeBase):
        pass

    class OAuthAccount(lib.SQLAlchemyBaseOAuthAccountTableUUID, Base):
        pass

    class User(lib.SQLAlchemyBaseUserTableUUID, Base):
        oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

    class AccessToken(tokens.SQLAlchemyBaseAccessTokenTableUUID, Base):
        pass

    return Models(schema, lib, tokens, Base, User, OAuthAccount, AccessToken)
