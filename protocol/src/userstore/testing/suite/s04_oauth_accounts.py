"""Contract section 4, OAuth accounts: its rules as cases any adapter runs."""

from __future__ import annotations

from ..._errors import OAuthAccountAlreadyLinked
from .._suite import CaseContext, case

__all__: list[str] = []


@case(4, "an account linked anywhere cannot be linked again; nothing is written")
async def case_oauth_unique(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        bob = await s.users.create(ctx.user("bob@example.com"))
        alice = await s.users.add_oauth_account(alice, ctx.account("google", "g-1"))
        await ctx.expect_raises(
            OAuthAccountAlreadyLinked,
            s.users.add_oauth_account(bob, ctx.account("google", "g-1")),
            "link to another user",
        )
        await ctx.expect_raises(
            OAuthAccountAlreadyLinked,
            s.users.add_oauth_account(alice, ctx.account("google", "g-1")),
            "link to the same user",
        )
    async with ctx.session() as s:
        owner = await s.users.get_by_oauth_account("google", "g-1")
        ctx.expect(owner is not None and owner.id == alice.id, "the account stays with alice")
        bob_again = await s.users.get(bob.id)
        alice_again = await s.users.get(alice.id)
    assert bob_again is not None
    assert alice_again is not None
    ctx.expect_equal(len(bob_again.oauth_accounts), 0, "bob's accounts")
    ctx.expect_equal(len(alice_again.oauth_accounts), 1, "alice's accounts")


@case(4, "oauth_name and account_id compare exactly: case and whitespace count")
async def case_oauth_exact(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        await s.users.add_oauth_account(alice, ctx.account("google", "AbC"))
        for name, acct in [
            ("Google", "AbC"),
            ("google", "abc"),
            ("google", "AbC "),
            ("google ", "AbC"),
            ("google", " AbC"),
            ("google", "ABC"),
        ]:
            ctx.expect_equal(
                await s.users.get_by_oauth_account(name, acct), None, f"lookup {name!r},{acct!r}"
            )
        found = await s.users.get_by_oauth_account("google", "AbC")
        ctx.expect(found is not None and found.id == alice.id, "the exact pair finds alice")
        bob = await s.users.create(ctx.user("bob@example.com"))
        bob = await s.users.add_oauth_account(bob, ctx.account("google", "abc"))
        bob = await s.users.add_oauth_account(bob, ctx.account("google", "AbC "))
        bob = await s.users.add_oauth_account(bob, ctx.account("Google", "AbC"))
    ctx.expect_equal(len(bob.oauth_accounts), 3, "variants linked to bob as distinct accounts")


@case(4, "returned users carry oauth_accounts loaded, in link order, readable with no I/O")
async def case_oauth_loaded_in_order(ctx: CaseContext) -> None:
    names = [("gitlab", "9"), ("github", "1"), ("google", "5"), ("facebook", "3")]
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        for name, acct in names:
            user = await s.users.add_oauth_account(user, ctx.account(name, acct))
    seen = [(a.oauth_name, a.account_id) for a in user.oauth_accounts]
    ctx.expect_equal(seen, names, "after add_oauth_account (session closed)")
    for getter in ("get", "get_by_email", "get_by_oauth_account"):
        async with ctx.session() as s:
            if getter == "get":
                found = await s.users.get(user.id)
            elif getter == "get_by_email":
                found = await s.users.get_by_email("USER@example.com")
            else:
                found = await s.users.get_by_oauth_account("google", "5")
        assert found is not None
        seen = [(a.oauth_name, a.account_id) for a in found.oauth_accounts]
        ctx.expect_equal(seen, names, f"{getter}() accounts, session closed")
    ctx.observe(f"{len(names)} accounts in link order")


@case(4, "provider tokens longer than 1024 characters round-trip unchanged")
async def case_oauth_long_tokens(ctx: CaseContext) -> None:
    access = "a" * 5000 + "é" * 3000 + "\U0001f511" * 20000
    refresh = "r" * 4096
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        await s.users.add_oauth_account(
            user, ctx.account(access_token=access, refresh_token=refresh)
        )
    async with ctx.session() as s:
        found = await s.users.get_by_oauth_account("github", "1001")
    assert found is not None
    ctx.expect(found.oauth_accounts[0].access_token == access, "access_token unchanged")
    ctx.expect(found.oauth_accounts[0].refresh_token == refresh, "refresh_token unchanged")
    ctx.observe(f"access_token of {len(access)} characters")


@case(4, "update_oauth_account changes the stored account; a taken pair is refused")
async def case_oauth_update(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        alice = await s.users.add_oauth_account(alice, ctx.account("github", "1"))
        alice = await s.users.add_oauth_account(alice, ctx.account("google", "2"))
        account = alice.oauth_accounts[0]
        alice = await s.users.update_oauth_account(
            alice, account, {"access_token": "new-token", "expires_at": 2_000_000_000}
        )
        ctx.expect_equal(alice.oauth_accounts[0].access_token, "new-token", "returned account")
        await ctx.expect_raises(
            OAuthAccountAlreadyLinked,
            s.users.update_oauth_account(
                alice, alice.oauth_accounts[0], {"oauth_name": "google", "account_id": "2"}
            ),
            "update to a taken pair",
        )
    async with ctx.session() as s:
        found = await s.users.get_by_oauth_account("github", "1")
    assert found is not None
    ctx.expect_equal(
        (found.oauth_accounts[0].access_token, found.oauth_accounts[0].expires_at),
        ("new-token", 2_000_000_000),
        "stored account",
    )


@case(4, "remove_oauth_account unlinks one account; the pair can then be linked again")
async def case_oauth_remove(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        alice = await s.users.create(ctx.user("alice@example.com"))
        alice = await s.users.add_oauth_account(alice, ctx.account("github", "1"))
        alice = await s.users.add_oauth_account(alice, ctx.account("google", "2"))
        alice = await s.users.remove_oauth_account(alice, alice.oauth_accounts[0])
        ctx.expect_equal(
            [a.oauth_name for a in alice.oauth_accounts], ["google"], "returned accounts"
        )
        ctx.expect_equal(await s.users.get_by_oauth_account("github", "1"), None, "lookup")
        bob = await s.users.create(ctx.user("bob@example.com"))
        bob = await s.users.add_oauth_account(bob, ctx.account("github", "1"))
    async with ctx.session() as s:
        owner = await s.users.get_by_oauth_account("github", "1")
        again = await s.users.get(alice.id)
    ctx.expect(owner is not None and owner.id == bob.id, "relinked to bob")
    assert again is not None
    ctx.expect_equal([a.oauth_name for a in again.oauth_accounts], ["google"], "stored")
