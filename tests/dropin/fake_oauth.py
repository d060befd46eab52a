"""An OAuth client that needs no provider: the authorization code names the account.

The documentation's OAuth example uses ``GoogleOAuth2``; the variants here use
:class:`FakeOAuth2` in its place (same base class, same router wiring).  The
code ``fake:<account_id>:<email>`` is exchanged for an access token equal to
it, and the token's profile is the account id and email it carries.
"""

from typing import Any

from httpx_oauth.oauth2 import BaseOAuth2, OAuth2Token


def code_for(account_id: str, email: str) -> str:
    """The authorization code the fake provider vouches for ``(account_id, email)`` with."""
    return f"fake:{account_id}:{email}"


class FakeOAuth2(BaseOAuth2[dict[str, Any]]):
    """A ``BaseOAuth2`` whose token exchange and profile lookup run no HTTP."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        super().__init__(
            client_id,
            client_secret,
            "https://provider.invalid/authorize",
            "https://provider.invalid/token",
            name="fake",
        )

    async def get_access_token(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> OAuth2Token:
        return OAuth2Token(
            {"access_token": code, "expires_in": 3600, "refresh_token": f"refresh-{code}"}
        )

    async def get_id_email(self, token: str) -> tuple[str, str | None]:
        _, account_id, email = token.split(":", 2)
        return account_id, email
