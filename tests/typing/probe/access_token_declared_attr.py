"""An integer-id access token whose ``user_id`` is a ``declared_attr``, then used for FastAPI Users.

mypy checks ``AccessTokenDatabase[AccessToken]`` against ``AccessTokenProtocol``
without applying the ``declared_attr`` descriptor, so it rejects the model; it
does so with fastapi-users-db-sqlalchemy 7's mixin as well.  A plain
``user_id: Mapped[int] = mapped_column(...)`` passes (see int_ids.py).
"""

from fastapi_users.authentication.strategy.db import AccessTokenDatabase, DatabaseStrategy
from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from userstore_sqlalchemy.access_token import SQLAlchemyBaseAccessTokenTable

from .int_ids import User


class Base(DeclarativeBase):
    pass


class AccessToken(SQLAlchemyBaseAccessTokenTable[int], Base):
    @declared_attr
    def user_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("user.id", ondelete="cascade"), nullable=False)


def get_database_strategy(
    access_token_db: AccessTokenDatabase[AccessToken],
) -> DatabaseStrategy[User, int, AccessToken]:
    return DatabaseStrategy(access_token_db, lifetime_seconds=3600)
