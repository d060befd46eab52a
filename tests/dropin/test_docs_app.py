"""FastAPI Users' documentation app (JWT, bearer), imports switched, over real HTTP.

``docs_app`` served by uvicorn in its own process on each backend; see
``conftest.py``.  Registrations and email changes race over TCP, and the
routers answer them as they answer a duplicate found by lookup: 400, never 500.
Passwords are hashed with argon2 at test-sized costs (``serve.py``).
"""

from . import scenarios
from .client import Server

APP = "tests.dropin.docs_app.app:app"
AUTH = "/auth/jwt"


async def test_concurrent_registrations_of_one_address(server: Server) -> None:
    await scenarios.concurrent_registrations(server)


async def test_concurrent_registrations_of_a_second_address(server: Server) -> None:
    await scenarios.concurrent_registrations(server)


async def test_concurrent_email_changes_to_one_address(server: Server) -> None:
    await scenarios.concurrent_email_changes(server)


async def test_account_lifecycle(server: Server) -> None:
    await scenarios.account_lifecycle(server, logout_revokes=False)


async def test_concurrent_deletes_of_one_user(server: Server) -> None:
    await scenarios.concurrent_deletes(server)
