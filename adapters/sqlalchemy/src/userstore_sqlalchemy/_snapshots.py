"""Snapshots of ORM objects' loaded values, to put back after a commit or an error.

A write copies only the objects it concerns on entry.  If it fails, the session's
other clean objects must survive the rollback, which expires them; a failed
flush rolls back (and expires) before the write's own ``except`` runs, so
:class:`FailureGuard` copies them at the first sign of failure, from the
engine's events (:func:`watch_failures`): a statement the driver refused, or an
UPDATE that matched no row (the flush then raises ``StaleDataError``).  A write
that succeeds copies nothing more, however many objects the session holds.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes

__all__ = [
    "FailureGuard",
    "Snapshot",
    "clean_objects",
    "guarding",
    "restore",
    "snapshot",
    "watch_failures",
]


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


class FailureGuard:
    """What a failing write keeps of its session: the clean objects, before a rollback."""

    __slots__ = ("held", "pending", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # the application's unflushed changes: a rollback must not make them look stored
        dirty = session.sync_session.dirty
        self.pending = {id(obj) for obj in dirty} if dirty else set()
        self.held: Snapshot | None = None

    def keep(self) -> Snapshot:
        """Copy the session's clean objects (once), the application's unflushed ones aside."""
        if self.held is None:
            self.held = snapshot(
                o for o in clean_objects(self.session) if id(o) not in self.pending
            )
        return self.held


_guard: contextvars.ContextVar[FailureGuard | None] = contextvars.ContextVar(
    "userstore.failure_guard", default=None
)


@contextmanager
def guarding(session: AsyncSession) -> Iterator[FailureGuard]:
    """Make ``session``'s clean objects copied at the first failure inside the block."""
    guard = FailureGuard(session)
    token = _guard.set(guard)
    try:
        yield guard
    finally:
        _guard.reset(token)


def watch_failures(engine: Engine) -> None:
    """Have the guard of the write running (if any) copy its objects when a statement fails."""

    def failed(context: Any) -> None:
        guard = _guard.get()
        if guard is not None:
            guard.keep()

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        guard = _guard.get()
        if guard is None or guard.held is not None or cursor.rowcount != 0:
            return
        if statement.lstrip()[:6].upper() == "UPDATE":
            guard.keep()

    event.listen(engine, "handle_error", failed)
    event.listen(engine, "after_cursor_execute", executed)
