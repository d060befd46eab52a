"""Divergences the differential test found, kept as explicit step sequences.

Each test replays the shrunk steps hypothesis printed on the memory reference
and on each backend (UUID ids unless the finding needed others), requiring the
same outcomes and state after every step, as ``test_differential.py`` does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .ops import Account, Op, User, UserId
from .pair import Pair, real_store


@pytest.fixture
def id_type() -> str:
    """The id type of the stores; a test parametrizes it when the finding needed others."""
    return "uuid"


@pytest_asyncio.fixture
async def pair(db_url: str, id_type: str) -> AsyncIterator[Pair]:
    """The memory reference beside a store on scratch tables of the backend."""
    store = real_store(
        db_url, id_type=id_type, token_digest=False, prefix=f"reg_{secrets.token_hex(3)}_"
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


@dataclasses.dataclass(frozen=True)
class Block:
    """Steps run in one transaction block, committed at its end or rolled back."""

    ops: list[Op]
    rollback: bool = False


async def replay(pair: Pair, steps: list[Op | Block]) -> None:
    """Apply each step (or block) on both stores and compare the stored state after each."""
    for step in steps:
        if isinstance(step, Block):
            await pair.transaction(step.ops, step.rollback)
        else:
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


@pytest.mark.parametrize(
    "removal",
    [
        Op("tokens.delete_for_user", (UserId(0),)),
        Op("tokens.delete_expired", (dt.datetime(2030, 1, 1, tzinfo=dt.UTC),)),
        Op("users.delete", (User(0),)),
    ],
    ids=["delete_for_user", "delete_expired", "user_deleted"],
)
async def test_a_token_deleted_in_bulk_can_be_created_again(pair: Pair, removal: Op) -> None:
    """The session still held the token object after a bulk DELETE; creating it again was refused.

    (AccessTokenAlreadyExists from the held-object check, though the row was gone.)
    """
    token = {
        "token": "tok",
        "user_id": UserId(0),
        "created_at": dt.datetime(2021, 6, 15, tzinfo=dt.UTC),
    }
    await replay(
        pair,
        [
            Op("users.create", (ALICE,)),
            Op("tokens.create", (token,)),
            removal,
            Op("users.create", ({**ALICE, "email": "bob@x.io"},)),
            Op("tokens.create", (token,)),
        ],
    )


@pytest.mark.parametrize("id_type", ["uuid", "int"])
async def test_unlinking_from_a_user_whose_create_was_rolled_back(pair: Pair) -> None:
    """The held user of a rolled-back create: the SQL store raised UserNotFound, not a no-op.

    (The memory reference, and the SQL store for a user deleted since, return
    the user unchanged: the account is not linked to it.)
    """
    await replay(
        pair,
        [
            Op("users.create", (ALICE,)),
            Op("users.create", (ALICE,)),
            Op("users.add_oauth_account", (User(0), link("1"))),
            Block(
                [
                    Op("users.delete", (User(0),)),
                    Op("users.add_oauth_account", (User(0), link("1"))),
                ]
            ),
            Block(
                [
                    Op(
                        "users.create",
                        (
                            {
                                **ALICE,
                                "is_active": True,
                                "id": 1,
                                "is_superuser": True,
                                "is_verified": True,
                            },
                        ),
                    )
                ]
            ),
            Block([Op("users.create", (ALICE,))], rollback=True),
            Block([Op("users.get_by_email", ("alice@x.io",))]),
            Block(
                [
                    Op("users.create", (ALICE,)),
                    Op("users.get_by_email", ("alice@x.io",)),
                    Op("users.add_oauth_account", (User(0), link("1"))),
                    Op("users.remove_oauth_account", (User(1), Account(0, 0))),
                ]
            ),
        ],
    )


@pytest.mark.parametrize("id_type", ["uuid", "int"])
async def test_unlinking_from_a_user_never_stored(pair: Pair) -> None:
    """The same finding in four steps: unlink another user's account from a rolled-back one."""
    await replay(
        pair,
        [
            Op("users.create", (ALICE,)),
            Op("users.add_oauth_account", (User(0), link("1"))),
            Block([Op("users.create", ({**ALICE, "email": "bob@x.io"},))], rollback=True),
            Op("users.remove_oauth_account", (User(1), Account(0, 0))),
        ],
    )
