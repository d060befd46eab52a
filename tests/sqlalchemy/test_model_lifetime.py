"""What userstore derives from an application's models lives as long as the models do.

An application (or a test suite) that builds models and stores again and again
must not accumulate them: nothing module-level holds its classes once it
dropped them and closed its stores.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import userstore
from userstore_sqlalchemy import (
    GUID,
    UUID_ID,
    SQLAlchemyBaseAccessTokenTableUUID,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTableUUID,
)


def _models() -> list[type[Any]]:
    class Base(DeclarativeBase):
        pass

    class OAuthAccount(SQLAlchemyBaseOAuthAccountTableUUID, Base):
        user_id: Mapped[UUID_ID] = mapped_column(GUID, ForeignKey("user.id", ondelete="cascade"))

    class User(SQLAlchemyBaseUserTableUUID, Base):
        oauth_accounts: Mapped[list[OAuthAccount]] = relationship(lazy="raise")

    class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
        pass

    return [Base, User, OAuthAccount, AccessToken]


async def test_five_stores_on_fresh_models_leave_nothing_behind(tmp_path: Any) -> None:
    refs: list[weakref.ref[type[Any]]] = []
    account = {"oauth_name": "g", "account_email": "a", "access_token": "t"}
    for n in range(5):
        classes = _models()  # held until the store is closed, as an application holds them
        refs.extend(weakref.ref(c) for c in classes)
        url = f"sqlite:///{tmp_path}/m{n}.db"
        async with userstore.connect(url, models=classes[0]) as store:
            await store.create_schema()
            async with store.session() as s:
                user = await s.users.create({"email": f"u{n}@example.com", "hashed_password": "h"})
                await s.users.add_oauth_account(user, {**account, "account_id": str(n)})
                await s.tokens.create({"token": f"t{n}", "user_id": user.id})
                assert await s.tokens.get_by_token(f"t{n}") is not None
        del classes, store, s, user
    for _ in range(3):
        gc.collect()
    assert [r() for r in refs if r() is not None] == []
