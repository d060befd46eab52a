"""What the in-memory adapter does beyond the conformance suite."""

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from userstore import InvalidURL, InvalidUserData, StoreUnavailable, connect
from userstore.memory import MemoryStore, MemoryUser
from userstore.rules import FieldRule

USER = {"email": "alice@example.com", "hashed_password": "hash"}
ACCOUNT = {
    "oauth_name": "github",
    "account_id": "1001",
    "account_email": "alice@github.example",
    "access_token": "gho_1",
}
TOKEN = "t" * 43


def memory(**options: Any) -> MemoryStore:
    store = connect("memory://", **options)
    assert isinstance(store, MemoryStore)
    return store


# Returned objects are copies -------------------------------------------------------------


async def test_mutating_a_returned_user_changes_nothing_stored() -> None:
    store = memory()
    async with store.session() as s:
        user = await s.users.add_oauth_account(await s.users.create(USER), ACCOUNT)
        user.email = "mallory@example.com"
        user.is_superuser = True
        user.oauth_accounts[0].access_token = "stolen"
        user.oauth_accounts.append(user.oauth_accounts[0])
        found = await s.users.get(user.id)
        assert found is not None
        assert found is not user
        assert (found.email, found.is_superuser) == ("alice@example.com", False)
        assert [a.access_token for a in found.oauth_accounts] == ["gho_1"]
        assert await s.users.get_by_email("mallory@example.com") is None


async def test_two_lookups_return_distinct_objects() -> None:
    store = memory()
    async with store.session() as s:
        user = await s.users.add_oauth_account(await s.users.create(USER), ACCOUNT)
        first = await s.users.get(user.id)
        second = await s.users.get_by_oauth_account("github", "1001")
    assert first is not None
    assert second is not None
    assert first == second
    assert first is not second
    assert first.oauth_accounts[0] is not second.oauth_accounts[0]


async def test_mutating_the_input_dict_changes_nothing_stored() -> None:
    store = memory()
    data = dict(USER)
    account = dict(ACCOUNT)
    async with store.session() as s:
        user = await s.users.create(data)
        await s.users.add_oauth_account(user, account)
        data["email"] = "changed@example.com"
        account["access_token"] = "changed"
        found = await s.users.get(user.id)
    assert found is not None
    assert found.email == "alice@example.com"
    assert found.oauth_accounts[0].access_token == "gho_1"


async def test_mutating_a_returned_token_changes_nothing_stored() -> None:
    store = memory()
    async with store.session() as s:
        user = await s.users.create(USER)
        token = await s.tokens.create({"token": TOKEN, "user_id": user.id})
        created = token.created_at
        token.created_at = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        token.user_id = None
        found = await s.tokens.get_by_token(TOKEN)
    assert found is not None
    assert (found.created_at, found.user_id) == (created, user.id)


async def test_mutable_custom_values_are_copied_both_ways() -> None:
    store = memory(extra_user_fields=[FieldRule("prefs", (dict[str, Any],), nullable=True)])
    prefs: dict[str, Any] = {"theme": "dark", "langs": ["en"]}
    async with store.session() as s:
        user = await s.users.create({**USER, "prefs": prefs})
        prefs["langs"].append("fr")  # the caller's dict
        user.prefs["theme"] = "light"  # type: ignore[attr-defined]  # the returned object's
        found = await s.users.get(user.id)
        assert found is not None
        assert found.prefs == {"theme": "dark", "langs": ["en"]}  # type: ignore[attr-defined]
        update = {"prefs": {"theme": "blue"}}
        await s.users.update(found, update)
        update["prefs"]["theme"] = "red"
        again = await s.users.get(user.id)
    assert again is not None
    assert again.prefs == {"theme": "blue"}  # type: ignore[attr-defined]


# Custom user fields ----------------------------------------------------------------------

NICKNAME = FieldRule("nickname", (str,), nullable=True, max_length=20, no_control=True)
BIRTHDAY = FieldRule("birthday", (dt.date,), nullable=True)


async def test_extra_user_fields_are_stored_and_returned() -> None:
    store = memory(extra_user_fields=[NICKNAME, BIRTHDAY])
    async with store.session() as s:
        user = await s.users.create({**USER, "nickname": "ally", "birthday": dt.date(1990, 5, 1)})
        assert (user.nickname, user.birthday) == ("ally", dt.date(1990, 5, 1))  # type: ignore[attr-defined]
        bare = await s.users.create({**USER, "email": "bob@example.com"})
        assert (bare.nickname, bare.birthday) == (None, None)  # type: ignore[attr-defined]
        user = await s.users.update(user, {"nickname": "al"})
        found = await s.users.get_by_email("ALICE@example.com")
    assert found is not None
    assert isinstance(found, MemoryUser)
    assert (found.nickname, found.birthday) == ("al", dt.date(1990, 5, 1))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"nickname": 5}, "nickname", "expected str or None, got int"),
        ({"nickname": b"ally"}, "nickname", "expected str or None, got bytes"),
        ({"nickname": "n" * 21}, "nickname", "longer than 20 characters"),
        ({"nickname": "al\nly"}, "nickname", "contains a control character"),
        ({"birthday": "1990-05-01"}, "birthday", "expected date or None, got str"),
        ({"shoe_size": 42}, "shoe_size", "not a field of the user model"),
    ],
)
async def test_extra_user_fields_are_type_checked(
    change: dict[str, Any], field: str, reason: str
) -> None:
    store = memory(extra_user_fields=[NICKNAME, BIRTHDAY])
    async with store.session() as s:
        with pytest.raises(InvalidUserData) as info:
            await s.users.create({**USER, **change})
        assert (info.value.field, info.value.reason) == (field, reason)
        assert await s.users.get_by_email(USER["email"]) is None
        user = await s.users.create(USER)
        with pytest.raises(InvalidUserData) as info:
            await s.users.update(user, change)
        assert (info.value.field, info.value.reason) == (field, reason)


async def test_required_extra_field() -> None:
    store = memory(extra_user_fields=[FieldRule("tenant", (str,), required=True)])
    async with store.session() as s:
        with pytest.raises(InvalidUserData) as info:
            await s.users.create(USER)
        assert (info.value.field, info.value.reason) == ("tenant", "is required")
        user = await s.users.create({**USER, "tenant": "acme"})
    assert user.tenant == "acme"  # type: ignore[attr-defined]


async def test_extra_fields_are_per_store() -> None:
    async with memory(extra_user_fields=[NICKNAME]).session() as s:
        await s.users.create({**USER, "nickname": "ally"})
    async with memory().session() as s:
        with pytest.raises(InvalidUserData, match=r"^nickname: not a field of the user model$"):
            await s.users.create({**USER, "nickname": "ally"})


# Ids -------------------------------------------------------------------------------------


async def test_int_ids_count_up_from_one_and_are_not_reused() -> None:
    store = memory(id_type="int")
    async with store.session() as s:
        ids = [(await s.users.create({**USER, "email": f"u{i}@example.com"})).id for i in range(3)]
        assert ids == [1, 2, 3]
        last = await s.users.get(3)
        assert last is not None
        await s.users.delete(last)
        nxt = await s.users.create({**USER, "email": "next@example.com"})
        assert nxt.id == 4
        user = await s.users.add_oauth_account(nxt, ACCOUNT)
        user = await s.users.add_oauth_account(user, {**ACCOUNT, "account_id": "2"})
        assert [a.id for a in user.oauth_accounts] == [1, 2]
        assert all(a.user_id == 4 for a in user.oauth_accounts)


async def test_integer_ids_are_always_picked_by_the_store() -> None:
    store = memory(id_type="int")
    async with store.session() as s:
        with pytest.raises(InvalidUserData) as info:
            await s.users.create({**USER, "id": 10})
        assert (info.value.field, info.value.reason) == ("id", "cannot be set")
        first = await s.users.create(USER)
        second = await s.users.create({**USER, "email": "after@example.com"})
        assert (first.id, second.id) == (1, 2)
        with pytest.raises(InvalidUserData):
            await s.users.update(first, {"id": first.id})


async def test_uuid_id_cannot_be_changed_by_update() -> None:
    store = memory()
    async with store.session() as s:
        user = await s.users.create(USER)
        same = await s.users.update(user, {"id": user.id})
        assert same.id == user.id
        with pytest.raises(InvalidUserData) as info:
            await s.users.update(user, {"id": uuid.uuid4()})
        assert (info.value.field, info.value.reason) == ("id", "cannot be changed")


@pytest.mark.parametrize("id_type", ["bogus", "UUID", "integer", None])
def test_unknown_id_type_is_a_value_error(id_type: Any) -> None:
    with pytest.raises(ValueError, match="id_type must be 'uuid' or 'int'"):
        connect("memory://", id_type=id_type)
    with pytest.raises(ValueError, match="id_type must be 'uuid' or 'int'"):
        MemoryStore(id_type=id_type)


def test_unknown_option_is_invalid_url() -> None:
    with pytest.raises(InvalidURL, match="memory:// takes no option 'pool_size'"):
        connect("memory://", pool_size=5)


# Stores, sessions, transactions ----------------------------------------------------------


async def test_stores_do_not_share_state() -> None:
    first, second = memory(), memory()
    async with first.session() as s:
        await s.users.create(USER)
    async with second.session() as s:
        assert await s.users.get_by_email(USER["email"]) is None
        await s.users.create(USER)


async def test_store_as_async_context_manager_and_drop_schema() -> None:
    async with memory() as store:
        await store.create_schema()
        async with store.session() as s:
            await s.users.create(USER)
        await store.drop_schema()
        async with store.session() as s:
            assert await s.users.get_by_email(USER["email"]) is None
            await s.users.create(USER)


async def test_nested_transaction_holds_the_lock_once() -> None:
    store = memory()
    other_done = asyncio.Event()

    async def other_writer() -> None:
        async with store.session() as other:
            await other.users.create({**USER, "email": "other@example.com"})
        other_done.set()

    async with store.session() as s:
        async with s.transaction():
            # a nested block in the same task takes no second lock: no deadlock
            async with asyncio.timeout(5), s.transaction(), s.transaction():
                await s.users.create(USER)
            task = asyncio.create_task(other_writer())
            await asyncio.sleep(0.01)
            # another session's write waits for the outermost block, not the inner ones
            assert not other_done.is_set()
        await asyncio.wait_for(task, 5)
        assert await s.users.get_by_email(USER["email"]) is not None


async def test_connection_lost_inside_a_nested_block_loses_the_whole_transaction() -> None:
    store = memory()
    async with store.session() as s:
        outer = s.transaction()
        await outer.__aenter__()
        await s.users.create(USER)

        async def inner() -> None:
            async with s.transaction():
                s.sever()
                with pytest.raises(StoreUnavailable):
                    await s.users.create({**USER, "email": "bob@example.com"})

        # the caller swallowed the loss inside the inner block: its end fails all the same
        with pytest.raises(StoreUnavailable, match="nothing committed"):
            await inner()
        # the loss belongs to the connection, so to the enclosing block as well
        with pytest.raises(StoreUnavailable):
            await s.users.create({**USER, "email": "carol@example.com"})
        with pytest.raises(StoreUnavailable, match="nothing committed"):
            await outer.__aexit__(None, None, None)
        assert await s.users.get_by_email(USER["email"]) is None
        await s.users.create(USER)


async def test_connection_lost_inside_a_transaction_commits_nothing() -> None:
    store = memory()
    async with store.session() as s:
        kept = await s.users.create(USER)
        transaction = s.transaction()
        await transaction.__aenter__()
        await s.users.create({**USER, "email": "bob@example.com"})
        s.sever()
        with pytest.raises(StoreUnavailable):
            await s.users.get(kept.id)
        # The caller swallowed the loss and ends the block normally: still nothing commits.
        with pytest.raises(StoreUnavailable, match="nothing committed"):
            await transaction.__aexit__(None, None, None)
        assert await s.users.get(kept.id) is not None
        assert await s.users.get_by_email("bob@example.com") is None
        await s.users.create({**USER, "email": "carol@example.com"})
