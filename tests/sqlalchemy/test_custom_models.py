"""Applications' own models: custom columns on the user, custom table names."""

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from userstore import InvalidUserData, OAuthAccountAlreadyLinked, UserAlreadyExists
from userstore_sqlalchemy import (
    GUID,
    UUID_ID,
    ExactString,
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyBaseAccessTokenTableUUID,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyUserDatabase,
    UTCDateTime,
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


# Custom columns of userstore's types, datetimes, JSON and opaque types ---------------------


class Tagged(TypeDecorator[Any]):
    """An application's type that does not say which Python type it holds (text inside)."""

    impl = String(20)
    cache_ok = True


class TypedBase(DeclarativeBase):
    pass


class TypedUser(SQLAlchemyBaseUserTableUUID, TypedBase):
    __tablename__ = "typed_user"
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    joined: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    handle: Mapped[str | None] = mapped_column(ExactString(20), nullable=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(GUID, nullable=True)
    # jsonb on PostgreSQL, which cannot store \u0000 (json and the other backends can)
    prefs: Mapped[Any] = mapped_column(
        JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
    )
    tag: Mapped[Any] = mapped_column(Tagged, nullable=True)


@pytest_asyncio.fixture
async def typed_sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with created(engine, TypedBase.metadata):
        yield async_sessionmaker(engine, expire_on_commit=False)


def test_userstore_types_say_which_python_type_they_hold() -> None:
    assert UTCDateTime().python_type is dt.datetime
    assert GUID().python_type is uuid.UUID
    assert ExactString(20).python_type is str


NAIVE = dt.datetime(2030, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"last_seen": NAIVE}, "last_seen", "naive datetime refused"),
        ({"joined": NAIVE}, "joined", "naive datetime refused"),
        ({"last_seen": "2030-01-02"}, "last_seen", "expected datetime"),
        ({"handle": "x" * 21}, "handle", "longer than 20 characters"),
        ({"handle": "a\x00b"}, "handle", "NUL"),
        ({"team_id": 7}, "team_id", "expected UUID"),
        ({"prefs": {"nick": "a\x00b"}}, "prefs", "NUL"),
        ({"prefs": {"a\x00": 1}}, "prefs", "NUL"),
        ({"prefs": ["ok", ["deep", "\x00"]]}, "prefs", "NUL"),
        ({"prefs": {"bad": "\ud800"}}, "prefs", "surrogate"),
        ({"prefs": {"ratio": float("nan")}}, "prefs", "finite"),
        ({"tag": "a\x00b"}, "tag", "NUL"),
        ({"tag": "x" * 21}, "tag", "longer than 20 characters"),
    ],
)
async def test_custom_columns_are_checked_like_built_in_ones(
    typed_sessions: async_sessionmaker[AsyncSession], data: dict[str, Any], field: str, reason: str
) -> None:
    async with typed_sessions() as session:
        users = SQLAlchemyUserDatabase(session, TypedUser)
        with pytest.raises(InvalidUserData) as create_error:
            await users.create({"email": "ada@example.com", "hashed_password": "h", **data})
        assert create_error.value.field == field
        assert reason in create_error.value.reason
        assert await row_count(session, TypedUser) == 0

        user = await users.create({"email": "ada@example.com", "hashed_password": "h"})
        with pytest.raises(InvalidUserData) as update_error:
            await users.update(user, data)
        assert update_error.value.field == field
        assert reason in update_error.value.reason
    async with typed_sessions() as session:
        stored = await SQLAlchemyUserDatabase(session, TypedUser).get(user.id)
        assert stored is not None
        assert stored.last_seen is None
        assert stored.prefs is None
        assert stored.tag is None


async def test_good_values_of_custom_columns_round_trip(
    typed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    seen = dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    team = uuid.uuid4()
    prefs = {"nick": "Ada", "langs": ["en", "fr"], "n": 3, "ratio": 0.5, "on": True, "x": None}
    async with typed_sessions() as session:
        users = SQLAlchemyUserDatabase(session, TypedUser)
        user = await users.create(
            {
                "email": "ada@example.com",
                "hashed_password": "h",
                "last_seen": seen,
                "handle": "Ada ",
                "team_id": team,
                "prefs": prefs,
                "tag": "vip",
            }
        )
    async with typed_sessions() as session:
        stored = await SQLAlchemyUserDatabase(session, TypedUser).get(user.id)
        assert stored is not None
        assert stored.last_seen == seen
        assert stored.last_seen.utcoffset() == dt.timedelta(0)
        assert (stored.handle, stored.team_id, stored.prefs, stored.tag) == (
            "Ada ",
            team,
            prefs,
            "vip",
        )
