"""What every test module asserts of its served app, on every backend alike.

Each function drives the app over HTTP and ends by checking the server's log
for the requests it made: no traceback, no 500.
"""

from __future__ import annotations

import uuid

from .client import (
    PASSWORD,
    Server,
    case_variants,
    details,
    gather,
    new_email,
    tally,
)

RACERS = 40
MOVERS = 10


async def concurrent_registrations(server: Server) -> None:
    """40 registrations of one address in case variants: one 201, 39 400s, no 500."""
    since = server.log_size()
    email = new_email("racer")
    async with server.client() as client:
        responses = await gather(
            *(server.register(client, spelling) for spelling in case_variants(email, RACERS))
        )
        assert tally(responses) == {201: 1, 400: RACERS - 1}, (
            tally(responses),
            [r.text for r in responses if r.status_code >= 500][:3],
        )
        assert details(responses, 400) == {"REGISTER_USER_ALREADY_EXISTS"}
        (winner,) = (r.json()["email"] for r in responses if r.status_code == 201)
        headers = await server.login(client, email.upper())
        me = await client.get("/users/me", headers=headers)
        assert me.json()["email"] == winner
    server.assert_clean_log(since)


async def concurrent_email_changes(server: Server) -> None:
    """10 users move to one address at once: one 200, nine 400s; exactly one holds it."""
    since = server.log_size()
    target = new_email("target")
    async with server.client() as client:
        emails = [new_email(f"mover{i}") for i in range(MOVERS)]
        registered = await gather(*(server.register(client, email) for email in emails))
        assert tally(registered) == {201: MOVERS}
        tokens = await gather(*(server.login(client, email) for email in emails))
        spellings = case_variants(target, MOVERS)
        responses = await gather(
            *(
                client.patch("/users/me", json={"email": spelling}, headers=headers)
                for spelling, headers in zip(spellings, tokens, strict=True)
            )
        )
        assert tally(responses) == {200: 1, 400: MOVERS - 1}, (
            tally(responses),
            [r.text for r in responses if r.status_code >= 500][:3],
        )
        assert details(responses, 400) == {"UPDATE_USER_EMAIL_ALREADY_EXISTS"}
        mes = await gather(*(client.get("/users/me", headers=headers) for headers in tokens))
        holders = [i for i, me in enumerate(mes) if me.json()["email"].lower() == target]
        winners = [i for i, r in enumerate(responses) if r.status_code == 200]
        assert holders == winners
        for i, me in enumerate(mes):
            if i not in winners:
                assert me.json()["email"] == emails[i]  # the losers' changes left no trace
    server.assert_clean_log(since)


async def account_lifecycle(server: Server, *, logout_revokes: bool) -> None:
    """Register, log in in another case, read and update oneself, get deleted, log out."""
    since = server.log_size()
    email = new_email("Life")
    admin = new_email("admin")
    async with server.client() as client:
        registered = await server.register(client, email)
        assert registered.status_code == 201, registered.text
        user_id = registered.json()["id"]
        headers = await server.login(client, email.lower().swapcase())
        me = await client.get("/users/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json() == {
            "id": user_id,
            "email": email,
            "is_active": True,
            "is_superuser": False,
            "is_verified": False,
        }

        moved = new_email("Moved")
        patched = await client.patch(
            "/users/me", json={"email": moved, "password": "pw-new-battery"}, headers=headers
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["email"] == moved
        wrong = await client.post(
            f"{server.auth}/login", data={"username": moved, "password": PASSWORD}
        )
        assert wrong.status_code == 400, wrong.text
        headers = await server.login(client, moved.upper(), "pw-new-battery")
        hello = await client.get("/authenticated-route", headers=headers)
        assert hello.json() == {"message": f"Hello {moved}!"}

        assert (await server.register(client, admin)).status_code == 201
        await server.make_superuser(admin)
        admin_headers = await server.login(client, admin)
        assert (await client.get(f"/users/{user_id}", headers=admin_headers)).status_code == 200
        deleted = await client.delete(f"/users/{user_id}", headers=admin_headers)
        assert deleted.status_code == 204, deleted.text
        assert (await client.get(f"/users/{user_id}", headers=admin_headers)).status_code == 404
        assert (await client.get("/users/me", headers=headers)).status_code == 401
        assert (await server.register(client, email.upper())).status_code == 201  # free again

        logout = await client.post(f"{server.auth}/logout", headers=admin_headers)
        assert logout.status_code == 204, logout.text
        after = await client.get("/users/me", headers=admin_headers)
        assert after.status_code == (401 if logout_revokes else 200)
    server.assert_clean_log(since)


async def oauth_accounts(server: Server) -> None:
    """Log in with OAuth, associate accounts, and have the taken ones refused with a 400."""
    since = server.log_size()
    async with server.client() as client:
        account, email = f"acct-{uuid.uuid4().hex[:8]}", new_email("OAuth")
        first = await server.oauth(client, account, email)
        assert first.status_code in (200, 204), first.text
        again = await server.oauth(client, account, email)  # the account's tokens updated
        assert again.status_code == first.status_code, again.text

        owner, other = new_email("owner"), new_email("other")
        for address in (owner, other):
            assert (await server.register(client, address)).status_code == 201
        owner_headers = await server.login(client, owner)
        other_headers = await server.login(client, other)
        linked = f"linked-{uuid.uuid4().hex[:8]}"
        associated = await server.oauth(client, linked, owner, associate_with=owner_headers)
        assert associated.status_code == 200, associated.text
        assert associated.json()["email"] == owner

        # the account is another user's already: FastAPI Users' associate router catches
        # nothing, so this 400 comes from the adapter's own exception
        taken = await server.oauth(client, linked, other, associate_with=other_headers)
        assert taken.status_code == 400, taken.text
        assert taken.json() == {"detail": "OAUTH_ACCOUNT_ALREADY_LINKED"}

        # a new OAuth account whose email a password user holds (associate_by_email off)
        clash = await server.oauth(client, f"clash-{uuid.uuid4().hex[:8]}", owner.upper())
        assert clash.status_code == 400, clash.text
        assert clash.json() == {"detail": "OAUTH_USER_ALREADY_EXISTS"}
    server.assert_clean_log(since)


async def concurrent_oauth_logins(server: Server) -> None:
    """10 first logins of one new OAuth account at once: one user and one link, no 500."""
    since = server.log_size()
    account, email = f"racer-{uuid.uuid4().hex[:8]}", new_email("oauth-racer")
    async with server.client() as client:
        responses = await gather(*(server.oauth(client, account, email) for _ in range(MOVERS)))
        statuses = tally(responses)
        assert set(statuses) <= {200, 204, 400}, (
            tally(responses),
            [r.text for r in responses if r.status_code >= 500][:3],
        )
        assert statuses.get(200, 0) + statuses.get(204, 0) >= 1
        assert details(responses, 400) <= {"OAUTH_USER_ALREADY_EXISTS"}
        assert (await server.register(client, email.upper())).status_code == 400
    server.assert_clean_log(since)


async def concurrent_deletes(server: Server) -> None:
    """A superuser deletes one user five times at once: one 204, four 404s, no 500."""
    since = server.log_size()
    admin, victim = new_email("admin"), new_email("victim")
    async with server.client() as client:
        assert (await server.register(client, admin)).status_code == 201
        await server.make_superuser(admin)
        headers = await server.login(client, admin)
        registered = await server.register(client, victim)
        user_id = registered.json()["id"]
        responses = await gather(
            *(client.delete(f"/users/{user_id}", headers=headers) for _ in range(5))
        )
        # a DELETE that found the user and then lost the race meets the adapter's
        # UserNotExists, which no router catches: its own 404
        assert tally(responses) == {204: 1, 404: 4}, (tally(responses), [r.text for r in responses])
    server.assert_clean_log(since)
