"""Table mixins with fastapi-users-db-sqlalchemy's names, made to behave alike everywhere.

The access-token mixins are importable from ``access_token`` too, as in
fastapi-users-db-sqlalchemy.

Compared with fastapi-users-db-sqlalchemy 7, the columns a lookup compares use
:class:`~userstore_sqlalchemy.types.ExactString`; the user table gains
``email_key`` (``email_key(email)``, unique-indexed, kept in sync on every flush);
OAuth accounts gain a unique constraint on ``(oauth_name, account_id)``, unbounded
provider tokens, and time-ordered ids (their link order).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, Table, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Mapper, declared_attr, mapped_column

from userstore import email_key
from userstore.rules import EMAIL_KEY_MAX_LENGTH

from .types import GUID, UUID_ID, ExactString, UTCDateTime, now_utc, uuid7

__all__ = [
    "ID",
    "SQLAlchemyBaseAccessTokenTable",
    "SQLAlchemyBaseAccessTokenTableUUID",
    "SQLAlchemyBaseOAuthAccountTable",
    "SQLAlchemyBaseOAuthAccountTableUUID",
    "SQLAlchemyBaseUserTable",
    "SQLAlchemyBaseUserTableUUID",
]

ID = TypeVar("ID")


class SQLAlchemyBaseUserTable(Generic[ID]):
    """Base columns of the user table; the application adds ``id`` (or uses the UUID variant).

    ``email`` is stored as given; ``email_key`` holds :func:`userstore.email_key` of
    it, is unique-indexed, and is recomputed on every flush that changes ``email``,
    whether the change came through the adapter or straight on the model.
    """

    __tablename__ = "user"

    if TYPE_CHECKING:
        # FastAPI Users bounds its model parameter by UserProtocol's plain attributes, and
        # mypy checks a bound written as a type argument (``BaseUserManager[User, ...]``)
        # without applying descriptors: a ``Mapped[str]`` column fails it where ``str``
        # passes.  So mypy sees these attributes plain; SQLAlchemy sees the columns.
        # (``id`` may stay a column: the bound's ``id`` is ``Any``.)
        id: ID
        email: str
        email_key: Mapped[str]
        hashed_password: str
        is_active: bool
        is_superuser: bool
        is_verified: bool
    else:
        email: Mapped[str] = mapped_column(ExactString(320), nullable=False)
        email_key: Mapped[str] = mapped_column(
            ExactString(EMAIL_KEY_MAX_LENGTH), unique=True, index=True, nullable=False
        )
        hashed_password: Mapped[str] = mapped_column(ExactString(1024), nullable=False)
        is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
        is_superuser: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
        is_verified: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)


class SQLAlchemyBaseUserTableUUID(SQLAlchemyBaseUserTable[UUID_ID]):
    """The user table with a client-generated UUID primary key."""

    id: Mapped[UUID_ID] = mapped_column(GUID, primary_key=True, default=uuid.uuid4)


class SQLAlchemyBaseOAuthAccountTable(Generic[ID]):
    """Base columns of the OAuth-account table; the application adds ``id`` and ``user_id``.

    ``(oauth_name, account_id)`` is unique across all users (the constraint is
    added to the mapped table) and compared exactly.
    """

    __tablename__ = "oauth_account"

    if TYPE_CHECKING:
        id: ID
        user_id: ID

    oauth_name: Mapped[str] = mapped_column(ExactString(100), nullable=False)
    access_token: Mapped[str] = mapped_column(ExactString(), nullable=False)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refresh_token: Mapped[str | None] = mapped_column(ExactString(), nullable=True)
    account_id: Mapped[str] = mapped_column(ExactString(320), nullable=False)
    account_email: Mapped[str] = mapped_column(ExactString(320), nullable=False)


class SQLAlchemyBaseOAuthAccountTableUUID(SQLAlchemyBaseOAuthAccountTable[UUID_ID]):
    """The OAuth-account table with time-ordered UUID ids and a cascading ``user_id``."""

    id: Mapped[UUID_ID] = mapped_column(GUID, primary_key=True, default=uuid7)

    @declared_attr
    def user_id(cls) -> Mapped[UUID_ID]:
        """The owner; deleting the user deletes the account."""
        return mapped_column(
            GUID, ForeignKey("user.id", ondelete="cascade"), nullable=False, index=True
        )


def oauth_unique_name(table_name: str) -> str:
    """The name of the ``(oauth_name, account_id)`` unique constraint of a table."""
    return f"uq_{table_name}_oauth_name_account_id"


@event.listens_for(SQLAlchemyBaseOAuthAccountTable, "instrument_class", propagate=True)
def _add_link_constraint(mapper: Mapper[Any], cls: type[Any]) -> None:
    table = mapper.local_table
    columns = {"oauth_name", "account_id"}
    for constraint in getattr(table, "constraints", ()):
        if isinstance(constraint, UniqueConstraint) and set(constraint.columns.keys()) == columns:
            return
    if "oauth_name" in table.c and "account_id" in table.c:
        table.append_constraint(  # type: ignore[attr-defined]
            UniqueConstraint(
                "oauth_name",
                "account_id",
                name=oauth_unique_name(table.name),  # type: ignore[attr-defined]
            )
        )


@event.listens_for(SQLAlchemyBaseUserTable, "instrument_class", propagate=True)
@event.listens_for(SQLAlchemyBaseOAuthAccountTable, "instrument_class", propagate=True)
def _never_reuse_ids(mapper: Mapper[Any], cls: type[Any]) -> None:
    # SQLite hands a deleted maximum rowid out again unless the table says
    # AUTOINCREMENT; a new user must never inherit a deleted user's id (a token
    # or JWT naming it would log them in).  Other dialects ignore the option.
    table: Any = mapper.local_table
    if isinstance(table, Table) and len(table.primary_key.columns) == 1:
        (column,) = table.primary_key.columns
        if isinstance(column.type, Integer):
            table.dialect_kwargs["sqlite_autoincrement"] = True


def _sync_email_key(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    email = target.email
    if isinstance(email, str):
        target.email_key = email_key(email)


OWN_USER_EVENTS = ("before_insert", "before_update")
"""The mapper events every user model listens to through ``SQLAlchemyBaseUserTable``."""

for _name in OWN_USER_EVENTS:
    event.listen(SQLAlchemyBaseUserTable, _name, _sync_email_key, propagate=True)


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
