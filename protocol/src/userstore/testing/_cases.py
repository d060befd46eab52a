"""CONTRACT.md, rule by rule, as cases any adapter runs (see ``_suite`` for the machinery)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._errors import (
    AccessTokenAlreadyExists,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from .._fields import email_key, token_digest
from ._suite import CaseContext, ContractViolation, case

__all__: list[str] = []

UTC = dt.UTC
TOKEN = "tok_" + "A" * 39  # 43 characters, the size of a FastAPI Users token
T = TypeVar("T")


# 1. Objects ---------------------------------------------------------------------------


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


# 2. IDs -------------------------------------------------------------------------------


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


# 3. Emails ----------------------------------------------------------------------------

# Pairs whose keys (NFKC, then casefold) are equal: one user.
SAME_USER = [
    ("Alice.Smith@Example.COM", "alice.smith@example.com"),
    ("ÉLODIE@exemple.fr", "élodie@exemple.fr"),
    ("straße@beispiel.de", "STRASSE@BEISPIEL.DE"),
    ("ΣΊΣΥΦΟΣ@παράδειγμα.gr", "σίσυφος@παράδειγμα.gr"),
    ("ＦＵＬＬ@example.jp", "full@example.jp"),  # noqa: RUF001  (fullwidth on purpose)
    ("re\u0301sume\u0301@example.com", "résumé@example.com"),
    ("ÅNGSTRÖM@example.se", "ångström@example.se"),
]
# Pairs whose keys differ: two users.
DIFFERENT_USERS = [
    ("dotless\u0131@example.tr", "dotlessi@example.tr"),
    ("pad@example.com", "pad@example.com "),
    ("inner@example.com", "inner @example.com"),
    ("accent@example.com", "accént@example.com"),
]


@case(3, "emails are stored exactly as given, case preserved")
async def case_email_stored_as_given(ctx: CaseContext) -> None:
    emails = ["Mixed.Case@Example.COM", "  spaced@example.com", "ÉLODIE@exemple.fr"]
    async with ctx.session() as s:
        ids = [(await s.users.create(ctx.user(e))).id for e in emails]
    async with ctx.session() as s:
        for user_id, email in zip(ids, emails, strict=True):
            found = await s.users.get(user_id)
            ctx.expect(found is not None, f"{email!r} found")
            assert found is not None
            ctx.expect_equal(found.email, email, "stored email")


@case(3, "lookups ignore case by the email key, non-ASCII letters included")
async def case_email_lookup_by_key(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        for stored, other in SAME_USER:
            assert email_key(stored) == email_key(other)
            user = await s.users.create(ctx.user(stored))
            found = await s.users.get_by_email(other)
            ctx.expect(found is not None and found.id == user.id, f"{other!r} finds {stored!r}")
            dup = ctx.expect_raises(UserAlreadyExists, s.users.create(ctx.user(other)), other)
            await dup
    ctx.observe(f"{len(SAME_USER)} pairs matched")


@case(3, "emails whose keys differ are different users (padding and accents count)")
async def case_email_distinct_keys(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        for first, second in DIFFERENT_USERS:
            assert email_key(first) != email_key(second)
            a = await s.users.create(ctx.user(first))
            b = await s.users.create(ctx.user(second))
            ctx.expect(a.id != b.id, f"{first!r} and {second!r} are two users")
            got_a = await s.users.get_by_email(first)
            got_b = await s.users.get_by_email(second)
            ctx.expect(got_a is not None and got_a.id == a.id, f"lookup {first!r}")
            ctx.expect(got_b is not None and got_b.id == b.id, f"lookup {second!r}")
        ctx.expect_equal(await s.users.get_by_email("pad@example.com  "), None, "two spaces")


@case(3, "an email whose key is taken is refused with UserAlreadyExists, nothing written")
async def case_email_unique(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        first = await s.users.create(ctx.user("owner@example.com"))
        await ctx.expect_raises(
            UserAlreadyExists, s.users.create(ctx.user("OWNER@EXAMPLE.COM")), "create"
        )
        found = await s.users.get_by_email("owner@example.com")
        ctx.expect(found is not None and found.id == first.id, "the first user is intact")
        assert found is not None
        ctx.expect_equal(found.email, "owner@example.com", "the first user's email")


@case(3, "an update to a taken email key raises UserAlreadyExists; one's own key is fine")
async def case_email_update_unique(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        await s.users.create(ctx.user("taken@example.com"))
        user = await s.users.create(ctx.user("mine@example.com"))
        await ctx.expect_raises(
            UserAlreadyExists, s.users.update(user, {"email": "Taken@Example.com"}), "update"
        )
    async with ctx.session() as s:
        user = await s.users.get_by_email("mine@example.com")
        ctx.expect(user is not None, "the user keeps its email after a refused update")
        assert user is not None
        ctx.expect_equal(user.email, "mine@example.com", "email after refused update")
        user = await s.users.update(user, {"email": "MINE@example.com"})
        ctx.expect_equal(user.email, "MINE@example.com", "own key, new case")
        user = await s.users.update(user, {"email": "new@example.com"})
        found = await s.users.get_by_email("NEW@example.com")
        ctx.expect(found is not None and found.id == user.id, "lookup by the new email")
        ctx.expect_equal(await s.users.get_by_email("mine@example.com"), None, "old email")


@case(3, "50 concurrent creates of one email leave one user; 49 get UserAlreadyExists")
async def case_email_concurrent_creates(ctx: CaseContext) -> None:
    fullwidth = "ＲＡＣＥ@example.com"  # noqa: RUF001  (fullwidth on purpose)
    variants = ["race@example.com", "RACE@example.com", "Race@Example.Com", fullwidth]

    async def attempt(i: int) -> object:
        async with ctx.session() as s:
            try:
                return await s.users.create(ctx.user(variants[i % len(variants)]))
            except UserAlreadyExists as exc:
                return exc

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, UserAlreadyExists)]
    others = [o for o in outcomes if isinstance(o, BaseException) and o not in refused]
    ctx.observe(f"{50 - len(refused) - len(others)} created, {len(refused)} refused")
    ctx.expect(not others, f"unexpected errors: {[type(o).__name__ for o in others][:3]}")
    ctx.expect_equal(len(refused), 49, "UserAlreadyExists count")
    async with ctx.session() as s:
        ctx.expect(await s.users.get_by_email("race@example.com") is not None, "one user stored")


# 4. OAuth accounts --------------------------------------------------------------------


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


# 5. Deletion --------------------------------------------------------------------------


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


# 6. Access tokens ---------------------------------------------------------------------


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


# 7. Bad input -------------------------------------------------------------------------

BAD_USERS: list[tuple[str, dict[str, Any]]] = [
    ("email", {"email": "x" * 310 + "@example.com"}),
    ("hashed_password", {"hashed_password": "h" * 1025}),
    ("email", {"email": "nul\x00@example.com"}),
    ("email", {"email": "bell\x07@example.com"}),
    ("email", {"email": "line\n@example.com"}),
    ("email", {"email": ""}),
    ("email", {"email": 12345}),
    ("email", {"email": None}),
    ("is_active", {"is_active": "yes"}),
    ("is_superuser", {"is_superuser": 1}),
    ("hashed_password", {"hashed_password": b"bytes"}),
    ("hashed_password", {"hashed_password": "nul\x00"}),
    ("email", {"email": "surrogate\ud800@example.com"}),
    ("nickname", {"nickname": "not a column"}),
]
BAD_ACCOUNTS: list[tuple[str, dict[str, Any]]] = [
    ("oauth_name", {"oauth_name": "n" * 101}),
    ("account_id", {"account_id": "i" * 321}),
    ("account_email", {"account_email": "e" * 321}),
    ("oauth_name", {"oauth_name": "git\x00hub"}),
    ("account_id", {"account_id": "12\t3"}),
    ("account_email", {"account_email": "a\x1f@b.c"}),
    ("expires_at", {"expires_at": "tomorrow"}),
    ("expires_at", {"expires_at": 1.5}),
    ("access_token", {"access_token": None}),
    ("scope", {"scope": "openid"}),
]


@case(7, "bad user fields raise InvalidUserData naming the field; nothing is written")
async def case_bad_user_input(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        for field, change in BAD_USERS:
            data = {**ctx.user("victim@example.com"), **change}
            exc = await ctx.expect_raises(InvalidUserData, s.users.create(data), f"create {field}")
            ctx.expect_equal(getattr(exc, "field", None), field, "InvalidUserData.field")
            ctx.expect_equal(await s.users.get_by_email("victim@example.com"), None, "written")
        user = await s.users.create(ctx.user("victim@example.com"))
        for field, change in BAD_USERS:
            exc = await ctx.expect_raises(
                InvalidUserData, s.users.update(user, change), f"update {field}"
            )
            ctx.expect_equal(getattr(exc, "field", None), field, "InvalidUserData.field")
        found = await s.users.get(user.id)
    assert found is not None
    ctx.expect_equal(
        (found.email, found.hashed_password, found.is_active, found.is_superuser),
        ("victim@example.com", ctx.user()["hashed_password"], True, False),
        "stored user after refused updates",
    )
    ctx.observe(f"{len(BAD_USERS)} bad inputs refused on create and update")


@case(7, "bad OAuth-account fields raise InvalidUserData naming the field; nothing is written")
async def case_bad_account_input(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        for field, change in BAD_ACCOUNTS:
            exc = await ctx.expect_raises(
                InvalidUserData,
                s.users.add_oauth_account(user, {**ctx.account(), **change}),
                f"add_oauth_account {field}",
            )
            ctx.expect_equal(getattr(exc, "field", None), field, "InvalidUserData.field")
        ctx.expect_equal(await s.users.get_by_oauth_account("github", "1001"), None, "written")
        found = await s.users.get(user.id)
        assert found is not None
        ctx.expect_equal(len(found.oauth_accounts), 0, "accounts after refused links")


@case(7, "values at the length limits are accepted")
async def case_values_at_limits(ctx: CaseContext) -> None:
    email = "e" * 300 + "@" + "d" * 15 + ".com"
    assert len(email) == 320
    async with ctx.session() as s:
        user = await s.users.create(ctx.user(email, hashed_password="h" * 1024))
        user = await s.users.add_oauth_account(
            user,
            ctx.account("n" * 100, "i" * 320, account_email="a" * 320),
        )
    async with ctx.session() as s:
        found = await s.users.get_by_email(email.upper())
        by_account = await s.users.get_by_oauth_account("n" * 100, "i" * 320)
    ctx.expect(found is not None and found.email == email, "320-character email")
    assert found is not None
    ctx.expect_equal(len(found.hashed_password), 1024, "1024-character hashed_password")
    ctx.expect(by_account is not None, "100-character oauth_name, 320-character account_id")


@case(7, "a lookup by a value that could never be stored returns None")
async def case_impossible_lookups(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        await s.users.create(ctx.user())
        # Wrong types on purpose: a lookup must answer None, whatever it is given.
        bad_emails: list[Any] = [
            "x" * 400 + "@example.com",
            "nul\x00@example.com",
            "",
            123,
            None,
            "surrogate\udc00@example.com",
            "ﷺ" * 320,
        ]
        for bad in bad_emails:
            ctx.expect_equal(await s.users.get_by_email(bad), None, f"get_by_email({bad!r:.20})")
        bad_accounts: list[tuple[Any, Any]] = [
            ("n" * 101, "1"),
            ("github", "i" * 321),
            ("git\x00hub", "1"),
            (None, "1"),
            ("github", 1001),
        ]
        for name, acct in bad_accounts:
            ctx.expect_equal(
                await s.users.get_by_oauth_account(name, acct), None, f"{name!r:.20},{acct!r}"
            )
        bad_tokens: list[Any] = ["t" * 1000, "nul\x00", None, 12, ""]
        for bad_token in bad_tokens:
            ctx.expect_equal(await s.tokens.get_by_token(bad_token), None, f"{bad_token!r:.20}")
        ctx.expect(await s.users.get_by_email("user@example.com") is not None, "still usable")


@case(7, "bad token input raises InvalidUserData; a token needs an existing user")
async def case_bad_token_input(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        for field, data in [
            ("token", {"token": "t" * 44, "user_id": user.id}),
            ("token", {"token": 42, "user_id": user.id}),
            ("user_id", {"token": TOKEN, "user_id": "not-an-id"}),
            ("user_id", {"token": TOKEN}),
            ("created_at", {"token": TOKEN, "user_id": user.id, "created_at": "2030-01-01"}),
            ("scope", {"token": TOKEN, "user_id": user.id, "scope": "all"}),
        ]:
            exc = await ctx.expect_raises(InvalidUserData, s.tokens.create(data), field)
            ctx.expect_equal(getattr(exc, "field", None), field, "InvalidUserData.field")
        ctx.expect_equal(await s.tokens.get_by_token(TOKEN), None, "nothing written")


# 8. Errors and sessions ---------------------------------------------------------------


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


# 9. Transactions ----------------------------------------------------------------------


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


# 10. Round trips ----------------------------------------------------------------------


@case(10, "each lookup is one statement; each create, update and link one write")
async def case_round_trips(ctx: CaseContext) -> None:
    async with ctx.session() as s:
        user = await s.users.create(ctx.user("warm@example.com"))  # warms the connection
        counts: dict[str, int] = {}

        async def count(label: str, call: Awaitable[T]) -> T:
            with ctx.harness.count_statements(ctx.store) as counter:
                result = await call
            counts[label] = counter.count
            return result

        user = await count("create", s.users.create(ctx.user("alice@example.com")))
        user = await count("add_oauth_account", s.users.add_oauth_account(user, ctx.account()))
        await count("get", s.users.get(user.id))
        await count("get_by_email", s.users.get_by_email("ALICE@example.com"))
        await count("get_by_oauth_account", s.users.get_by_oauth_account("github", "1001"))
        await count("update", s.users.update(user, {"is_verified": True}))
        await count("token create", s.tokens.create({"token": TOKEN, "user_id": user.id}))
        await count("get_by_token", s.tokens.get_by_token(TOKEN))
        await count("delete", s.users.delete(user))
    ctx.observe(", ".join(f"{k} {v}" for k, v in counts.items()))
    for label, n in counts.items():
        ctx.expect_equal(n, 1, f"statements for {label}")
