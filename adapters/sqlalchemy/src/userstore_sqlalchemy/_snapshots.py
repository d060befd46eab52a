"""Snapshots of ORM objects' loaded values, to put back after a commit or an error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

__all__ = ["Snapshot", "clean_objects", "restore", "snapshot"]


Snapshot = list[tuple[Any, dict[str, Any]]]


def clean_objects(session: AsyncSession) -> list[Any]:
    """Loaded, unmodified objects of ``session``: the ones a rollback would expire."""
    found = []
    for state in session.sync_session.identity_map.all_states():
        obj = state.obj()
        if obj is not None and not state.modified and not state.expired_attributes:
            found.append(obj)
    return found


def snapshot(objects: Iterable[Any]) -> Snapshot:
    """Copy the loaded values of ``objects`` and of the OAuth accounts they hold."""
    taken: Snapshot = []
    for obj in objects:
        if obj is None:
            continue
        state = attributes.instance_state(obj)
        values = dict(state.dict)
        taken.append((obj, values))
        accounts = values.get("oauth_accounts")
        if accounts is not None:
            values["oauth_accounts"] = list(accounts)
            taken.extend((a, dict(attributes.instance_state(a).dict)) for a in accounts)
    return taken


def restore(taken: Snapshot) -> None:
    """Put snapshot values back as committed (no history, no I/O)."""
    for obj, values in taken:
        manager = attributes.manager_of_class(type(obj))
        for key, value in values.items():
            if key in manager:
                attributes.set_committed_value(obj, key, value)
