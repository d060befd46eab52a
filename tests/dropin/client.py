"""Drive a served documentation app over HTTP: register, log in, race, read the server's log."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from userstore_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase

from .fake_oauth import code_for

PASSWORD = "pw-correct-horse"
CSRF_COOKIE = "fastapiusersoauthcsrf"


class _Base(DeclarativeBase):
    pass


class _User(SQLAlchemyBaseUserTableUUID, _Base):
    """The documentation apps' user table, as the tests read and write it directly."""


@dataclasses.dataclass
class Server:
    """A documentation app served by uvicorn: where it listens, its auth prefix, its log."""

    base_url: str
    auth: str
    db_url: str
    log_path: Path

    def client(self) -> httpx.AsyncClient:
        """A client over TCP with room for every request of a race at once."""
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        return httpx.AsyncClient(base_url=self.base_url, timeout=60, limits=limits)

    def log(self, since: int = 0) -> str:
        """The server's output from byte ``since`` on."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def assert_clean_log(self, since: int) -> None:
        """No traceback and no 500 in the server's output since byte ``since``."""
        text = self.log(since)
        assert "Traceback" not in text, text[-6000:]
        assert " 500 " not in text, text[-6000:]

    async def register(
        self, client: httpx.AsyncClient, email: str, password: str = PASSWORD
    ) -> httpx.Response:
        return await client.post("/auth/register", json={"email": email, "password": password})

    async def login(
        self, client: httpx.AsyncClient, email: str, password: str = PASSWORD
    ) -> dict[str, str]:
        """Log in with a password; return the bearer header."""
        response = await client.post(
            f"{self.auth}/login", data={"username": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return bearer(response.json()["access_token"])

    async def make_superuser(self, email: str) -> None:
        """Flag the user as superuser, straight in the database (no router does it)."""
        engine = create_async_engine(self.db_url)
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session:
                users = SQLAlchemyUserDatabase(session, _User)
                user = await users.get_by_email(email)
                assert user is not None
                await users.update(user, {"is_superuser": True})
        finally:
            await engine.dispose()

    async def oauth(
        self,
        client: httpx.AsyncClient,
        account_id: str,
        email: str,
        *,
        associate_with: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Go through the fake provider's flow: log in as the account, or associate it."""
        prefix = "/auth/associate/fake" if associate_with else "/auth/fake"
        headers = dict(associate_with or {})
        started = await client.get(f"{prefix}/authorize", headers=headers)
        assert started.status_code == 200, started.text
        state = parse_qs(urlparse(started.json()["authorization_url"]).query)["state"][0]
        # the CSRF cookie is Secure: sent by hand over plain HTTP on loopback
        headers["Cookie"] = f"{CSRF_COOKIE}={started.cookies[CSRF_COOKIE]}"
        return await client.get(
            f"{prefix}/callback",
            params={"code": code_for(account_id, email), "state": state},
            headers=headers,
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def case_variants(email: str, count: int) -> list[str]:
    """``count`` spellings of ``email`` that differ only in the case of their letters.

    The local part's letters vary first; the domain's count too, so an address
    whose random tag is all digits still has enough spellings.
    """
    local, _, domain = email.partition("@")
    letters = [i for i, c in enumerate(local) if c.isalpha()]
    letters += [len(local) + 1 + i for i, c in enumerate(domain) if c.isalpha()]
    spellings = []
    for upper in itertools.product((False, True), repeat=len(letters)):
        chars = list(email)
        for index, up in zip(reversed(letters), upper, strict=True):
            chars[index] = chars[index].upper() if up else chars[index]
        spellings.append("".join(chars))
        if len(spellings) == count:
            return spellings
    raise ValueError(f"{email!r} has fewer than {count} case variants")


def tally(responses: list[httpx.Response]) -> dict[int, int]:
    """Status code to how many responses had it."""
    return dict(sorted(collections.Counter(r.status_code for r in responses).items()))


def details(responses: list[httpx.Response], status: int) -> set[Any]:
    """The ``detail`` values of the responses with ``status``."""
    return {r.json().get("detail") for r in responses if r.status_code == status}


async def gather(*requests: Any) -> list[httpx.Response]:
    return list(await asyncio.gather(*requests))
