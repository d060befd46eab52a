"""Rows a lookup loaded in the session's current transaction, taken again without SQL.

FastAPI Users' database strategy looks the access token up, then the user by
its id: the token lookup loads the user too (one statement, a join), and
records it here; the user lookup that follows takes that object when it is the
same row, read in the same transaction of the same session, and neither
expired nor modified since.  Any other lookup goes to the database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, attributes

__all__ = ["fresh", "remember"]

_KEY = "userstore.fresh"


def remember(session: Session, obj: Any) -> None:
    """Record that ``obj`` was just loaded in ``session``'s current transaction.

    The record holds ``obj``: nothing else may (the token has no relationship to
    its user), and the identity map alone would let it go.
    """
    key = attributes.instance_state(obj).key
    session.info[_KEY] = (session.get_transaction(), key, obj)


def fresh(session: Session, key: Any, loaded: str | None) -> Any:
    """The object under identity ``key`` if :func:`remember` recorded it in this transaction.

    ``loaded`` names an attribute that must be loaded too (``oauth_accounts``).
    """
    recorded = session.info.get(_KEY)
    if recorded is None:
        return None
    transaction, recorded_key, obj = recorded
    if recorded_key != key or transaction is None or transaction is not session.get_transaction():
        return None
    if session.identity_map.get(key) is not obj:
        return None
    state = attributes.instance_state(obj)
    if (
        state.modified
        or state.expired_attributes
        or (loaded is not None and loaded not in state.dict)
    ):
        return None
    return obj
