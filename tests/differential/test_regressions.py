"""Divergences the differential test found, kept as explicit step sequences.

Each test replays the shrunk steps hypothesis printed on the memory reference
and on each backend (UUID ids unless the finding needed others), requiring the
same outcomes and state after every step, as ``test_differential.py`` does.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio

from .ops import Account, Op, User
from .pair import Pair, real_store


@pytest_asyncio.fixture
async def pair(db_url: str) -> AsyncIterator[Pair]:
    """The memory reference beside a store on scratch tables of the backend (UUID ids)."""
    store = real_store(
        db_url, id_type="uuid", token_digest=False, prefix=f"reg_{secrets.token_hex(3)}_"
    )
    await store.create_schema()
    pair = Pair(store)
    await pair.start()
    try:
        yield pair
    finally:
        await pair.close_sessions()
        await store.drop_schema()
        await store.close()


async def replay(pair: Pair, steps: list[Op]) -> None:
    """Apply each step on both stores and compare the stored state after each."""
    for step in steps:
        await pair.apply(step)
        await pair.check_state()


ALICE = {"email": "alice@x.io", "hashed_password": "$argon2id$hash"}


def link(account_id: str, **extra: object) -> dict[str, object]:
    """An OAuth-account create dict for ('google', account_id)."""
    return {
        "oauth_name": "google",
        "account_id": account_id,
        "account_email": "a@x.io",
        "access_token": "ya29.token",
        **extra,
    }


async def test_accounts_stay_readable_after_a_refused_create(pair: Pair) -> None:
    """A refused create rolled back the session; a held user's account then loaded lazily."""
    await replay(
        pair,
        [
            Op("users.create", (ALICE,)),
            Op("users.add_oauth_account", (User(0), link("1 "))),
            Op("users.create", (ALICE,)),
            Op("users.add_oauth_account", (User(0), link("1"))),
        ],
    )


async def test_accounts_keep_link_order_whatever_id_is_asked_for(pair: Pair) -> None:
    """A caller-chosen account id sorted before earlier links (order came from the ids).

    OAuth-account ids are picked by the store on every id type now; naming one
    is refused, as for integer ids.
    """
    early = "01890000-0000-7000-8000-000000000000"
    await replay(
        pair,
        [
            Op("users.create", (ALICE,)),
            Op("users.add_oauth_account", (User(0), link("1"))),
            Op("users.add_oauth_account", (User(0), link("2", id=uuid.UUID(early)))),
            Op("users.add_oauth_account", (User(0), link("3"))),
            Op("users.update_oauth_account", (User(0), Account(0, 0), {"id": uuid.UUID(early)})),
        ],
    )
    stored = (await pair.sides[1].session.users.get_by_email("alice@x.io")).oauth_accounts  # type: ignore[union-attr]
    assert [a.account_id for a in stored] == ["1", "3"]
