"""The documentation's OAuth example (JWT, OAuth accounts), imports switched, over real HTTP.

``docs_app_oauth`` served by uvicorn on each backend (see ``conftest.py``): the
races of ``test_docs_app`` with the OAuth accounts joined-loaded, the account
lifecycle, and the OAuth and associate routers: an account linked to another
user answers 400 ``OAUTH_ACCOUNT_ALREADY_LINKED``, with no exception handler.
"""

from . import scenarios
from .client import Server

APP = "tests.dropin.docs_app_oauth.app:app"
AUTH = "/auth/jwt"


async def test_concurrent_registrations_of_one_address(server: Server) -> None:
    await scenarios.concurrent_registrations(server)


async def test_concurrent_email_changes_to_one_address(server: Server) -> None:
    await scenarios.concurrent_email_changes(server)


async def test_account_lifecycle(server: Server) -> None:
    await scenarios.account_lifecycle(server, logout_revokes=False)


async def test_oauth_accounts(server: Server) -> None:
    await scenarios.oauth_accounts(server)


async def test_concurrent_first_oauth_logins(server: Server) -> None:
    await scenarios.concurrent_oauth_logins(server)
