"""The documentation app on the database strategy (access tokens in the database), over HTTP.

``docs_app_token`` served by uvicorn on each backend (see ``conftest.py``):
logging in stores a token through ``SQLAlchemyAccessTokenDatabase``, logging out
deletes it, and deleting the user deletes its tokens.
"""

from . import scenarios
from .client import Server

APP = "tests.dropin.docs_app_token.app:app"
AUTH = "/auth/database"


async def test_concurrent_email_changes_to_one_address(server: Server) -> None:
    await scenarios.concurrent_email_changes(server)


async def test_account_lifecycle(server: Server) -> None:
    await scenarios.account_lifecycle(server, logout_revokes=True)
