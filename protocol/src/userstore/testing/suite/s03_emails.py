"""Contract section 3, Emails: its rules as cases any adapter runs."""

from __future__ import annotations

import asyncio

from ..._errors import UserAlreadyExists
from ..._fields import email_key
from .._suite import CaseContext, case

__all__: list[str] = []


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
