"""Contract section 9, Transactions: its rules as cases any adapter runs."""

from __future__ import annotations

from ..._errors import UserAlreadyExists
from .._suite import CaseContext, ContractViolation, case
from ._helpers import TOKEN

__all__: list[str] = []


@case(9, "each write method commits before it returns")
async def case_autocommit(ctx: CaseContext) -> None:
    async with ctx.session() as writer, ctx.session() as reader:
        user = await writer.users.create(ctx.user())
        ctx.expect(await reader.users.get(user.id) is not None, "create visible to another")
        await writer.users.update(user, {"is_verified": True})
        seen = await reader.users.get(user.id)
        ctx.expect(seen is not None and seen.is_verified, "update visible to another session")
        await writer.tokens.create({"token": TOKEN, "user_id": user.id})
        ctx.expect(await reader.tokens.get_by_token(TOKEN) is not None, "token visible")


@case(9, "an explicit transaction commits all at its end")
async def case_transaction_commits(ctx: CaseContext) -> None:
    async with ctx.session() as s, ctx.session() as reader:
        async with s.transaction():
            alice = await s.users.create(ctx.user("alice@example.com"))
            alice = await s.users.add_oauth_account(alice, ctx.account())
            await s.tokens.create({"token": TOKEN, "user_id": alice.id})
            ctx.expect_equal(
                await reader.users.get_by_email("alice@example.com"), None, "visible before end"
            )
            ctx.expect(await s.users.get(alice.id) is not None, "visible inside")
        found = await reader.users.get_by_email("alice@example.com")
        ctx.expect(found is not None and len(found.oauth_accounts) == 1, "committed at end")
        ctx.expect(await reader.tokens.get_by_token(TOKEN) is not None, "token committed")


@case(9, "an explicit transaction rolls back all on an exception")
async def case_transaction_rolls_back(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        keeper = await s.users.create(ctx.user("keeper@example.com"))
        try:
            async with s.transaction():
                await s.users.create(ctx.user("alice@example.com"))
                await s.users.update(keeper, {"is_superuser": True})
                await s.tokens.create({"token": TOKEN, "user_id": keeper.id})
                raise LookupError("the caller's own failure")
        except LookupError:
            pass
    async with ctx.session() as s:
        ctx.expect_equal(await s.users.get_by_email("alice@example.com"), None, "create undone")
        found = await s.users.get(keeper.id)
        ctx.expect(found is not None and not found.is_superuser, "update undone")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "token undone")


@case(9, "a typed error caught inside a transaction loses only the failed call")
async def case_transaction_survives_caught_error(ctx: CaseContext) -> None:
    async with ctx.session() as s, s.transaction():
        await s.users.create(ctx.user("alice@example.com"))
        await ctx.expect_raises(
            UserAlreadyExists, s.users.create(ctx.user("Alice@example.com")), "duplicate"
        )
        await s.users.create(ctx.user("bob@example.com"))
    async with ctx.session() as s:
        ctx.expect(await s.users.get_by_email("alice@example.com") is not None, "alice kept")
        ctx.expect(await s.users.get_by_email("bob@example.com") is not None, "bob committed")


class _Abandon(Exception):
    """A caller's own failure, raised to end a block."""


async def _emails(ctx: CaseContext, *emails: str) -> list[str]:
    """Those of ``emails`` that are stored, read on a fresh session (what is committed)."""
    async with ctx.session() as s:
        return [e for e in emails if await s.users.get_by_email(e) is not None]


@case(9, "a transaction inside another is a savepoint: its failure loses only itself")
async def case_nested_failure_loses_only_itself(ctx: CaseContext) -> None:
    async with ctx.session() as s, ctx.session() as reader, s.transaction():
        alice = await s.users.create(ctx.user("alice@example.com"))
        try:
            async with s.transaction():
                await s.users.create(ctx.user("bob@example.com"))
                await s.users.update(alice, {"is_superuser": True})
                await s.tokens.create({"token": TOKEN, "user_id": alice.id})
                raise _Abandon
        except _Abandon:
            pass
        ctx.expect_equal(
            await s.users.get_by_email("bob@example.com"), None, "inner create, inside"
        )
        found = await s.users.get(alice.id)
        ctx.expect(found is not None and not found.is_superuser, "inner update undone")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "inner token undone")
        await s.users.create(ctx.user("carol@example.com"))
        ctx.expect_equal(
            await reader.users.get_by_email("alice@example.com"), None, "visible before end"
        )
    stored = await _emails(ctx, "alice@example.com", "bob@example.com", "carol@example.com")
    ctx.observe(f"committed: {', '.join(stored)}")
    ctx.expect_equal(stored, ["alice@example.com", "carol@example.com"], "users committed")
    async with ctx.session() as s:
        found = await s.users.get_by_email("alice@example.com")
        ctx.expect(found is not None and not found.is_superuser, "inner update not committed")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "inner token not committed")


@case(9, "an outer block that fails after an inner one succeeded loses both")
async def case_nested_outer_failure_loses_all(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        keeper = await s.users.create(ctx.user("keeper@example.com"))
        try:
            async with s.transaction():
                await s.users.create(ctx.user("alice@example.com"))
                async with s.transaction():
                    await s.users.create(ctx.user("bob@example.com"))
                    await s.users.update(keeper, {"is_superuser": True})
                    await s.tokens.create({"token": TOKEN, "user_id": keeper.id})
                raise _Abandon
        except _Abandon:
            pass
        stored = await _emails(ctx, "alice@example.com", "bob@example.com")
        ctx.expect_equal(stored, [], "users committed")
        found = await s.users.get(keeper.id)
        ctx.expect(found is not None and not found.is_superuser, "inner update undone")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "inner token undone")
        await s.users.create(ctx.user("after@example.com"))
    ctx.expect_equal(await _emails(ctx, "after@example.com"), ["after@example.com"], "after")


@case(9, "an inner block that succeeds commits with the outer one, not before")
async def case_nested_success_commits_with_outer(ctx: CaseContext) -> None:
    async with ctx.session() as s, ctx.session() as reader, s.transaction():
        alice = await s.users.create(ctx.user("alice@example.com"))
        async with s.transaction():
            bob = await s.users.create(ctx.user("bob@example.com"))
            bob = await s.users.add_oauth_account(bob, ctx.account())
            await s.tokens.create({"token": TOKEN, "user_id": bob.id})
        ctx.expect_equal(
            await reader.users.get_by_email("bob@example.com"), None, "inner visible early"
        )
        await s.users.update(alice, {"is_verified": True})
        ctx.expect_equal(
            await reader.users.get_by_email("alice@example.com"), None, "outer visible early"
        )
    async with ctx.session() as s:
        found = await s.users.get_by_email("bob@example.com")
        ctx.expect(found is not None and len(found.oauth_accounts) == 1, "inner committed")
        ctx.expect(await s.tokens.get_by_token(TOKEN) is not None, "inner token committed")
        found = await s.users.get_by_email("alice@example.com")
        ctx.expect(found is not None and found.is_verified, "outer committed")


@case(9, "a typed refusal that ends an inner block loses that block only")
async def case_nested_typed_refusal(ctx: CaseContext) -> None:
    async with ctx.session() as s, s.transaction():
        await s.users.create(ctx.user("alice@example.com"))
        try:
            async with s.transaction():
                await s.users.create(ctx.user("bob@example.com"))
                await s.users.create(ctx.user("ALICE@example.com"))
        except UserAlreadyExists as exc:
            ctx.observe(f"inner block: {type(exc).__name__}")
        else:
            raise ContractViolation("the duplicate email did not raise UserAlreadyExists")
        await s.users.create(ctx.user("carol@example.com"))
    stored = await _emails(ctx, "alice@example.com", "bob@example.com", "carol@example.com")
    ctx.expect_equal(stored, ["alice@example.com", "carol@example.com"], "users committed")


@case(9, "transactions nest to any depth, each level a savepoint of the one around it")
async def case_nested_three_levels(ctx: CaseContext) -> None:
    async with ctx.session() as s, s.transaction():
        await s.users.create(ctx.user("one@example.com"))
        async with s.transaction():
            await s.users.create(ctx.user("two@example.com"))
            try:
                async with s.transaction():
                    await s.users.create(ctx.user("three@example.com"))
                    raise _Abandon
            except _Abandon:
                pass
            async with s.transaction():
                await s.users.create(ctx.user("four@example.com"))
        try:
            async with s.transaction():
                await s.users.create(ctx.user("five@example.com"))
                async with s.transaction():
                    await s.users.create(ctx.user("six@example.com"))
                raise _Abandon
        except _Abandon:
            pass
        await s.users.create(ctx.user("seven@example.com"))
    names = ["one", "two", "three", "four", "five", "six", "seven"]
    stored = await _emails(ctx, *(f"{n}@example.com" for n in names))
    ctx.observe(f"committed: {', '.join(e.partition('@')[0] for e in stored)}")
    ctx.expect_equal(
        stored,
        ["one@example.com", "two@example.com", "four@example.com", "seven@example.com"],
        "users committed",
    )
    async with ctx.session() as s:
        try:
            async with s.transaction():
                await s.users.create(ctx.user("eight@example.com"))
                async with s.transaction(), s.transaction():
                    await s.users.create(ctx.user("nine@example.com"))
                raise _Abandon
        except _Abandon:
            pass
    ctx.expect_equal(
        await _emails(ctx, "eight@example.com", "nine@example.com"), [], "outer failure"
    )
