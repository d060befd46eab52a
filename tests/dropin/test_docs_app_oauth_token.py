"""The documentation's OAuth example on the database strategy, imports switched, over HTTP.

``docs_app_oauth_token`` served by uvicorn on each backend (see ``conftest.py``):
OAuth accounts and access tokens both hang off the user; deleting it deletes both.
"""

from . import scenarios
from .client import Server

APP = "tests.dropin.docs_app_oauth_token.app:app"
AUTH = "/auth/database"


async def test_account_lifecycle(server: Server) -> None:
    await scenarios.account_lifecycle(server, logout_revokes=True)


async def test_oauth_accounts(server: Server) -> None:
    await scenarios.oauth_accounts(server)


async def test_concurrent_first_oauth_logins(server: Server) -> None:
    await scenarios.concurrent_oauth_logins(server)


async def test_concurrent_deletes_of_one_user(server: Server) -> None:
    await scenarios.concurrent_deletes(server)
