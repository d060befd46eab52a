"""userstore models for the migration tests: UUID ids (the mixins') and integer ids (the app's)."""

from __future__ import annotations

import types
from typing import Literal

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from userstore_sqlalchemy import (
    SQLAlchemyBaseAccessTokenTable,
    SQLAlchemyBaseAccessTokenTableUUID,
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTable,
    SQLAlchemyBaseUserTableUUID,
)


def uuid_models() -> types.SimpleNamespace:
    """The FastAPI Users tutorial's models on userstore's UUID mixins, in a fresh metadata."""

    class Base(DeclarativeBase):
        pass

    class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

    class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
        pass

    return types.SimpleNamespace(
        metadata=Base.metadata, User=User, OAuthAccount=OAuthAccount, AccessToken=AccessToken
    )


def int_models() -> types.SimpleNamespace:
    """Integer ids, declared by the application; ``user_id`` indexed as the UUID mixins do."""

    class Base(DeclarativeBase):
        pass

    class OAuthAccount(SQLAlchemyBaseOAuthAccountTable[int], Base):
        id: Mapped[int] = mapped_column(Integer, primary_key=True)

        @declared_attr
        def user_id(cls) -> Mapped[int]:
            return mapped_column(
                Integer, ForeignKey("user.id", ondelete="cascade"), nullable=False, index=True
            )

    class User(SQLAlchemyBaseUserTable[int], Base):
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        oauth_accounts: Mapped[list[OAuthAccount]] = relationship("OAuthAccount", lazy="joined")

    class AccessToken(SQLAlchemyBaseAccessTokenTable[int], Base):
        @declared_attr
        def user_id(cls) -> Mapped[int]:
            return mapped_column(
                Integer, ForeignKey("user.id", ondelete="cascade"), nullable=False, index=True
            )

    return types.SimpleNamespace(
        metadata=Base.metadata, User=User, OAuthAccount=OAuthAccount, AccessToken=AccessToken
    )


def models_for(ids: Literal["uuid", "int"]) -> types.SimpleNamespace:
    """The models of one id kind."""
    return uuid_models() if ids == "uuid" else int_models()
