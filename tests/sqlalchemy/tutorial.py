"""The models of FastAPI Users' SQLAlchemy tutorial, with only the import changed."""

import types
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, relationship

from userstore_sqlalchemy import (
    SQLAlchemyBaseAccessTokenTable,
    SQLAlchemyBaseAccessTokenTableUUID,
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTable,
    SQLAlchemyBaseUserTableUUID,
)


class Base(DeclarativeBase):
    pass


class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


def tutorial_int_models(ondelete: str | None) -> types.SimpleNamespace:
    """The integer-id variant, its foreign keys declared with ``ondelete`` (or without)."""

    class Base(DeclarativeBase):
        pass

    class OAuthAccount(SQLAlchemyBaseOAuthAccountTable[int], Base):
        id = Column(Integer, primary_key=True)

        @declared_attr
        def user_id(cls) -> Any:
            return Column(Integer, ForeignKey("user.id", ondelete=ondelete), nullable=False)

    class User(SQLAlchemyBaseUserTable[int], Base):
        id = Column(Integer, primary_key=True)
        oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

    class AccessToken(SQLAlchemyBaseAccessTokenTable[int], Base):
        @declared_attr
        def user_id(cls) -> Any:
            return Column(Integer, ForeignKey("user.id", ondelete=ondelete), nullable=False)

    return types.SimpleNamespace(
        metadata=Base.metadata, User=User, OAuthAccount=OAuthAccount, AccessToken=AccessToken
    )
