"""``userstore users ...``: create, list in pages, show, change and delete users."""

from __future__ import annotations

import uuid

import pytest
from pwdlib import PasswordHash

import userstore

from .conftest import CLIDatabase, run_async

PASSWORD = "correct horse battery staple"


@pytest.fixture
def db(cli_db: CLIDatabase) -> CLIDatabase:
    """The test's database with the default tables created by ``userstore init``."""
    cli_db.ok("init")
    return cli_db


def _stored_user(url: str, email: str) -> object:
    async def read() -> object:
        async with userstore.connect(url) as store, store.session() as session:
            return await session.users.get_by_email(email)

    return run_async(read())


def test_create_reads_the_password_from_stdin_and_hashes_it(db: CLIDatabase) -> None:
    done = db.ok("users", "create", "Ada@Example.com", "--superuser", stdin=f"{PASSWORD}\n")
    assert done.stdout.startswith("created user ")
    assert done.stdout.rstrip().endswith(" Ada@Example.com")
    assert PASSWORD not in done.stdout

    user = _stored_user(db.url, "ada@example.com")
    hashed = user.hashed_password  # type: ignore[attr-defined]
    assert hashed.startswith("$argon2id$")
    assert PasswordHash.recommended().verify(PASSWORD, hashed)
    assert (user.email, user.is_superuser, user.is_verified) == (  # type: ignore[attr-defined]
        "Ada@Example.com",
        True,
        False,
    )


def test_create_json_and_a_taken_email(db: CLIDatabase) -> None:
    record = db.ok("users", "create", "bob@example.com", "--verified", "--json", stdin="pw\n")
    created = record.json()
    assert uuid.UUID(created["id"])
    assert created == {
        "id": created["id"],
        "email": "bob@example.com",
        "is_active": True,
        "is_superuser": False,
        "is_verified": True,
        "password_hasher": "argon2id",
        "oauth_accounts": [],
    }
    again = db.run("users", "create", "BOB@example.COM", stdin="pw\n")  # the same email key
    assert again.status == 1
    assert again.stdout == ""
    assert again.stderr == "userstore: a user with the email 'BOB@example.COM' exists already\n"


def test_create_refuses_an_empty_password(db: CLIDatabase) -> None:
    done = db.run("users", "create", "eve@example.com", stdin="\n")
    assert (done.status, done.stderr) == (2, "userstore: an empty password is refused\n")
    assert _stored_user(db.url, "eve@example.com") is None


def test_list_pages_through_every_user_in_id_order(db: CLIDatabase) -> None:
    emails = [f"user{i:02}@example.com" for i in range(11)]
    _seed_users(db.url, emails)

    listed = db.ok("users", "list", "--page-size", "3")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "active", "superuser", "verified", "email"]
    assert lines[-1] == "11 users"
    rows = [line.split() for line in lines[1:-1]]
    assert sorted(row[-1] for row in rows) == emails
    assert all(row[1:4] == ["yes", "no", "no"] for row in rows)

    document = db.ok("users", "list", "--page-size", "4", "--json").json()
    ids = [u["id"] for u in document["users"]]
    assert document["count"] == 11
    assert len(set(ids)) == 11
    assert ids == [row[0] for row in rows]  # one order: the database's
    assert document["last_id"] == ids[-1]

    first = db.ok("users", "list", "--page-size", "2", "--limit", "5", "--json").json()
    assert [u["id"] for u in first["users"]] == ids[:5]
    rest = db.ok("users", "list", "--after", first["last_id"], "--json").json()
    assert [u["id"] for u in rest["users"]] == ids[5:]
    assert rest["count"] == 6


def test_list_of_an_empty_table(db: CLIDatabase) -> None:
    assert db.ok("users", "list").stdout.splitlines()[-1] == "0 users"
    assert db.ok("users", "list", "--json").json() == {"users": [], "count": 0, "last_id": None}


def test_show_by_email_key_or_id(db: CLIDatabase) -> None:
    created = db.ok("users", "create", "Straße@example.de", "--json", stdin="pw\n").json()
    by_key = db.ok("users", "show", "STRASSE@EXAMPLE.DE", "--json").json()
    by_id = db.ok("users", "show", created["id"], "--json").json()
    assert by_key == by_id == created

    text = db.ok("users", "show", created["id"]).stdout.splitlines()
    assert text[0].split() == ["id:", created["id"]]
    assert text[1].split() == ["email:", "Straße@example.de"]
    assert ["password_hasher:", "argon2id"] in [line.split() for line in text]
    assert "$argon2" not in db.ok("users", "show", created["id"]).stdout

    missing = db.run("users", "show", "nobody@example.com")
    assert missing.status == 1
    assert missing.stdout == ""
    assert missing.stderr == "userstore: no user has the id or email 'nobody@example.com'\n"


def test_show_lists_oauth_accounts_without_their_tokens(db: CLIDatabase) -> None:
    db.ok("users", "create", "oauth@example.com", stdin="pw\n")

    async def link() -> None:
        async with userstore.connect(db.url) as store, store.session() as session:
            user = await session.users.get_by_email("oauth@example.com")
            for name in ("github", "google"):
                account = {
                    "oauth_name": name,
                    "account_id": f"{name}-7",
                    "account_email": "oauth@example.com",
                    "access_token": "provider-secret-token",
                    "expires_at": 1_900_000_000,
                }
                user = await session.users.add_oauth_account(user, account)

    run_async(link())
    shown = db.ok("users", "show", "oauth@example.com", "--json")
    assert shown.json()["oauth_accounts"] == [
        {
            "oauth_name": name,
            "account_id": f"{name}-7",
            "account_email": "oauth@example.com",
            "expires_at": 1_900_000_000,
        }
        for name in ("github", "google")
    ]
    text = db.ok("users", "show", "oauth@example.com").stdout
    assert ["oauth_accounts:", "2"] in [line.split() for line in text.splitlines()]
    assert "  github  github-7  oauth@example.com  expires 1900000000" in text
    assert "provider-secret-token" not in shown.stdout + text


def test_deactivate_activate_and_superuser(db: CLIDatabase) -> None:
    db.ok("users", "create", "carol@example.com", stdin="pw\n")

    off = db.ok("users", "deactivate", "carol@example.com")
    assert off.stdout.endswith(": is_active = no\n")
    assert db.ok("users", "show", "carol@example.com", "--json").json()["is_active"] is False
    back = db.ok("users", "activate", "carol@example.com", "--json").json()
    assert back["is_active"] is True

    up = db.ok("users", "set-superuser", "carol@example.com", "--json").json()
    assert up["is_superuser"] is True
    down = db.ok("users", "set-superuser", "carol@example.com", "--off")
    assert down.stdout.endswith(": is_superuser = no\n")
    user = _stored_user(db.url, "carol@example.com")
    assert (user.is_active, user.is_superuser) == (True, False)  # type: ignore[attr-defined]


def test_delete_needs_yes_when_stdin_is_not_a_terminal(db: CLIDatabase) -> None:
    created = db.ok("users", "create", "dan@example.com", "--json", stdin="pw\n").json()
    _seed_token(db.url, "dan@example.com")

    refused = db.run("users", "delete", "dan@example.com")
    assert refused.status == 2
    assert refused.stderr == (
        "userstore: refusing to delete without --yes (stdin is not a terminal)\n"
    )
    assert _stored_user(db.url, "dan@example.com") is not None

    done = db.ok("users", "delete", "dan@example.com", "--yes", "--json")
    assert done.json() == {"deleted": created}
    assert _stored_user(db.url, "dan@example.com") is None
    assert db.execute("SELECT count(*) FROM accesstoken") == [(0,)]  # its tokens went with it

    again = db.run("users", "delete", created["id"], "--yes")
    assert again.status == 1
    assert again.stderr == f"userstore: no user has the id or email {created['id']!r}\n"


def _seed_users(url: str, emails: list[str]) -> None:
    async def seed() -> None:
        async with (
            userstore.connect(url) as store,
            store.session() as session,
            session.transaction(),
        ):
            for email in emails:
                await session.users.create({"email": email, "hashed_password": "$x$"})

    run_async(seed())


def _seed_token(url: str, email: str) -> None:
    async def seed() -> None:
        async with userstore.connect(url) as store, store.session() as session:
            user = await session.users.get_by_email(email)
            assert user is not None
            await session.tokens.create({"token": "t" * 43, "user_id": user.id})

    run_async(seed())
