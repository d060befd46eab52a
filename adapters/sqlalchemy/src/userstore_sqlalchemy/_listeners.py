"""Which event listeners the application added, where userstore's shortcuts must step aside.

A ``connect()`` store sends some statements by shorter ways than the ORM's:
lookups through the driver (:mod:`._direct`), and on PostgreSQL lookups and
one-statement writes on an autocommit connection (:mod:`._autocommit`).  An
application that listens to the engine's statements or transactions, to the
session's flushes or to the models' persistence expects them to pass through
SQLAlchemy as they would without userstore, so then they do.

userstore's own engine listeners (the shim's, the failure guard's) are counted
once, when it first sees the engine; only an engine that had none of the
application's then has its own counts recorded.  Its own model listener (the
user's email key, kept in step on insert and update) is known by its class.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper, Session

from .models import OWN_USER_EVENTS, SQLAlchemyBaseUserTable

__all__ = [
    "app_listens_to_engine",
    "engine_listeners",
    "listens_to_persistence",
    "note_own_listeners",
    "own_model_listeners",
]

_ENGINE_EVENTS = (
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
    "begin",
    "commit",
    "rollback",
)
_FLUSH_EVENTS = (
    "before_flush",
    "after_flush",
    "after_flush_postexec",
    "after_begin",
    "before_commit",
    "after_commit",
    "do_orm_execute",
)
_MAPPER_EVENTS = (
    "before_insert",
    "after_insert",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
)

_own: weakref.WeakKeyDictionary[Engine, dict[str, int]] = weakref.WeakKeyDictionary()


def engine_listeners(engine: Engine) -> dict[str, int]:
    """How many listeners each statement and transaction event of ``engine`` has."""
    dispatch = engine.dispatch
    return {name: len(getattr(dispatch, name)) for name in _ENGINE_EVENTS}


def note_own_listeners(engine: Engine, before: dict[str, int]) -> None:
    """Record the listeners userstore added to ``engine`` since ``before`` (if it had none)."""
    after = engine_listeners(engine)
    if all(count == 0 for count in before.values()):
        _own[engine] = after


def app_listens_to_engine(engine: Engine) -> bool:
    """Whether ``engine`` has statement or transaction listeners beyond userstore's own."""
    own = _own.get(engine)
    return own is None or engine_listeners(engine) != own


def own_model_listeners(mapper: Mapper[Any]) -> dict[str, int]:
    """How many listeners of each write event of ``mapper`` are userstore's (the email key's)."""
    own = OWN_USER_EVENTS if issubclass(mapper.class_, SQLAlchemyBaseUserTable) else ()
    return {name: int(name in own) for name in _MAPPER_EVENTS}


def listens_to_persistence(
    session: Session, models: Iterable[tuple[Mapper[Any], dict[str, int]]]
) -> bool:
    """Whether the session listens to flushes or transactions, or a model to its writes.

    ``models``: each mapper with its :func:`own_model_listeners`.
    """
    dispatch = session.dispatch
    if any(getattr(dispatch, name) for name in _FLUSH_EVENTS):
        return True
    return any(
        len(getattr(mapper.dispatch, name)) != count
        for mapper, own in models
        for name, count in own.items()
    )
