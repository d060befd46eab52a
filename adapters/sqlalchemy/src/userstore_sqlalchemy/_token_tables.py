"""The access-token table mixins (``SQLAlchemyBaseAccessTokenTable`` and its UUID form)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from .types import GUID, UUID_ID, ExactString, UTCDateTime, now_utc

__all__ = ["SQLAlchemyBaseAccessTokenTable", "SQLAlchemyBaseAccessTokenTableUUID"]

ID = TypeVar("ID")


class SQLAlchemyBaseAccessTokenTable(Generic[ID]):
    """Base columns of the access-token table; the application adds ``user_id``.

    ``token`` (43 characters, a FastAPI Users token or its SHA-256 digest) is the
    primary key and compares exactly; ``created_at`` is aware UTC and indexed for
    :meth:`~SQLAlchemyAccessTokenDatabase.delete_expired`.
    """

    __tablename__ = "accesstoken"

    if TYPE_CHECKING:  # AccessTokenProtocol's attributes plain, see SQLAlchemyBaseUserTable
        token: str
        created_at: dt.datetime
        user_id: ID
    else:
        token: Mapped[str] = mapped_column(ExactString(43), primary_key=True)
        created_at: Mapped[dt.datetime] = mapped_column(
            UTCDateTime, index=True, nullable=False, default=now_utc
        )


class SQLAlchemyBaseAccessTokenTableUUID(SQLAlchemyBaseAccessTokenTable[UUID_ID]):
    """The access-token table for UUID user ids, deleted with its user."""

    if TYPE_CHECKING:  # to mypy a declared_attr is no settable attribute: it fails the bound
        user_id: UUID_ID
    else:

        @declared_attr
        def user_id(cls) -> Mapped[UUID_ID]:
            """The owner; deleting the user deletes the token."""
            return mapped_column(
                GUID, ForeignKey("user.id", ondelete="cascade"), nullable=False, index=True
            )
