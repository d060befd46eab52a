"""Contract section 6, Access tokens: its rules as cases any adapter runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..._errors import AccessTokenAlreadyExists, InvalidUserData
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


async def _aged_tokens(
    ctx: CaseContext, session: Any, days: int, email: str = "aged@example.com"
) -> dt.datetime:
    """Store one token a day for ``days`` days from a base date (a new user's); return the base."""
    base = dt.datetime(2030, 6, 1, tzinfo=UTC)
    user = await session.users.create(ctx.user(email))
    for i in range(days):
        created = base + dt.timedelta(days=i)
        token = {"token": f"d{i:02d}" + "x" * 40, "user_id": user.id, "created_at": created}
        await session.tokens.create(token)
    return base


@case(6, "count_tokens counts every token, or those created before older_than (exclusive)")
async def case_count_tokens(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        ctx.expect_equal(await s.count_tokens(), 0, "count of an empty store")
        base = await _aged_tokens(ctx, s, 5)
        ctx.expect_equal(await s.count_tokens(), 5, "count of all")
        ctx.expect_equal(await s.count_tokens(base + dt.timedelta(days=2)), 2, "count before day 2")
        ctx.expect_equal(await s.count_tokens(base), 0, "count before the first token")
        ctx.expect_equal(await s.tokens.count_tokens(), 5, "tokens.count_tokens")
    ctx.observe("counts 5, 2 and 0")


@case(6, "delete_expired with a limit deletes at most that many, the oldest first")
async def case_delete_expired_limit(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        base = await _aged_tokens(ctx, s, 6)
        cutoff = base + dt.timedelta(days=4)
        ctx.expect_equal(await s.tokens.delete_expired(cutoff, limit=3), 3, "first deletion")
        for i in range(6):
            found = await s.tokens.get_by_token(f"d{i:02d}" + "x" * 40)
            ctx.expect((found is None) == (i < 3), f"token of day {i} after deleting 3")
        ctx.expect_equal(await s.tokens.delete_expired(cutoff, limit=3), 1, "the one left")
        ctx.expect_equal(await s.tokens.delete_expired(cutoff, limit=3), 0, "none left")
        ctx.expect_equal(await s.count_tokens(), 2, "tokens from the cut-off on are kept")


@case(6, "purge_tokens deletes in committed batches, oldest first, yielding each count")
async def case_purge_tokens(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        base = await _aged_tokens(ctx, s, 9)
        cutoff = base + dt.timedelta(days=7)
        batches = [n async for n in s.purge_tokens(cutoff, batch_size=3)]
        ctx.expect_equal(batches, [3, 3, 1], "batches of 7 old tokens")
        ctx.expect_equal(await s.count_tokens(), 2, "tokens from the cut-off on are kept")
        again = [n async for n in s.purge_tokens(cutoff, batch_size=3)]
        ctx.expect_equal(again, [], "a purge with nothing to delete yields nothing")
        even = [n async for n in s.purge_tokens(base + dt.timedelta(days=9), batch_size=1)]
        ctx.expect_equal(even, [1, 1], "the last batch full, then no empty one")
    async with ctx.session() as s:
        base = await _aged_tokens(ctx, s, 6, "again@example.com")
        async for first in s.purge_tokens(base + dt.timedelta(days=6), batch_size=2):
            ctx.expect_equal(first, 2, "the first batch")
            break  # an interrupted purge keeps what it deleted
    async with ctx.session() as s:
        ctx.expect_equal(await s.count_tokens(), 4, "tokens after an interrupted purge")
        for i in range(6):
            found = await s.tokens.get_by_token(f"d{i:02d}" + "x" * 40)
            ctx.expect((found is None) == (i < 2), f"token of day {i}: the oldest went first")
    ctx.observe(f"batches {batches}")


class _Undo(Exception):
    """Raised to roll a transaction back."""


@case(6, "purge_tokens inside a transaction joins it: a rollback undoes every batch")
async def case_purge_tokens_in_transaction(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        base = await _aged_tokens(ctx, s, 5)
        try:
            async with s.transaction():
                batches = [
                    n async for n in s.purge_tokens(base + dt.timedelta(days=5), batch_size=2)
                ]
                ctx.expect_equal(batches, [2, 2, 1], "batches inside the transaction")
                ctx.expect_equal(await s.count_tokens(), 0, "count inside the transaction")
                raise _Undo
        except _Undo:
            pass
        ctx.expect_equal(await s.count_tokens(), 5, "count after the rollback")
