"""What can block the move from a fastapi-users-db-sqlalchemy 7 schema: rows in the way."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

__all__ = ["Conflict", "MigrationBlocked"]


_REPORT_LIMIT = 50
"""How many conflicts the exception's message spells out (``conflicts`` holds them all)."""


@dataclasses.dataclass(frozen=True)
class Conflict:
    """Rows that cannot all keep their values under one of userstore's unique rules.

    ``key`` is what they share (the email key, or ``(oauth_name, account_id)``);
    ``rows`` holds each row's primary key and the stored values the key came from.
    """

    table: str
    reason: str
    key: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def describe(self) -> str:
        """A few lines for a person: the reason, the key, then one line per row."""
        lines = [f"{self.table}: {self.reason}: {', '.join(map(repr, self.key))}"]
        lines += [f"    {', '.join(map(repr, row))}" for row in self.rows]
        return "\n".join(lines)


class MigrationBlocked(Exception):
    """The data breaks a rule the new schema enforces; the migration changed nothing.

    ``conflicts`` lists every offending group of rows.  Resolve them (merge or
    delete the duplicate users, unlink the duplicate OAuth accounts) and run the
    migration again.
    """

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        self.conflicts = tuple(conflicts)
        shown = "\n".join(conflict.describe() for conflict in self.conflicts[:_REPORT_LIMIT])
        more = len(self.conflicts) - _REPORT_LIMIT
        tail = f"\n... and {more} more (see .conflicts)" if more > 0 else ""
        super().__init__(
            f"{len(self.conflicts)} conflict(s) stop the move to userstore's schema; "
            f"nothing was changed:\n{shown}{tail}"
        )
