"""Applications' own models: custom columns on the user, custom table names."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from userstore import InvalidUserData, OAuthAccountAlreadyLinked, UserAlreadyExists
from userstore_sqlalchemy import (
    GUID,
    UUID_ID,
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
)

from .conftest import created

# Custom columns --------------------------------------------------------------------------


class FieldsBase(DeclarativeBase):
    pass


class FieldsOAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, FieldsBase):
    pass


class FieldsUser(SQLAlchemyBaseUserTableUUID, FieldsBase):
    first_name: Mapped[str | None] = mapped_column(String(50), nullable=True)
    login_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    oauth_accounts: Mapped[list[FieldsOAuthAccount]] = relationship(
        "FieldsOAuthAccount", lazy="joined"
    )


# Custom table names ----------------------------------------------------------------------


class NamesBase(DeclarativeBase):
    pass


class NamesOAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, NamesBase):
    __tablename__ = "app_oauth_link"

    @declared_attr
    def user_id(cls) -> Mapped[UUID_ID]:
        return mapped_column(GUID, ForeignKey("app_member.id", ondelete="cascade"), nullable=False)


class NamesUser(SQLAlchemyBaseUserTableUUID, NamesBase):
    __tablename__ = "app_member"
    oauth_accounts: Mapped[list[NamesOAuthAccount]] = relationship(
        "NamesOAuthAccount", lazy="joined"
    )


class NamesAccessToken(SQLAlchemyBaseAccessTokenTableUUID, NamesBase):
    __tablename__ = "app_session_token"

    @declared_attr
    def user_id(cls) -> Mapped[UUID_ID]:
        return mapped_column(GUID, ForeignKey("app_member.id", ondelete="cascade"), nullable=False)


ACCOUNT = {
    "oauth_name": "github",
    "account_id": "42",
    "account_email": "ada@example.com",
    "access_token": "gho_x",
}


@pytest_asyncio.fixture
async def fields_sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with created(engine, FieldsBase.metadata):
        yield async_sessionmaker(engine, expire_on_commit=False)


@pytest_asyncio.fixture
async def names_sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with created(engine, NamesBase.metadata):
        yield async_sessionmaker(engine, expire_on_commit=False)


def fields_db(session: AsyncSession) -> Any:
    return SQLAlchemyUserDatabase(session, FieldsUser, FieldsOAuthAccount)


async def row_count(session: AsyncSession, model: Any) -> int:
    return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_custom_columns_are_accepted_with_their_types(
    fields_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with fields_sessions() as session:
        users = fields_db(session)
        ada = await users.create(
            {
                "email": "ada@example.com",
                "hashed_password": "h",
                "first_name": "Ada",
                "login_count": 3,
            }
        )
        plain = await users.create({"email": "bob@example.com", "hashed_password": "h"})
        assert (ada.first_name, ada.login_count) == ("Ada", 3)
        assert (plain.first_name, plain.login_count) == (None, 0)
        ada = await users.update(ada, {"first_name": None, "login_count": 4})
        assert (ada.first_name, ada.login_count) == (None, 4)
    async with fields_sessions() as session:
        users = fields_db(session)
        found = await users.get_by_email("ADA@example.com")
        assert found is not None
        assert found.first_name is None
        assert type(found.login_count) is int
        assert found.login_count == 4
        other = await users.get(plain.id)
        assert other is not None
        assert (other.first_name, other.login_count) == (None, 0)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"login_count": "three"}, "login_count"),
        ({"login_count": 2.5}, "login_count"),
        ({"login_count": None}, "login_count"),
        ({"first_name": 5}, "first_name"),
        ({"first_name": "x" * 51}, "first_name"),
        ({"nickname": "ace"}, "nickname"),
        ({"email_key": "forged@example.com"}, "email_key"),
    ],
)
async def test_bad_custom_values_are_refused_before_any_write(
    fields_sessions: async_sessionmaker[AsyncSession], data: dict[str, Any], field: str
) -> None:
    async with fields_sessions() as session:
        users = fields_db(session)
        with pytest.raises(InvalidUserData) as create_error:
            await users.create({"email": "ada@example.com", "hashed_password": "h", **data})
        assert create_error.value.field == field
        assert await row_count(session, FieldsUser) == 0

        user = await users.create({"email": "ada@example.com", "hashed_password": "h"})
        with pytest.raises(InvalidUserData) as update_error:
            await users.update(user, data)
        assert update_error.value.field == field
    async with fields_sessions() as session:
        stored = await fields_db(session).get(user.id)
        assert stored is not None
        assert (stored.first_name, stored.login_count) == (None, 0)
        assert stored.email_key == "ada@example.com"


def test_custom_table_names_carry_through() -> None:
    tables = NamesBase.metadata.tables
    assert set(tables) == {"app_member", "app_oauth_link", "app_session_token"}
    for name in ("app_oauth_link", "app_session_token"):
        (fk,) = tables[name].foreign_keys
        assert fk.column is tables["app_member"].c.id
    (link,) = [c for c in tables["app_oauth_link"].constraints if isinstance(c, UniqueConstraint)]
    assert link.name == "uq_app_oauth_link_oauth_name_account_id"
    assert set(link.columns.keys()) == {"oauth_name", "account_id"}


async def test_custom_table_names_work_end_to_end(
    names_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with names_sessions() as session:
        users = SQLAlchemyUserDatabase(session, NamesUser, NamesOAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, NamesAccessToken)
        ada = await users.create({"email": "Ada@Example.com", "hashed_password": "h"})
        bob = await users.create({"email": "bob@example.com", "hashed_password": "h"})
        with pytest.raises(UserAlreadyExists):
            await users.create({"email": "ADA@example.COM", "hashed_password": "h"})
        await users.add_oauth_account(ada, ACCOUNT)
        with pytest.raises(OAuthAccountAlreadyLinked):
            await users.add_oauth_account(bob, ACCOUNT)
        token = await tokens.create({"token": "t" * 43, "user_id": ada.id})
        assert type(token.user_id) is uuid.UUID
        ada_id = ada.id

    async with names_sessions() as session:
        users = SQLAlchemyUserDatabase(session, NamesUser, NamesOAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, NamesAccessToken)
        linked = await users.get_by_oauth_account("github", "42")
        assert linked is not None
        assert linked.id == ada_id
        assert [a.account_id for a in linked.oauth_accounts] == ["42"]
        await users.delete(linked)
        assert await row_count(session, NamesOAuthAccount) == 0
        assert await row_count(session, NamesAccessToken) == 0
        assert await tokens.get_by_token("t" * 43) is None
        assert await row_count(session, NamesUser) == 1
