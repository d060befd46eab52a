"""The token database of a store whose application models have no access-token model."""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from userstore import (
    BaseAccessTokenDatabase,
    UserStoreError,
)

__all__ = ["NoAccessTokenModel"]


class NoAccessTokenModel(BaseAccessTokenDatabase[Any]):
    """``tokens`` of a store whose application models have no access-token model.

    Every method raises ``UserStoreError`` saying so; the users work as usual.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def _refuse(self) -> NoReturn:
        raise UserStoreError(
            f"{self.source} maps no access-token model "
            "(a class built on userstore_sqlalchemy.access_token.SQLAlchemyBaseAccessTokenTable)"
        )

    async def get_by_token(self, token: str, max_age: dt.datetime | None = None) -> Any:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def create(self, create_dict: dict[str, Any]) -> Any:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def update(self, access_token: Any, update_dict: dict[str, Any]) -> Any:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def delete(self, access_token: Any) -> None:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def delete_for_user(self, user_id: Any) -> int:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def delete_expired(self, older_than: dt.datetime, *, limit: int | None = None) -> int:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def count_tokens(self, older_than: dt.datetime | None = None) -> int:
        """Refuse: there is no access-token table."""
        self._refuse()
