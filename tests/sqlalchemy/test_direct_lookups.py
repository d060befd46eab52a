"""A ``connect()`` store's user lookups sent through the driver load what the ORM loads.

Outside a transaction block, ``get``, ``get_by_email`` and ``get_by_oauth_account``
run below SQLAlchemy's ORM and Core (``userstore_sqlalchemy._direct``); inside a
block they run through the ORM.  Both ways must give the same objects, in the
same state, on every backend and driver; and the direct way must step aside
wherever it would be seen to differ (the application's statement listeners, SQL
logging, models that map more than columns).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, event, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

import userstore
from userstore_sqlalchemy import (
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
    SQLAlchemyStore,
    _direct,
)
from userstore_sqlalchemy.dialects import shim_for

from ..conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url

ACCOUNTS = [
    {
        "oauth_name": "github",
        "account_id": "1001",
        "account_email": "ann@example.com",
        "access_token": "gho_x",
        "expires_at": 1_900_000_000,
        "refresh_token": "r1",
    },
    {
        "oauth_name": "google",
        "account_id": "g-7",
        "account_email": "ann@example.com",
        "access_token": "ya29",
    },
]


@pytest.fixture(params=[*BACKEND_PARAMS, *DRIVER_PARAMS])
def any_url(request: pytest.FixtureRequest, backend_registry: Any) -> str:
    return backend_url(backend_registry, request.param)


@pytest_asyncio.fixture
async def store(any_url: str) -> AsyncIterator[SQLAlchemyStore]:
    store = userstore.connect(any_url, table_prefix=f"dl{uuid.uuid4().hex[:8]}_")
    assert isinstance(store, SQLAlchemyStore)
    await store.create_schema()
    async with store.session() as s:  # the first call checks the tables, through the ORM
        await s.users.get(uuid.uuid4())
    try:
        yield store
    finally:
        await store.drop_schema()
        await store.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL of every lookup sent through the driver (set up after ``store``).

    None may have needed SQLAlchemy's way after the driver's call failed.
    """
    seen: list[str] = []
    again: list[str] = []
    load = _direct.DirectLookups._load
    execute = Connection.exec_driver_sql

    def counted(self: Any, session: Any, plan: Any, rows: Any) -> Any:
        seen.append(plan.sql)
        return load(self, session, plan, rows)

    def sent_again(self: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
        again.append(statement)
        return execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(_direct.DirectLookups, "_load", counted)
    monkeypatch.setattr(Connection, "exec_driver_sql", sent_again)
    yield seen
    assert not set(again) & set(seen), "a driver call failed"


def _loaded(obj: Any) -> dict[str, Any]:
    """What a loaded object holds and how: values with their types, and its ORM state."""
    state = inspect(obj)
    values = {
        attr.key: (type(state.dict[attr.key]), state.dict[attr.key])
        for attr in state.mapper.column_attrs
    }
    return {
        "values": values,
        "persistent": state.persistent,
        "modified": state.modified,
        "expired": set(state.expired_attributes),
        "unloaded": set(state.unloaded),
    }


def _described(user: Any) -> dict[str, Any]:
    return {"user": _loaded(user), "accounts": [_loaded(a) for a in user.oauth_accounts]}


async def test_a_lookup_loads_what_the_orm_loads(store: SQLAlchemyStore, sent: list[str]) -> None:
    async with store.session() as s:
        user = await s.users.create({"email": "Ann@Example.com", "hashed_password": "h"})
        for account in ACCOUNTS:
            user = await s.users.add_oauth_account(user, account)
        user = await s.users.update(user, {"is_verified": True})
        token = await s.tokens.create({"token": "t" * 43, "user_id": user.id})
    lookups = {
        "get": lambda s: s.users.get(user.id),
        "get_by_email": lambda s: s.users.get_by_email("ANN@example.com"),
        "get_by_oauth_account": lambda s: s.users.get_by_oauth_account("google", "g-7"),
        "get_by_token": lambda s: s.tokens.get_by_token("t" * 43),
        "get_by_token since": lambda s: s.tokens.get_by_token("t" * 43, token.created_at),
    }
    for name, lookup in lookups.items():
        async with store.session() as s:
            found = await lookup(s)
            assert found is not None
            direct = found if name.startswith("get_by_email") else await s.users.get(user.id)
            direct_state = _described(direct), _loaded(found)
            direct_keys = set(s.session.sync_session.identity_map.keys())
            # where the shim reads in autocommit (PostgreSQL) the lookup runs alone;
            # elsewhere in the session's transaction, as the ORM's lookup
            alone = shim_for(store.engine.dialect).alone_in_autocommit
            assert s.session.in_transaction() is not alone
        async with store.session() as s, s.transaction():  # inside a block: the ORM's way
            loaded = await lookup(s)
            assert loaded is not None
            held = loaded if name.startswith("get_by_email") else await s.users.get(user.id)
            assert (_described(held), _loaded(loaded)) == direct_state, name
            assert set(s.session.sync_session.identity_map.keys()) == direct_keys
    assert len(sent) >= len(lookups)
    tokens = store.models.access_token.__table__.name  # type: ignore[union-attr]
    assert sum(f"FROM {tokens}" in sql.replace('"', "").replace("`", "") for sql in sent) == 2
    assert [a.oauth_name for a in direct.oauth_accounts] == ["github", "google"]
    assert direct.email == "Ann@Example.com"
    assert direct.is_verified is True


async def test_a_lookup_of_an_unknown_user_returns_none(
    store: SQLAlchemyStore, sent: list[str]
) -> None:
    async with store.session() as s:
        assert await s.users.get(uuid.uuid4()) is None
        assert await s.users.get_by_email("nobody@example.com") is None
        assert await s.users.get_by_oauth_account("github", "nobody") is None
        assert len(s.session.sync_session.identity_map) == 0
    assert len(sent) == 3


async def test_a_lookup_refreshes_the_objects_the_session_holds(
    store: SQLAlchemyStore, sent: list[str]
) -> None:
    async with store.session() as s:
        user = await s.users.create({"email": "bo@example.com", "hashed_password": "h"})
        user = await s.users.add_oauth_account(user, ACCOUNTS[0])
    async with store.session() as s:
        held = await s.users.get(user.id)
        assert held is not None
        (account,) = held.oauth_accounts
        async with store.session() as other:  # changed behind this session's back
            changed = await other.users.get(user.id)
            assert changed is not None
            changed = await other.users.update(changed, {"hashed_password": "new"})
            changed = await other.users.add_oauth_account(changed, ACCOUNTS[1])
            await other.users.update_oauth_account(
                changed, changed.oauth_accounts[0], {"access_token": "gho_y"}
            )
        again = await s.users.get_by_email("bo@example.com")
        assert again is held
        assert held.hashed_password == "new"
        assert [a.oauth_name for a in held.oauth_accounts] == ["github", "google"]
        assert held.oauth_accounts[0] is account
        assert account.access_token == "gho_y"
        assert all(a in s.session.sync_session for a in held.oauth_accounts)
        assert not inspect(held).modified
        # the objects it loaded take part in a write as any loaded object
        held = await s.users.update(held, {"is_superuser": True})
        await s.users.remove_oauth_account(held, held.oauth_accounts[1])
    async with store.session() as s:
        found = await s.users.get(user.id)
        assert found is not None
        assert found.is_superuser is True
        assert [a.oauth_name for a in found.oauth_accounts] == ["github"]
    assert len(sent) == 4


async def test_the_applications_statement_listeners_see_every_lookup(
    store: SQLAlchemyStore, sent: list[str]
) -> None:
    async with store.session() as s:
        user = await s.users.create({"email": "cy@example.com", "hashed_password": "h"})
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with store.session() as s:
            assert await s.users.get(user.id) is not None
        assert any(s.lstrip().upper().startswith("SELECT") for s in statements), statements
        assert sent == []
    finally:
        event.remove(engine, "before_cursor_execute", record)
    async with store.session() as s:
        assert await s.users.get(user.id) is not None
    assert len(sent) == 1


async def test_a_logging_engine_logs_every_lookup(
    any_url: str, sent: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    store = userstore.connect(any_url, table_prefix=f"dl{uuid.uuid4().hex[:8]}_", echo=True)
    await store.create_schema()
    try:
        async with store.session() as s:
            user = await s.users.create({"email": "di@example.com", "hashed_password": "h"})
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            caplog.clear()
            async with store.session() as s:
                assert await s.users.get(user.id) is not None
        logged = [r.getMessage() for r in caplog.records]
        assert any(m.lstrip().upper().startswith("SELECT") for m in logged), logged
        assert sent == []
    finally:
        await store.drop_schema()
        await store.close()


class _Base(DeclarativeBase):
    pass


class _Account(SQLAlchemyBaseOAuthAccountTableUUID, _Base):
    __tablename__ = "dl_column_property_account"
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dl_column_property_user.id", ondelete="cascade")
    )


class _User(SQLAlchemyBaseUserTableUUID, _Base):
    __tablename__ = "dl_column_property_user"
    oauth_accounts: Mapped[list[_Account]] = relationship(lazy="joined")
    first_seen: Mapped[dt.datetime | None] = mapped_column(default=None)


# a SQL expression loaded with every user: only the ORM computes it
_User.account_count = column_property(  # type: ignore[attr-defined]
    select(func.count(_Account.id))
    .where(_Account.user_id == _User.id)
    .correlate_except(_Account)
    .scalar_subquery()
)


async def test_models_that_map_more_than_columns_load_through_the_orm(
    any_url: str, sent: list[str]
) -> None:
    store = userstore.connect(any_url, models=_Base)
    await store.drop_schema()
    await store.create_schema()
    try:
        async with store.session() as s:
            user = await s.users.create({"email": "ed@example.com", "hashed_password": "h"})
            await s.users.add_oauth_account(user, ACCOUNTS[0])
        async with store.session() as s:
            found = await s.users.get_by_email("ed@example.com")
            assert found is not None
            assert found.account_count == 1  # type: ignore[attr-defined]
            assert found.first_seen is None
        assert sent == []
    finally:
        await store.drop_schema()
        await store.close()


def test_only_columns_read_the_same_without_type_codes_are_loaded_directly() -> None:
    """A Numeric, JSON or Enum column (or a type built on one) has its rows loaded by the ORM."""
    from sqlalchemy import JSON, Boolean, DateTime, Integer, Numeric, String, TypeDecorator, Uuid
    from sqlalchemy import Enum as SAEnum

    class Money(TypeDecorator[Any]):
        impl = Numeric(10, 2)
        cache_ok = True

    class Label(TypeDecorator[Any]):
        impl = String(20)
        cache_ok = True

    simple = [String(10), Integer(), Boolean(), DateTime(timezone=True), Uuid(), Label()]
    other = [Numeric(10, 2), JSON(), SAEnum("a", "b"), Money()]
    assert [_direct._simple(t) for t in simple] == [True] * len(simple)
    assert [_direct._simple(t) for t in other] == [False] * len(other)
