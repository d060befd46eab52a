"""Contract section 8, Errors and sessions: its rules as cases any adapter runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..._errors import (
    AccessTokenAlreadyExists,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from .._suite import CaseContext, case
from ._helpers import TOKEN

__all__: list[str] = []


@case(8, "after an error the same session works and earlier commits are kept")
async def case_usable_after_errors(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        alice = await s.users.add_oauth_account(alice, ctx.account("github", "1"))
        await s.tokens.create({"token": TOKEN, "user_id": alice.id})
        # Calls are made one at a time, so a failing one leaves no coroutine un-awaited.
        failures: list[tuple[type[UserStoreError], Callable[[], Awaitable[object]]]] = [
            (UserAlreadyExists, lambda: s.users.create(ctx.user("ALICE@example.com"))),
            (
                OAuthAccountAlreadyLinked,
                lambda: s.users.add_oauth_account(alice, ctx.account("github", "1")),
            ),
            (
                AccessTokenAlreadyExists,
                lambda: s.tokens.create({"token": TOKEN, "user_id": alice.id}),
            ),
            (InvalidUserData, lambda: s.users.create(ctx.user("bad\x00@example.com"))),
        ]
        for error, call in failures:
            await ctx.expect_raises(error, call(), error.__name__)
            bob = await s.users.create(ctx.user(f"bob-{error.__name__}@example.com"))
            ctx.expect(bob is not None, f"create after {error.__name__}")
        found = await s.users.get_by_email("alice@example.com")
        ctx.expect(found is not None and len(found.oauth_accounts) == 1, "alice intact")
        ctx.expect(await s.tokens.get_by_token(TOKEN) is not None, "alice's token intact")


@case(8, "a lost connection raises StoreUnavailable; the next call works on a fresh one")
async def case_connection_loss(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        await ctx.harness.sever(s)
        await ctx.expect_raises(StoreUnavailable, s.users.get(alice.id), "call after loss")
        found = await s.users.get(alice.id)
        ctx.expect(found is not None and found.email == "alice@example.com", "next call")
        await ctx.harness.sever(s)
        await ctx.expect_raises(
            StoreUnavailable, s.users.create(ctx.user("bob@example.com")), "write after loss"
        )
        bob = await s.users.create(ctx.user("carol@example.com"))
        ctx.expect(bob is not None, "write after recovery")
    async with ctx.session() as s:
        ctx.expect_equal(await s.users.get_by_email("bob@example.com"), None, "no partial write")
        ctx.expect(await s.users.get_by_email("alice@example.com") is not None, "earlier commit")


@case(8, "every error the contract names derives from UserStoreError")
async def case_error_hierarchy(ctx: CaseContext) -> None:
    for error in (
        UserAlreadyExists,
        OAuthAccountAlreadyLinked,
        AccessTokenAlreadyExists,
        UserNotFound,
        InvalidUserData,
        StoreUnavailable,
    ):
        ctx.expect(issubclass(error, UserStoreError), f"{error.__name__} is a UserStoreError")
    ctx.expect(issubclass(InvalidUserData, ValueError), "InvalidUserData is a ValueError")
    async with ctx.session() as s:
        exc = await ctx.expect_raises(
            InvalidUserData, s.users.create(ctx.user(hashed_password="secret\x00")), "create"
        )
    ctx.expect("secret" not in str(exc), "the value stays out of the message")
