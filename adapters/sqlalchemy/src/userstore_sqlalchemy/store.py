"""``connect(url)`` stores on default models, for frameworks that bring no models of their own."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Integer, MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, mapped_column, relationship

from userstore import IdType, Store, StoreSession

from ._unit import clean_objects, restore, snapshot
from .access_token import SQLAlchemyAccessTokenDatabase, SQLAlchemyBaseAccessTokenTable
from .engine import create_engine
from .models import (
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTable,
    SQLAlchemyBaseUserTableUUID,
)
from .types import GUID
from .users import SQLAlchemyUserDatabase

__all__ = [
    "DefaultModels",
    "SQLAlchemyAdapter",
    "SQLAlchemyStore",
    "SQLAlchemyStoreSession",
    "build_models",
]


@dataclasses.dataclass(frozen=True)
class DefaultModels:
    """The three mapped classes of a store, and their metadata."""

    metadata: MetaData
    user: type[Any]
    oauth_account: type[Any]
    access_token: type[Any]


def build_models(*, table_prefix: str = "", id_type: IdType = "uuid") -> DefaultModels:
    """Declare the user, OAuth-account and access-token models on a fresh metadata.

    Tables are named ``{table_prefix}user``, ``{table_prefix}oauth_account`` and
    ``{table_prefix}accesstoken``; ids are UUIDs or autoincrement integers.
    """
    if id_type not in ("uuid", "int"):
        raise ValueError(f"id_type must be 'uuid' or 'int', not {id_type!r}")

    class Base(DeclarativeBase):
        pass

    user_name = f"{table_prefix}user"
    id_column_type: Any = GUID if id_type == "uuid" else Integer
    account_base: Any = (
        SQLAlchemyBaseOAuthAccountTableUUID
        if id_type == "uuid"
        else SQLAlchemyBaseOAuthAccountTable
    )
    user_base: Any = SQLAlchemyBaseUserTableUUID if id_type == "uuid" else SQLAlchemyBaseUserTable

    def owner() -> Any:
        return mapped_column(
            id_column_type,
            ForeignKey(f"{user_name}.id", ondelete="cascade"),
            nullable=False,
            index=True,
        )

    account_attrs: dict[str, Any] = {
        "__tablename__": f"{table_prefix}oauth_account",
        "user_id": owner(),
    }
    user_attrs: dict[str, Any] = {"__tablename__": user_name}
    if id_type == "int":
        account_attrs["id"] = mapped_column(Integer, primary_key=True, autoincrement=True)
        user_attrs["id"] = mapped_column(Integer, primary_key=True, autoincrement=True)
    oauth_account = type("OAuthAccount", (account_base, Base), account_attrs)
    user_attrs["oauth_accounts"] = relationship(oauth_account, lazy="raise", passive_deletes=True)
    user = type("User", (user_base, Base), user_attrs)
    access_token = type(
        "AccessToken",
        (SQLAlchemyBaseAccessTokenTable, Base),
        {"__tablename__": f"{table_prefix}accesstoken", "user_id": owner()},
    )
    return DefaultModels(Base.metadata, user, oauth_account, access_token)


class SQLAlchemyStoreSession(StoreSession):
    """A store session: one ``AsyncSession`` shared by ``users`` and ``tokens``."""

    def __init__(self, session: AsyncSession, models: DefaultModels, *, token_digest: bool) -> None:
        self.session = session
        self.users: SQLAlchemyUserDatabase[Any, Any] = SQLAlchemyUserDatabase(
            session, models.user, models.oauth_account
        )
        self.tokens: SQLAlchemyAccessTokenDatabase[Any] = SQLAlchemyAccessTokenDatabase(
            session, models.access_token, token_digest=token_digest
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Open a transaction on the session (ending the one lookups began, if any)."""
        if self.session.in_transaction():
            await self.session.commit()
        held = snapshot(clean_objects(self.session))
        try:
            async with self.session.begin():
                yield
        except BaseException:
            restore(held)  # the rollback expired them; they hold the committed values again
            raise


class SQLAlchemyStore(Store):
    """A store on the default models over one ``AsyncEngine``."""

    def __init__(
        self,
        url: str,
        *,
        id_type: IdType = "uuid",
        token_digest: bool = False,
        table_prefix: str = "",
        engine: AsyncEngine | None = None,
        **engine_options: Any,
    ) -> None:
        self.url = url
        self.id_type = id_type
        self.token_digest = token_digest
        self.models = build_models(table_prefix=table_prefix, id_type=id_type)
        self.engine = engine if engine is not None else create_engine(url, **engine_options)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SQLAlchemyStoreSession]:
        """Open a session; it is closed (any open transaction rolled back) on exit."""
        async with self.sessionmaker() as session:
            yield SQLAlchemyStoreSession(session, self.models, token_digest=self.token_digest)

    async def create_schema(self) -> None:
        """Create the tables and indexes that do not exist yet."""
        async with self.engine.begin() as connection:
            await connection.run_sync(self.models.metadata.create_all)

    async def drop_schema(self) -> None:
        """Drop the store's tables."""
        async with self.engine.begin() as connection:
            await connection.run_sync(self.models.metadata.drop_all)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


class SQLAlchemyAdapter:
    """The entry point of ``sqlite``, ``postgresql``, ``mysql`` and ``mariadb`` URLs."""

    schemes: ClassVar[tuple[str, ...]] = ("sqlite", "postgresql", "mysql", "mariadb")

    @classmethod
    def connect(cls, url: str, **options: Any) -> SQLAlchemyStore:
        """Return a :class:`SQLAlchemyStore`; options are its constructor's."""
        return SQLAlchemyStore(url, **options)

    @classmethod
    def harness(cls, url: str) -> Any:
        """The conformance-suite harness: scratch tables in the database at ``url``."""
        from .testing import SQLAlchemyHarness

        return SQLAlchemyHarness(url)
