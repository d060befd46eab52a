"""Contract section 6, Access tokens: its rules as cases any adapter runs."""

from __future__ import annotations

import datetime as dt

from ..._errors import (
    AccessTokenAlreadyExists,
    InvalidUserData,
)
from ..._fields import token_digest
from .._suite import CaseContext, case
from ._helpers import TOKEN, UTC

__all__: list[str] = []


@case(6, "get_by_token's max_age bound is inclusive")
async def case_token_max_age_inclusive(ctx: CaseContext) -> None:
    created = dt.datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        await s.tokens.create({"token": TOKEN, "user_id": user.id, "created_at": created})
        at = await s.tokens.get_by_token(TOKEN, created)
        after = await s.tokens.get_by_token(TOKEN, created + dt.timedelta(microseconds=1))
        before = await s.tokens.get_by_token(TOKEN, created - dt.timedelta(microseconds=1))
        plus_two = dt.timezone(dt.timedelta(hours=2))
        same_instant = await s.tokens.get_by_token(TOKEN, created.astimezone(plus_two))
    ctx.expect(at is not None, "max_age == created_at finds the token")
    ctx.expect(before is not None, "max_age one microsecond earlier finds it")
    ctx.expect_equal(after, None, "max_age one microsecond later")
    ctx.expect(same_instant is not None, "max_age in another zone at the same instant")


@case(6, "datetimes come back timezone-aware UTC with microseconds")
async def case_token_datetimes(ctx: CaseContext) -> None:
    zone = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    given = dt.datetime(2030, 1, 2, 3, 4, 5, 654321, tzinfo=zone)
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        made = await s.tokens.create({"token": TOKEN, "user_id": user.id, "created_at": given})
        default = await s.tokens.create({"token": "d" * 43, "user_id": user.id})
    async with ctx.session() as s:
        found = await s.tokens.get_by_token(TOKEN)
        found_default = await s.tokens.get_by_token("d" * 43)
    assert found is not None
    assert found_default is not None
    for label, value in [("create", made.created_at), ("get_by_token", found.created_at)]:
        ctx.expect_equal(value, given, f"{label} created_at instant")
        ctx.expect_equal(value.utcoffset(), dt.timedelta(0), f"{label} created_at offset")
        ctx.expect_equal(value.microsecond, 654321, f"{label} microseconds")
    ctx.expect_equal(found_default.created_at, default.created_at, "default created_at")
    ctx.expect_equal(found_default.created_at.utcoffset(), dt.timedelta(0), "default offset")
    age = dt.datetime.now(UTC) - found_default.created_at
    ctx.expect(dt.timedelta(0) <= age < dt.timedelta(minutes=5), f"default is now (age {age})")
    ctx.observe(f"read back {found.created_at.isoformat()}")


@case(6, "a naive datetime is refused with InvalidUserData")
async def case_token_naive_datetimes(ctx: CaseContext) -> None:
    naive = dt.datetime(2030, 1, 1, 12, 0, 0)
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        await ctx.expect_raises(
            InvalidUserData,
            s.tokens.create({"token": TOKEN, "user_id": user.id, "created_at": naive}),
            "create",
        )
        await ctx.expect_raises(InvalidUserData, s.tokens.get_by_token(TOKEN, naive), "max_age")
        await ctx.expect_raises(InvalidUserData, s.tokens.delete_expired(naive), "older_than")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "nothing written")


@case(6, "creating a token that exists raises AccessTokenAlreadyExists")
async def case_token_unique(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        bob = await s.users.create(ctx.user("bob@example.com"))
        await s.tokens.create({"token": TOKEN, "user_id": alice.id})
        await ctx.expect_raises(
            AccessTokenAlreadyExists, s.tokens.create({"token": TOKEN, "user_id": bob.id}), "dup"
        )
        found = await s.tokens.get_by_token(TOKEN)
    ctx.expect(found is not None and found.user_id == alice.id, "the first token is intact")


@case(
    6, "tokens stored as SHA-256 digests: clear lookups work, clear never stored", token_digest=True
)
async def case_token_digest(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        made = await s.tokens.create({"token": TOKEN, "user_id": user.id})
        ctx.expect_equal(made.token, TOKEN, "create returns the clear token")
        found = await s.tokens.get_by_token(TOKEN)
        ctx.expect(found is not None and found.token == TOKEN, "lookup by the clear token")
        stored = await ctx.harness.stored_tokens(ctx.store)
        ctx.expect_equal(stored, {token_digest(TOKEN)}, "token column")
        await ctx.expect_raises(
            AccessTokenAlreadyExists, s.tokens.create({"token": TOKEN, "user_id": user.id}), "dup"
        )
        ctx.expect_equal(await s.tokens.get_by_token(token_digest(TOKEN)), None, "by digest")
        assert found is not None
        await s.tokens.delete(found)
        ctx.expect_equal(await ctx.harness.stored_tokens(ctx.store), set(), "after delete")
    ctx.observe(f"stored {token_digest(TOKEN)[:12]}...")


@case(6, "bulk clean-up: all tokens of a user; all tokens older than a datetime")
async def case_token_bulk_cleanup(ctx: CaseContext) -> None:
    base = dt.datetime(2030, 6, 1, tzinfo=UTC)
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        bob = await s.users.create(ctx.user("bob@example.com"))
        for i in range(5):
            await s.tokens.create(
                {
                    "token": f"a{i}" + "x" * 41,
                    "user_id": alice.id,
                    "created_at": base + dt.timedelta(days=i),
                }
            )
            await s.tokens.create(
                {
                    "token": f"b{i}" + "x" * 41,
                    "user_id": bob.id,
                    "created_at": base + dt.timedelta(days=i),
                }
            )
        ctx.expect_equal(await s.tokens.delete_for_user(alice.id), 5, "delete_for_user count")
        ctx.expect_equal(await s.tokens.get_by_token("a0" + "x" * 41), None, "alice's token")
        removed = await s.tokens.delete_expired(base + dt.timedelta(days=2))
        ctx.expect_equal(removed, 2, "delete_expired count (strictly older)")
        ctx.expect_equal(await s.tokens.get_by_token("b1" + "x" * 41), None, "an old token")
        ctx.expect(await s.tokens.get_by_token("b2" + "x" * 41) is not None, "boundary kept")
        ctx.expect_equal(await s.tokens.delete_for_user(alice.id), 0, "nothing left for alice")
    ctx.observe(f"delete_expired removed {removed}")
