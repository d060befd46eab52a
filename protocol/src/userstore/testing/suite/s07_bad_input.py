"""Contract section 7, Bad input: its rules as cases any adapter runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from ..._errors import InvalidUserData
from .._suite import CaseContext, case
from ._helpers import TOKEN, UTC

__all__: list[str] = []


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


async def _purge(session: Any, older_than: Any, batch_size: Any) -> list[int]:
    return [n async for n in session.purge_tokens(older_than, batch_size=batch_size)]


@case(7, "bad paging and clean-up arguments raise InvalidUserData naming the argument")
async def case_bad_admin_arguments(ctx: CaseContext) -> None:
    aware = dt.datetime(2030, 1, 1, tzinfo=UTC)
    naive = dt.datetime(2030, 1, 1)
    async with ctx.session() as s:
        user = await s.users.create(ctx.user())
        await s.tokens.create({"token": TOKEN, "user_id": user.id, "created_at": aware})
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("limit", lambda: s.list_users(limit=0)),
            ("limit", lambda: s.list_users(limit=True)),
            ("limit", lambda: s.list_users(limit="2")),  # type: ignore[arg-type]
            ("after", lambda: s.list_users(after="not-an-id")),
            ("older_than", lambda: s.count_tokens(naive)),
            ("older_than", lambda: s.tokens.delete_expired(naive)),
            ("limit", lambda: s.tokens.delete_expired(aware + dt.timedelta(days=1), limit=0)),
            ("batch_size", lambda: _purge(s, aware + dt.timedelta(days=1), 0)),
            ("batch_size", lambda: _purge(s, aware + dt.timedelta(days=1), 2.5)),
            ("older_than", lambda: _purge(s, naive, 10)),
        ]
        for field, call in calls:
            exc = await ctx.expect_raises(InvalidUserData, call(), field)
            ctx.expect_equal(getattr(exc, "field", None), field, "InvalidUserData.field")
        ctx.expect_equal(await s.count_tokens(), 1, "nothing deleted")
        ctx.expect_equal(len(await s.list_users()), 1, "the user kept")
