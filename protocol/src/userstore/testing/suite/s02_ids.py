"""Contract section 2, IDs: its rules as cases any adapter runs."""

from __future__ import annotations

import uuid
from typing import Any

from ..._errors import InvalidUserData
from .._suite import CaseContext, ContractViolation, case
from ._helpers import TOKEN

__all__: list[str] = []


@case(2, "UUID ids are generated and returned as uuid.UUID")
async def case_uuid_ids(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        user = await s.users.add_oauth_account(user, ctx.account())
        found = await s.users.get(user.id)
        token = await s.tokens.create({"token": TOKEN, "user_id": user.id})
        got_token = await s.tokens.get_by_token(TOKEN)
    ctx.observe(f"id type {type(user.id).__name__}")
    ctx.expect(isinstance(user.id, uuid.UUID), f"created id is {type(user.id).__name__}")
    ctx.expect(found is not None and isinstance(found.id, uuid.UUID), "get() id is a uuid.UUID")
    assert found is not None
    ctx.expect_equal(found.id, user.id, "id read back")
    ctx.expect(isinstance(found.oauth_accounts[0].id, uuid.UUID), "account id is a uuid.UUID")
    ctx.expect(got_token is not None and isinstance(got_token.user_id, uuid.UUID), "token user_id")
    ctx.expect_equal(token.user_id, user.id, "token user_id")


@case(2, "integer ids are generated and returned as int", id_type="int")
async def case_int_ids(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        first = await s.users.create(ctx.user("one@example.com"))
        second = await s.users.create(ctx.user("two@example.com"))
        second = await s.users.add_oauth_account(second, ctx.account())
        found = await s.users.get(second.id)
        missing = await s.users.get(second.id + 1000)
        token = await s.tokens.create({"token": TOKEN, "user_id": second.id})
    ctx.observe(f"ids {first.id}, {second.id}")
    ctx.expect(type(first.id) is int and type(second.id) is int, "ids are int")
    ctx.expect(first.id != second.id, "ids are distinct")
    ctx.expect(found is not None and found.id == second.id, "get() by int id")
    assert found is not None
    ctx.expect(type(found.oauth_accounts[0].id) is int, "account id is int")
    ctx.expect(missing is None, "get() of an unused id is None")
    ctx.expect(type(token.user_id) is int, "token user_id is int")


@case(2, "integer ids are picked by the store and never handed out again", id_type="int")
async def case_int_ids_not_reused(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        first = await s.users.create(ctx.user("first@example.com"))
        first = await s.users.add_oauth_account(first, ctx.account("github"))
        first = await s.users.add_oauth_account(first, ctx.account("gitlab"))
        unlinked = first.oauth_accounts[-1]
        first = await s.users.remove_oauth_account(first, unlinked)
        last = await s.users.create(ctx.user("last@example.com"))
        last = await s.users.add_oauth_account(last, ctx.account("google"))
        cascaded = last.oauth_accounts[0]
        await s.users.delete(last)
        after = await s.users.create(ctx.user("after@example.com"))
        after = await s.users.add_oauth_account(after, ctx.account("gitlab"))
        ctx.observe(f"deleted id {last.id}, next id {after.id}")
        ctx.expect(after.id > last.id, f"a deleted id came back: {after.id} after {last.id}")
        account = after.oauth_accounts[0].id
        ctx.expect(
            account > cascaded.id > unlinked.id,
            f"account ids {unlinked.id} (unlinked), {cascaded.id} (deleted with its user), "
            f"then {account}",
        )
        exc = await ctx.expect_raises(
            InvalidUserData, s.users.create(ctx.user("given@example.com", id=after.id + 5)), "id"
        )
        ctx.expect_equal(getattr(exc, "field", None), "id", "InvalidUserData.field")
        ctx.expect_equal(await s.users.get_by_email("given@example.com"), None, "nothing written")


class _RolledBack(Exception):
    """Raised by a case to make its transaction block roll back."""


@case(
    2,
    "an integer id handed out in a transaction that rolled back is not handed out again",
    id_type="int",
)
async def case_int_ids_not_reused_after_rollback(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        lost: list[tuple[Any, Any]] = []  # (user id, account id) handed out, then rolled back
        for n in range(2):  # the first one on empty tables
            try:
                async with s.transaction():
                    user = await s.users.create(ctx.user(f"lost-{n}@example.com"))
                    user = await s.users.add_oauth_account(user, ctx.account(account_id=f"{n}"))
                    lost.append((user.id, user.oauth_accounts[0].id))
                    raise _RolledBack
            except _RolledBack:
                pass
            kept = await s.users.create(ctx.user(f"kept-{n}@example.com"))
            kept = await s.users.add_oauth_account(kept, ctx.account(account_id=f"{n}"))
            ctx.observe(f"rolled back {lost[-1]}, next {(kept.id, kept.oauth_accounts[0].id)}")
            ctx.expect(
                kept.id > lost[-1][0],
                f"the rolled-back user id {lost[-1][0]} was handed out again ({kept.id})",
            )
            ctx.expect(
                kept.oauth_accounts[0].id > lost[-1][1],
                f"the rolled-back account id {lost[-1][1]} was handed out again "
                f"({kept.oauth_accounts[0].id})",
            )
    async with ctx.session() as s:
        for user_id, _ in lost:
            ctx.expect_equal(await s.users.get(user_id), None, "a rolled-back id names no user")


@case(2, "get() of a value that is no valid UUID id returns None; a UUID string finds")
async def case_get_invalid_uuid(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        bad_ids: list[object] = [
            "not-a-uuid",
            42,
            None,
            user.id.bytes,
            1.5,
            True,
            "\x00",
            "x" * 500,
        ]
        for bad in bad_ids:
            ctx.expect_equal(await s.users.get(bad), None, f"get({bad!r:.40})")
        for text in (str(user.id), str(user.id).upper(), user.id.hex):
            found = await s.users.get(text)
            ctx.expect(found is not None and found.id == user.id, f"get({text!r}) finds the user")


@case(2, "get() of a value that is no valid integer id returns None", id_type="int")
async def case_get_invalid_int(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        for bad in [2**31, 2**63, -(2**63) - 1, "1", str(user.id), True, 1.0, uuid.uuid4(), None]:
            ctx.expect_equal(await s.users.get(bad), None, f"get({bad!r})")
        ctx.expect(await s.users.get(user.id) is not None, "the session still works")


async def _page_through(ctx: CaseContext, session: Any, limit: int) -> list[list[Any]]:
    """Every page ``session.list_users`` gives, the empty last one left out."""
    pages: list[list[Any]] = []
    after = None
    for _ in range(100):
        page = await session.list_users(after=after, limit=limit)
        ctx.expect(len(page) <= limit, f"a page of {len(page)} users with limit={limit}")
        if not page:
            return pages
        pages.append(page)
        after = page[-1].id
    raise ContractViolation("list_users never returned an empty page")


@case(2, "list_users pages through every user once, in one order, at most limit a page")
async def case_list_users_pages(ctx: CaseContext) -> None:
    emails = [f"page{i}@example.com" for i in range(7)]
    async with ctx.session() as s:
        for email in emails:
            await s.users.create(ctx.user(email))
        pages = await _page_through(ctx, s, 3)
        ctx.expect_equal([len(p) for p in pages], [3, 3, 1], "page sizes with limit=3")
        seen = [u for page in pages for u in page]
        ctx.expect_equal(sorted(u.email for u in seen), sorted(emails), "the users paged")
        ctx.expect_equal(len({u.id for u in seen}), len(emails), "distinct users")
        whole = await s.list_users()
        ctx.expect_equal([u.id for u in whole], [u.id for u in seen], "one page, same order")
        direct = await s.users.list_users(limit=100)
        ctx.expect_equal([u.id for u in direct], [u.id for u in seen], "users.list_users")
        ctx.expect(all(u.oauth_accounts == [] for u in whole), "oauth_accounts loaded")
        ctx.expect_equal(await s.list_users(after=seen[-1].id), [], "after the last user")
    ctx.observe(f"pages of {[len(p) for p in pages]}")


@case(2, "list_users orders integer ids ascending", id_type="int")
async def case_list_users_int_order(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        made = [await s.users.create(ctx.user(f"n{i}@example.com")) for i in range(5)]
        pages = await _page_through(ctx, s, 2)
        ids = [u.id for page in pages for u in page]
        ctx.expect_equal(ids, sorted(u.id for u in made), "ids in ascending order")
        ctx.expect(all(type(i) is int for i in ids), "ids are int")
    ctx.observe(f"{len(pages)} pages")
