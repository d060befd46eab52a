"""Contract section 10, Round trips: its rules as cases any adapter runs."""

from __future__ import annotations

from collections.abc import Awaitable

from .._suite import CaseContext, case
from ._helpers import TOKEN, T

__all__: list[str] = []


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
