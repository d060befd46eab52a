"""Read replicas with read-your-writes: a session class that routes by what a statement does.

::

    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from userstore_sqlalchemy.routing import RoutingSession

    primary = create_async_engine("postgresql+asyncpg://app@db-primary/app")
    replica = create_async_engine("postgresql+asyncpg://app@db-replica/app")
    async_session_maker = async_sessionmaker(
        primary, sync_session_class=RoutingSession, replicas=[replica], expire_on_commit=False
    )

The rules:

- writes (a flush, an INSERT, UPDATE or DELETE) go to the primary, and so does
  every statement after them in the same transaction, and every statement of a
  transaction the application began (``async with session.begin()``): a unit
  of work that reads then writes reads what it will write over;
- other reads (a ``SELECT``, a lazy load, a userstore lookup) go to a replica
  only when it has replayed every transaction this process committed on the
  primary through a routing session: on PostgreSQL by WAL position
  (``pg_current_wal_lsn()`` after such a commit, ``pg_last_wal_replay_lsn()`` on
  the replica), on MariaDB by GTID (``@@gtid_binlog_pos``, ``MASTER_GTID_WAIT``);
  a replica that has not is skipped, and with none left the read goes to the
  primary.  There is no time window to tune;
- statements it cannot classify (``text()``, DDL) go to the primary;
- a replica that cannot be reached, or drops a connection, is left out for
  ``DOWN_FOR`` seconds (the read that met the failure raises ``StoreUnavailable``
  like any lost connection; the reads after it go elsewhere).

What it costs: one query on the primary after each commit that wrote, and one on
a replica the first time a read follows a newer write (its position is then
remembered: reads between writes check nothing).  What it does not do: positions
are this process's own, so a write made by another process (another worker) is
not waited for; an application that needs that passes the position along
(:meth:`ReplicaSet.position`, :meth:`ReplicaSet.wait_for`).

Every engine gets userstore's per-connection setup (the shim's), the replicas'
too.  A write that reaches a server that takes none raises ``ReadOnlyServer``
naming it.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Delete, Insert, Select, Update, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, SessionTransactionOrigin

from ._runner import install_shim
from .dialects import shim_for

__all__ = ["ReplicaSet", "RoutingSession", "replica_set"]


DOWN_FOR = 2.0
"""Seconds a replica that failed to connect, or lost a connection, is left out of reads."""

_sets: weakref.WeakKeyDictionary[Engine, ReplicaSet] = weakref.WeakKeyDictionary()
_sets_lock = threading.Lock()


def _sync(engine: Engine | AsyncEngine) -> Engine:
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


class ReplicaSet:
    """A primary engine, its replica engines, and the last write position this process made.

    One per primary engine and process (:func:`replica_set`), shared by every
    routing session on it, so that a read in one request waits for the write of
    the one before.
    """

    def __init__(self, primary: Engine, replicas: Sequence[Engine]) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.shim = shim_for(primary.dialect)
        for engine in (primary, *self.replicas):
            install_shim(engine)
        self._position: Any = None
        self._unknown = False  # a commit's position could not be read: no replica is safe
        # per replica: the newest position it was seen to have replayed
        self._replayed: dict[int, Any] = {}
        self._down_until: dict[int, float] = {}
        self._turn = itertools.count()
        for index, engine in enumerate(self.replicas):
            self._watch(index, engine)
        self.reads = {"replica": 0, "primary": 0}
        """How many reads each side served (for reports and tests)."""

    def position(self) -> Any:
        """The newest write position this process committed (``None`` before any write)."""
        return self._position

    def record_commit(self) -> None:
        """Read the primary's write position after a commit that wrote, and keep the newest.

        If it cannot be read (the primary went away just after the commit), reads
        go to the primary until a later commit's position is read: the commit
        itself succeeded and is not reported as failed.
        """
        try:
            with self.primary.connect() as connection:
                position = self.shim.write_position(connection)
                connection.rollback()
        except Exception:
            self._unknown = True
            return
        self._unknown = False
        if position is not None and (
            self._position is None or self.shim.covers(position, self._position)
        ):
            self._position = position

    def wait_for(self, position: Any) -> None:
        """Make replica reads wait for ``position`` too (another process's, passed along)."""
        if position is not None and (
            self._position is None or self.shim.covers(position, self._position)
        ):
            self._position = position

    def replica_for_read(self) -> Engine | None:
        """A replica that has replayed this process's writes, or ``None`` (read on the primary)."""
        if not self.replicas or self._unknown:
            if self.replicas:
                self.reads["primary"] += 1
            return None
        start = next(self._turn)
        needed = self._position
        for offset in range(len(self.replicas)):
            index = (start + offset) % len(self.replicas)
            if self._caught_up(index, needed):
                self.reads["replica"] += 1
                return self.replicas[index]
        self.reads["primary"] += 1
        return None

    def _caught_up(self, index: int, needed: Any) -> bool:
        if self._down_until.get(index, 0.0) > time.monotonic():
            return False
        seen = self._replayed.get(index)
        if seen is not None and (needed is None or self.shim.covers(seen, needed)):
            return True
        try:
            with self.replicas[index].connect() as connection:
                replayed = self.shim.replayed(connection, needed)
                connection.rollback()
        except Exception:  # an unreachable replica serves nothing for a while; the primary will
            self._mark_down(index)
            return False
        if replayed is None:
            return False
        if seen is None or self.shim.covers(replayed, seen):
            self._replayed[index] = replayed
        return needed is None or bool(self.shim.covers(replayed, needed))

    def _mark_down(self, index: int) -> None:
        self._down_until[index] = time.monotonic() + DOWN_FOR
        self._replayed.pop(index, None)

    def _watch(self, index: int, engine: Engine) -> None:
        def failed(context: Any) -> None:
            if context.is_disconnect or context.connection is None:
                self._mark_down(index)

        event.listen(engine, "handle_error", failed)


def replica_set(
    primary: Engine | AsyncEngine, replicas: Sequence[Engine | AsyncEngine]
) -> ReplicaSet:
    """The process's :class:`ReplicaSet` of ``primary`` (made with ``replicas`` the first time)."""
    engine = _sync(primary)
    with _sets_lock:
        found = _sets.get(engine)
        wanted = [_sync(r) for r in replicas]
        if found is None or found.replicas != wanted:
            found = _sets[engine] = ReplicaSet(engine, wanted)
        return found


class RoutingSession(Session):
    """A ``Session`` that sends writes to its bind (the primary) and reads to caught-up replicas.

    Pass it as ``sync_session_class`` to ``async_sessionmaker``, with
    ``replicas=[engine, ...]`` (async or sync engines); see the module's text for
    the rules.  Within one transaction the reads stay on the server the first one
    went to, so a request never reads older rows after newer ones.
    """

    def __init__(
        self, bind: Any = None, *, replicas: Sequence[Engine | AsyncEngine] = (), **options: Any
    ) -> None:
        if bind is None:
            raise TypeError("RoutingSession needs the primary engine as its bind")
        super().__init__(bind=bind, **options)
        self.replica_set = replica_set(bind, replicas)
        self._wrote = False
        self._reading = False
        self._server: Engine | None = None  # where this transaction's reads go

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A connection asked for inside this block (with no statement) is for a read."""
        self._reading, before = True, self._reading
        try:
            yield
        finally:
            self._reading = before

    def get_bind(self, mapper: Any = None, clause: Any = None, **kw: Any) -> Any:
        """The primary for writes and whatever follows them; a caught-up replica for reads."""
        if kw.get("bind") is not None:
            return kw["bind"]
        primary = self.replica_set.primary
        if self._flushing or isinstance(clause, (Insert, Update, Delete)):
            self._wrote = True
            return primary
        read = isinstance(clause, Select) or (clause is None and self._reading)
        if self._wrote or not read or self._begun_by_application():
            return primary
        if self._server is None:
            self._server = self.replica_set.replica_for_read() or primary
        return self._server

    def _begun_by_application(self) -> bool:
        transaction = self.get_transaction()
        return (
            transaction is not None and transaction.origin is not SessionTransactionOrigin.AUTOBEGIN
        )


def _after_commit(session: Session) -> None:
    if isinstance(session, RoutingSession) and session._wrote and session.replica_set.replicas:
        session.replica_set.record_commit()


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if isinstance(session, RoutingSession) and transaction.parent is None:
        session._wrote = False
        session._server = None


event.listen(RoutingSession, "after_commit", _after_commit)
event.listen(RoutingSession, "after_transaction_end", _after_transaction_end)
