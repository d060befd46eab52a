"""Issue 8, part 4b: the objects a store returns never show a secret in their repr.

The SQLAlchemy models' reprs are checked in ``test_leaks.py`` on every backend;
this checks the memory reference adapter's dataclasses, whose generated repr
lists every field.
"""

from __future__ import annotations

import secrets

import userstore


async def test_memory_objects_hide_passwords_and_tokens() -> None:
    hashed = f"hash-{secrets.token_hex(16)}"
    access, refresh = f"pa-{secrets.token_hex(16)}", f"pr-{secrets.token_hex(16)}"
    token = secrets.token_urlsafe(32)
    async with userstore.connect("memory://") as store, store.session() as s:
        user = await s.users.create({"email": "amy@example.com", "hashed_password": hashed})
        user = await s.users.add_oauth_account(
            user,
            {
                "oauth_name": "github",
                "account_id": "7",
                "account_email": "amy@example.com",
                "access_token": access,
                "refresh_token": refresh,
            },
        )
        made = await s.tokens.create({"token": token, "user_id": user.id})
        shown = [repr(user), str(user), repr(user.oauth_accounts[0]), repr(made), str(made)]
    assert "amy@example.com" in shown[0], "the repr still shows the other fields"
    assert [s for s in (hashed, access, refresh, token) if any(s in t for t in shown)] == []
