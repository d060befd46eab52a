"""Contract section 1, Objects: its rules as cases any adapter runs."""

from __future__ import annotations

import datetime as dt

from .._suite import CaseContext, case
from ._helpers import TOKEN

__all__: list[str] = []


@case(1, "a created user has the contract's fields and defaults")
async def case_user_defaults(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user("defaults@example.com"))
    ctx.expect_equal(user.email, "defaults@example.com", "email")
    ctx.expect_equal(user.hashed_password, ctx.user()["hashed_password"], "hashed_password")
    ctx.expect_equal(
        (user.is_active, user.is_superuser, user.is_verified),
        (True, False, False),
        "is_active, is_superuser, is_verified defaults",
    )
    ctx.expect_equal(list(user.oauth_accounts), [], "oauth_accounts of a new user")
    async with ctx.session() as s:
        again = await s.users.get(user.id)
    ctx.expect(again is not None, "the created user is found by id")
    assert again is not None
    ctx.expect_equal(
        (again.email, again.is_active, again.is_superuser, again.is_verified),
        ("defaults@example.com", True, False, False),
        "fields read back",
    )


@case(1, "an OAuth account and an access token have the contract's fields")
async def case_account_and_token_fields(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        user = await s.users.add_oauth_account(
            user, ctx.account(expires_at=1_900_000_000, refresh_token="refresh-1")
        )
        token = await s.tokens.create({"token": TOKEN, "user_id": user.id})
    (account,) = user.oauth_accounts
    ctx.expect_equal(
        (account.oauth_name, account.account_id, account.account_email, account.access_token),
        ("github", "1001", "1001@github.example", "access-github-1001"),
        "OAuth account fields",
    )
    ctx.expect_equal(
        (account.expires_at, account.refresh_token), (1_900_000_000, "refresh-1"), "expiry"
    )
    ctx.expect_equal((token.token, token.user_id), (TOKEN, user.id), "token fields")
    ctx.expect(isinstance(token.created_at, dt.datetime), "created_at is a datetime")
