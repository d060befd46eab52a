"""A write touches the objects it concerns, however many the session holds.

Objects stay readable without I/O after commits and errors (docs/contract.md):
userstore keeps that promise by not expiring at its own commits, and by copying
the session's clean objects only when a write fails (before the rollback expires
them).  Counted here: the objects a write copies (``_snapshots.snapshot``), with
500 users loaded in the session; and no statement when every loaded user is read
afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from userstore import UserAlreadyExists
from userstore_sqlalchemy import (
    SQLAlchemyAccessTokenDatabase,
    SQLAlchemyUserDatabase,
    _runner,
    _snapshots,
)

from .tutorial import AccessToken, OAuthAccount, User

pytestmark = pytest.mark.usefixtures("tables")

LOADED = 500
ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1",
    "account_email": "a@x.io",
    "access_token": "x",
}


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many objects each snapshot the runner takes holds."""
    sizes: list[int] = []
    original = _runner.snapshot

    def counting(objects: Any) -> Any:
        taken = original(objects)
        sizes.append(len(taken))
        return taken

    monkeypatch.setattr(_runner, "snapshot", counting)
    monkeypatch.setattr(_snapshots, "snapshot", counting)
    return sizes


def _statements(engine: AsyncEngine) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen, record


@pytest.mark.parametrize("expire_on_commit", [True, False])
async def test_writes_copy_only_their_own_objects(
    engine: AsyncEngine, copied: list[int], expire_on_commit: bool
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=expire_on_commit)
    async with maker() as session:
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        for n in range(LOADED):
            session.add(User(email=f"u{n}@x.io", email_key=f"u{n}@x.io", hashed_password="h"))
        await session.commit()
    async with maker() as session:
        users = SQLAlchemyUserDatabase(session, User, OAuthAccount)
        tokens = SQLAlchemyAccessTokenDatabase(session, AccessToken)
        loaded = await users.list_users(limit=LOADED)
        assert len(loaded) == LOADED
        target = loaded[0]
        before = [user.email for user in loaded]
        copied.clear()
        await users.update(target, {"is_verified": True})
        await users.add_oauth_account(target, ACCOUNT)
        token = await tokens.create({"token": "t" * 43, "user_id": target.id})
        await tokens.update(token, {"created_at": token.created_at})
        await tokens.delete(token)
        assert copied, "no write went through the runner"
        assert max(copied) <= 2, copied  # the user and its one account

        seen, record = _statements(engine)
        try:
            emails = [user.email for user in loaded]  # readable without I/O
            verified = target.is_verified
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        assert seen == []
        assert emails == before
        assert verified is True

        # a refused write copies the session's clean objects once, to survive the rollback
        copied.clear()
        with pytest.raises(UserAlreadyExists):
            await users.update(loaded[2], {"email": loaded[3].email})
        from sqlalchemy import inspect as _i

        print(
            "EXPIRED",
            [
                (n, sorted(_i(u).expired_attributes))
                for n, u in enumerate(loaded)
                if _i(u).expired_attributes
            ][:5],
            copied,
        )
        assert len(copied) == 2, copied  # the user on entry; the session at the failure
        assert copied[1] >= LOADED - 1, copied
        seen, record = _statements(engine)
        try:
            emails = [user.email for user in loaded]
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
        assert seen == []
        assert emails == before  # loaded[2]'s included: its value before the refused call
        assert loaded[0].is_verified is True
