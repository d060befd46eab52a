"""Contract section 5, Deletion: its rules as cases any adapter runs."""

from __future__ import annotations

from ..._errors import UserNotFound
from .._suite import CaseContext, case
from ._helpers import TOKEN

__all__: list[str] = []


@case(5, "deleting a user deletes its OAuth accounts and access tokens")
async def case_delete_cascades(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user("gone@example.com"))
        user = await s.users.add_oauth_account(user, ctx.account("github", "7"))
        user = await s.users.add_oauth_account(user, ctx.account("google", "8"))
        await s.tokens.create({"token": TOKEN, "user_id": user.id})
        keeper = await s.users.create(ctx.user("keeper@example.com"))
        await s.tokens.create({"token": "k" * 43, "user_id": keeper.id})
        await s.users.delete(user)
    async with ctx.session() as s:
        ctx.expect_equal(await s.users.get(user.id), None, "get() after delete")
        ctx.expect_equal(await s.users.get_by_email("gone@example.com"), None, "by email")
        ctx.expect_equal(await s.users.get_by_oauth_account("github", "7"), None, "by account")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "the user's token")
        ctx.expect(await s.tokens.get_by_token("k" * 43) is not None, "another user's token")
        other = await s.users.create(ctx.user("other@example.com"))
        other = await s.users.add_oauth_account(other, ctx.account("github", "7"))
        ctx.expect_equal(len(other.oauth_accounts), 1, "the freed account links again")
        ctx.expect_equal(await ctx.harness.stored_tokens(ctx.store), {"k" * 43}, "token rows")
        await s.tokens.create({"token": TOKEN, "user_id": other.id})
    ctx.observe("accounts and tokens gone with the user")


@case(5, "updating or deleting a user that no longer exists raises UserNotFound")
async def case_missing_user(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user("ghost@example.com"))
    async with ctx.session() as s:
        stale = await s.users.get(user.id)
        assert stale is not None
        async with ctx.session() as other:
            fresh = await other.users.get(user.id)
            assert fresh is not None
            await other.users.delete(fresh)
        await ctx.expect_raises(UserNotFound, s.users.update(stale, {"is_active": False}), "update")
        await ctx.expect_raises(UserNotFound, s.users.delete(stale), "delete")
        await ctx.expect_raises(
            UserNotFound, s.users.add_oauth_account(stale, ctx.account()), "add_oauth_account"
        )
        await ctx.expect_raises(
            UserNotFound, s.tokens.create({"token": TOKEN, "user_id": user.id}), "token create"
        )
        ctx.expect(await s.users.create(ctx.user("next@example.com")) is not None, "usable")
