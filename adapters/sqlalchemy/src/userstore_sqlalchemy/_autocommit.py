"""A ``connect()`` store's statements outside transaction blocks, each committing itself.

Where the shim says autocommit is a flag of the client (PostgreSQL: asyncpg,
psycopg), a statement that is a whole unit of work needs no ``BEGIN`` before it
and no ``COMMIT`` after it: one round trip instead of three.  That holds for a
lookup, and for a write made of one statement (an INSERT, an UPDATE or a
DELETE, after reads of its own if need be), which the server commits, or not,
as a whole.

It runs on an autocommit view of the store's engine (same pool, the level set
on the connection while the store holds it, the engine's set back on return).
A write takes it only when nothing else would go out or come in with it:

- outside a ``transaction()`` block, in a session with no transaction open (or
  one begun by attaching objects, with no connection yet) and nothing to flush,
  on objects that are new or already in the session (one attached by the write
  would bring along what it holds, changes included);
- with no listener of the application on the engine's statements or
  transactions, on the session's flushes or commits, or on the models' writes
  (:mod:`._listeners`): an ``after_insert`` that writes a row of its own, or a
  ``begin`` that runs ``SET LOCAL``, must find the transaction they expect;
- on an engine given no isolation level of its own (or READ COMMITTED, what an
  autocommitted statement runs in by the server's default).

A connection lost while the write's statement was out leaves its outcome open,
as a lost COMMIT does: the write raises ``CommitOutcomeUnknown``, and the
methods that can recognise their write look for it (``SessionRunner.resolve``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Mapper, Session, SessionTransactionOrigin

from ._listeners import app_listens_to_engine, listens_to_persistence, own_model_listeners
from .dialects import shim_for
from .dialects._base import engine_isolation_level

__all__ = ["Autocommit", "autocommit_for", "holds_no_connection", "sent_a_write"]

_LEVELS = (None, "READ COMMITTED", "AUTOCOMMIT")
_WRITES = ("INSERT", "UPDATE", "DELETE")


class Autocommit:
    """The autocommit view of a store's engine, and when a write may run on it."""

    def __init__(self, engine: Engine, mappers: Iterable[Mapper[Any]]) -> None:
        self.primary = engine
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.models = [(mapper, own_model_listeners(mapper)) for mapper in mappers]

    def takes_write(self, session: Session) -> bool:
        """Whether a one-statement write of ``session`` may commit itself now (see the module)."""
        if not holds_no_connection(session) or session.new or session.dirty or session.deleted:
            return False
        if app_listens_to_engine(self.primary):
            return False
        return not listens_to_persistence(session, self.models)


def holds_no_connection(session: Session) -> bool:
    """Whether ``session`` has no transaction open, or one it began that has no connection yet.

    ``session.add()`` of a detached object begins the session's transaction
    without a connection: nothing has been sent in it.  The transaction's
    connections are its private ``_connections`` (tests/sqlalchemy/test_private_apis.py).
    """
    transaction = session.get_transaction()
    if transaction is None:
        return True
    if transaction.origin is not SessionTransactionOrigin.AUTOBEGIN:
        return False
    return not getattr(transaction, "_connections", True)


def autocommit_for(engine: Engine, mappers: Iterable[Mapper[Any]]) -> Autocommit | None:
    """An :class:`Autocommit` for ``engine`` where its shim and isolation level allow one."""
    if not shim_for(engine.dialect).alone_in_autocommit:
        return None
    if engine_isolation_level(engine.dialect) not in _LEVELS:
        return None
    return Autocommit(engine, mappers)


def sent_a_write(error: BaseException) -> bool:
    """Whether ``error`` (or what it came from) failed an INSERT, UPDATE or DELETE."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, StatementError):
            statement = (seen.statement or "").lstrip()[:6].upper()
            return statement in _WRITES
        seen = seen.__cause__ or seen.__context__
    return False
