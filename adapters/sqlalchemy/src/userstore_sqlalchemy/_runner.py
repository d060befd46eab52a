"""How the user and token databases run their statements on the application's session.

- Every connection gets its dialect shim's setup once: through the engine's
  ``connect`` event for connections opened after userstore first saw the engine,
  lazily (flagged in the connection's ``info``) for those opened before.
- Writes commit before returning, unless the caller opened a transaction; then
  they run in a SAVEPOINT so a refused write loses only itself.
- Objects handed to or returned by a method stay readable without I/O: our
  commits expire nothing (``expire_on_commit`` is set aside for them), and after
  an error the objects get their pre-call values back (:mod:`._snapshots`).  A
  write that succeeds copies only the objects it concerns, however many the
  session holds; one that fails copies the session's clean objects too, at the
  failure, before the rollback expires them.
- A write the server rolled back to end a conflict (a deadlock, a serialization
  failure, a Galera certification failure at COMMIT) is run again, up to five
  times in all with a short random pause between, when it is the whole
  transaction (:func:`retry_conflicts`); inside the caller's transaction it
  raises ``TransactionConflict``.
- A connection lost during our COMMIT raises ``CommitOutcomeUnknown``: the
  server may have kept the write.  So does one lost during a write's statement
  when that statement commits itself (a ``connect()`` store's one-statement
  write on PostgreSQL, :mod:`._autocommit`).  The methods that can recognise
  their write look for it on a new connection (:meth:`SessionRunner.resolve`).
- Every failure is handed to :mod:`._translate`, the one place where driver and
  SQLAlchemy errors become the contract's typed errors.

The entry points: :meth:`SessionRunner.lookup` runs one read and translates its
failure; :meth:`SessionRunner.read` is the same as a block, for reads made of
several statements; :meth:`SessionRunner.query` runs a function on the sync
session (inside a lookup or a write); :meth:`SessionRunner.connection` is the
prepared connection those use; :meth:`SessionRunner.write` runs a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import random
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar, cast

from sqlalchemy import MetaData, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Mapper, Session, SessionTransactionOrigin

from userstore import (
    CommitOutcomeUnknown,
    DatabaseError,
    ReadOnlyServer,
    SchemaOutdated,
    StoreUnavailable,
    UserStoreError,
)

from ._autocommit import Autocommit, holds_no_connection, sent_a_write
from ._direct import NOT_SENT, DirectLookups
from ._listeners import app_listens_to_engine, engine_listeners, note_own_listeners
from ._schema_check import schema_check
from ._snapshots import clean_objects, guarding, restore, snapshot, watch_failures
from ._translate import (
    ErrorMap,
    connect_error,
    raise_translated,
    translate,
)
from .dialects import DialectShim, shim_for

__all__ = ["SessionRunner", "install_shim", "retry_conflicts"]


_PREPARED = "userstore.prepared"
_UNPREPARED = object()
_ATTEMPTS = 5
_PAUSE = 0.004
"""Seconds, doubled after each conflict and drawn at random up to that: concurrent losers
spread out, and the winner's write reaches the other Galera nodes in the meantime."""
_RETRYING = contextvars.ContextVar("userstore.retrying", default=False)

T = TypeVar("T")

S = TypeVar("S")

P = ParamSpec("P")

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def install_shim(engine: Engine) -> DialectShim:
    """Have every connection of ``engine`` set up by its dialect's shim; return the shim.

    The setup runs when a connection is checked out of the pool and has not had
    it yet: the connection is idle then, outside any transaction (SQLite ignores
    ``PRAGMA foreign_keys`` inside one), and connections the pool opened before
    userstore saw the engine get it too.
    """
    shim = shim_for(engine.dialect)
    if engine in _engines:
        return shim

    before = engine_listeners(engine)

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if not record.info.get(_PREPARED):
            shim.on_connect(dbapi_connection, engine.dialect)
            record.info[_PREPARED] = True

    shim.install(engine)
    watch_failures(engine)
    event.listen(engine, "checkout", on_checkout)
    note_own_listeners(engine, before)
    _engines.add(engine)
    return shim


class SessionRunner:
    """Reads, writes, commits and error translation for one ``AsyncSession``."""

    def __init__(
        self, session: AsyncSession, mapper: Mapper[Any], also: Iterable[type[Any] | None] = ()
    ) -> None:
        self.session = session
        self.metadata: MetaData | None = getattr(mapper.local_table, "metadata", None)
        self._bind_arguments = {"mapper": mapper}
        bind = session.sync_session.get_bind(mapper)
        engine = bind.engine if not isinstance(bind, Engine) else bind
        self.engine = engine
        self.dialect = engine.dialect
        self.shim = install_shim(engine)
        # the tables of userstore's models in the mapper's registry (and ``also``'s),
        # checked on the first call on this engine (_schema_check.py)
        self.schema = schema_check(engine, mapper, also)
        self.server = self.shim.location(engine.url)
        # a connect() store's autocommit view of its engine, set by its session on
        # PostgreSQL: lookups and one-statement writes outside a transaction run
        # there alone (_read_alone, write)
        self.autocommit: Autocommit | None = None
        # a connect() store's lookups sent through the driver (_direct.py), set by its session
        self.direct: DirectLookups | None = None
        # userstore_sqlalchemy.routing.RoutingSession.reading, where the session routes
        self._reading: Callable[[], contextlib.AbstractContextManager[None]] | None = getattr(
            session.sync_session, "reading", None
        )

    async def connection(self) -> AsyncConnection:
        """The session's connection for our tables, prepared by the shim.

        A failure to open it raises ``StoreUnavailable`` naming the server; on the
        engine's first call, tables that lack what the models declare raise
        ``SchemaOutdated``.
        """
        try:
            connection = await self.session.connection(bind_arguments=self._bind_arguments)
        except Exception as error:
            mapped = connect_error(self.engine, error)
            if mapped is error:
                raise
            raise mapped from error
        # the pool record's info, as the checkout listener sees it; read without
        # get_raw_connection(), which costs a greenlet hop (~10 µs) on every call
        info = connection.info
        if not info.get(_PREPARED) and await self.shim.prepare(connection):
            info[_PREPARED] = True
        if not self.schema.verified:
            await connection.run_sync(self.schema.run)
        return connection

    async def query(self, run: Callable[[Session], T]) -> T:
        """``run(session)`` on the sync session, connecting in the same greenlet hop.

        What ``await self.connection()`` followed by ``await session.execute(...)``
        does, one hop to SQLAlchemy's greenlet fewer: a failure to open the
        connection raises ``StoreUnavailable`` naming the server, and a connection
        still without the shim's setup gets it (through :meth:`connection`) before
        ``run``.  Errors are not translated: :meth:`lookup` does that.
        """

        def connected(session: Session) -> Any:
            connection = self._connect(session)
            if not connection.info.get(_PREPARED):
                return _UNPREPARED
            if not self.schema.verified:
                self.schema.run(connection)
            return run(session)

        first: Callable[[Session], Any] = connected
        if self._reads_alone():
            first = functools.partial(self._read_alone, run)
        elif self._reading is not None:  # a RoutingSession: the lookup may go to a replica
            first, run = _as_read(self._reading, connected), _as_read(self._reading, run)
        found = await self.session.run_sync(first)
        if found is _UNPREPARED:
            await self.connection()
            found = await self.session.run_sync(run)
        return cast(T, found)

    def direct_plan(self, kind: str, name: str, statement: Any) -> Any:
        """The compiled lookup ``name`` to send through the driver now, else ``None``.

        ``kind``: what it loads (:meth:`._direct.DirectLookups.plan`).

        Only for a ``connect()`` store's session, outside a transaction block, with
        nothing to flush, when nothing the ORM would do differently is in the way
        (:mod:`._direct`).  On PostgreSQL the session must hold no transaction:
        the lookup then runs alone, on a connection of its own.
        """
        direct = self.direct
        if direct is None or not _nothing_to_flush(self.session) or not direct.usable(self.session):
            return None
        if self.in_caller_transaction():
            return None
        if self.autocommit is not None and not holds_no_connection(self.session.sync_session):
            return None
        return direct.plan(kind, name, statement)

    async def direct_lookup(
        self, plan: Any, params: dict[str, Any], run: Callable[[Session], T]
    ) -> T:
        """The lookup ``plan`` sent through the driver; ``run`` (the ORM's way) if it steps aside.

        On PostgreSQL it runs alone, on a pooled connection it returns right after
        (no ``BEGIN``: the drivers' autocommit); elsewhere on the session's
        connection, in the session's transaction, as the ORM's lookup would (a
        write that follows goes on in it).  Its failures are translated as a
        lookup's (:meth:`lookup`).
        """
        direct = self.direct
        assert direct is not None
        alone = self.autocommit is not None

        def send(session: Session) -> Any:
            if not alone:
                return direct.run(session, self._connect(session), plan, params, self._ready)
            try:
                connection = self.engine.raw_connection()
            except Exception as error:
                # the pool's own error: wrapped as a Connection would wrap it
                wrapped = _as_dbapi_error(self.engine, error)
                mapped = connect_error(self.engine, wrapped)
                if mapped is wrapped:
                    raise wrapped from error
                raise mapped from error
            return direct.run_alone(session, connection, plan, params, self._ready)

        try:
            found = await self.session.run_sync(send)
        except Exception as error:
            await self._read_failed(error)
        if found is NOT_SENT:
            return await self.lookup(run)
        return cast(T, found)

    def _reads_alone(self) -> bool:
        autocommit = self.autocommit
        return (
            autocommit is not None
            and self._reading is None
            and _idle(self.session)
            and not app_listens_to_engine(autocommit.primary)
        )

    def _ready(self, connection: Any) -> bool:
        return bool(connection.info.get(_PREPARED)) and self.schema.verified

    def _read_alone(self, run: Callable[[Session], T], session: Session) -> Any:
        """``run(session)`` on an autocommit connection, then the session's transaction ended.

        For a lookup in a session with no transaction open and nothing to flush:
        the statement goes alone, with no ``BEGIN`` and ``ROLLBACK`` around it,
        and the connection goes back to the pool right after.  The objects it
        loaded stay in the session as a commit would leave them (ending the
        transaction expires nothing); a later write begins a transaction of its
        own.  A connection not yet set up by the shim, or an engine whose tables
        are not checked yet, takes the usual way.
        """
        assert self.autocommit is not None
        primary, session.bind = session.bind, self.autocommit.engine
        try:
            connection = self._connect(session)
            if not connection.info.get(_PREPARED) or not self.schema.verified:
                found: Any = _UNPREPARED
            else:
                found = run(session)
        finally:
            session.bind = primary
        _end_transaction(session)
        return found

    def _connect(self, session: Session) -> Connection:
        try:
            return session.connection(bind_arguments=self._bind_arguments)
        except Exception as error:
            mapped = connect_error(self.engine, error)
            if mapped is error:
                raise
            raise mapped from error

    def refuse_held_key(self, model: Any, key: Any, error: type[UserStoreError]) -> None:
        """Refuse a primary key the session already holds an object for.

        The row exists, so the INSERT would fail; the flush would first warn with
        the key in the message (a clear access token), so refuse before it.
        """
        if key is None:
            return
        mapper: Mapper[Any] = inspect(model)
        if mapper.identity_key_from_primary_key((key,)) in self.session.sync_session.identity_map:
            table_name = getattr(mapper.local_table, "name", "?")
            columns = ", ".join(str(c.name) for c in mapper.primary_key)
            raise error(f"unique key {table_name}({columns}) is taken")

    def in_caller_transaction(self) -> bool:
        """Whether the caller opened the session's transaction (``session.begin()``)."""
        transaction = self.session.sync_session.get_transaction()
        return (
            transaction is not None and transaction.origin is not SessionTransactionOrigin.AUTOBEGIN
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        """Run a lookup: errors translated, the session rolled back after one."""
        try:
            await self.connection()
            yield
        except Exception as error:
            await self._read_failed(error)

    async def lookup(self, run: Callable[[Session], T]) -> T:
        """``await self.query(run)`` with :meth:`read`'s error handling.

        What ``async with self.read()`` around the query does, without a context
        manager around every lookup (~10 µs).
        """
        try:
            return await self.query(run)
        except Exception as error:
            await self._read_failed(error)
            raise  # not reached: _read_failed always raises

    async def _read_failed(self, error: Exception) -> NoReturn:
        """Raise the contract's error for a failed lookup, after rolling the session back."""
        mapped = self.translate(error, {})
        if mapped is None:
            raise error
        if not self.in_caller_transaction():
            held = snapshot(self._clean_objects())
            await self._rollback()
            mapped = await self._diagnose(mapped, error)
            restore(held)
        if mapped is error:
            raise error
        raise_translated(mapped, error)

    async def _diagnose(self, mapped: UserStoreError, error: BaseException) -> UserStoreError:
        """``SchemaOutdated`` if the tables now lack what the models need, else ``mapped``.

        For a database error the contract names no type for (an undefined column
        or table, say), after the rollback: the schema is checked again, and its
        gap, if it has one, is the error to raise.
        """
        if type(mapped) is not DatabaseError:
            return mapped
        self.schema.verified = False

        def check(session: Session) -> None:
            self.schema.run(self._connect(session))

        try:
            await self.session.run_sync(check)
        except SchemaOutdated as outdated:
            return outdated
        except Exception:  # the check could not run: the original error says more
            return mapped
        finally:
            await self._rollback()
        return mapped

    def _clean_objects(self) -> list[Any]:
        return clean_objects(self.session)

    @asynccontextmanager
    async def write(
        self,
        errors: ErrorMap,
        keep: Iterable[Any] = (),
        *,
        table: Any = None,
        one_statement: bool = False,
    ) -> AsyncIterator[None]:
        """Run a write: committed on exit, or inside a SAVEPOINT in the caller's transaction.

        ``keep`` are objects the caller holds: on error they get back the values
        they had on entry; after a commit they stay loaded.  ``table`` is the
        table written, to name a violated key the same way on every backend.
        ``one_statement``: the write sends one INSERT, UPDATE or DELETE (after
        reads, if it must); a ``connect()`` store on PostgreSQL then lets that
        statement commit itself, outside a transaction, when nothing else would
        be written with it (:mod:`._autocommit`).
        """
        keep = tuple(keep)
        before = snapshot(keep)
        session = self.session
        committing = False
        alone = one_statement and self._writes_alone(keep)
        with guarding(session) as guard, self._on_autocommit(alone):
            try:
                connection = await self.connection()
                if self.in_caller_transaction():
                    await self.shim.before_savepoint(connection)
                    async with session.begin_nested():
                        yield
                    return
                yield
                committing = True
                await _commit_keeping_values(session)
            except Exception as error:
                mapped = self.translate(self._conflict_behind(error), errors, table)
                if mapped is None:
                    raise
                if committing:
                    mapped = self.outcome_of_commit(mapped)
                elif alone and sent_a_write(error):
                    mapped = self.outcome_of_commit(mapped, "its statement")
                whole = not self.in_caller_transaction()
                if whole:
                    # the rollback expires every object of the session: what earlier calls
                    # returned stays readable with the values it had (copied at the failure,
                    # before a failed flush's own rollback; this call changed only ``keep``)
                    held = guard.keep()
                    await self._rollback()
                    mapped = await self._diagnose(mapped, error)
                    restore(held)
                restore(before)
                if mapped is error:
                    raise
                if whole and _RETRYING.get() and self._retryable(error):
                    raise _Retry from None
                raise_translated(mapped, error)

    def _writes_alone(self, keep: tuple[Any, ...]) -> bool:
        """Whether this one-statement write may commit itself (:mod:`._autocommit`).

        The objects it writes must be new or already in the session: attaching
        one would cascade to what it holds, and a change made there without a
        call would be flushed with the write.
        """
        autocommit = self.autocommit
        if autocommit is None or self._reading is not None:
            return False
        sync_session = self.session.sync_session
        for obj in keep:
            state = inspect(obj)
            if not state.transient and state.session_id != sync_session.hash_key:
                return False
        return autocommit.takes_write(sync_session)

    @contextlib.contextmanager
    def _on_autocommit(self, alone: bool) -> Iterator[None]:
        """With ``alone``, the session bound to the autocommit view of its engine meanwhile.

        The session's transaction keeps its connection by engine: every statement
        of the write, its flush's included, must ask for the same one.
        """
        if not alone:
            yield
            return
        assert self.autocommit is not None
        sync_session = self.session.sync_session
        primary, sync_session.bind = sync_session.bind, self.autocommit.engine
        try:
            yield
        finally:
            sync_session.bind = primary

    def _conflict_behind(self, error: Exception) -> Exception:
        """The conflict that made ``error``'s ROLLBACK TO SAVEPOINT fail, else ``error``.

        InnoDB ends a deadlock by rolling the whole transaction back, savepoints
        included, so the savepoint's rollback then fails (1305, the savepoint does
        not exist): the conflict is what the caller needs to hear of.
        """
        behind = error.__context__
        if isinstance(behind, Exception) and self._retryable(behind):
            return behind
        return error

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, sa_exc.DBAPIError) and self.shim.is_retryable(error)

    async def _rollback(self) -> None:
        with contextlib.suppress(Exception):  # the connection may be gone; the pool drops it
            await self.session.rollback()

    def translate(
        self, error: BaseException, errors: ErrorMap, table: Any = None
    ) -> UserStoreError | None:
        """The contract's error for ``error``: see :func:`._translate.translate`."""
        return translate(error, errors, self.shim, self.metadata, table, self.server)

    def outcome_of_commit(self, mapped: UserStoreError, during: str = "COMMIT") -> UserStoreError:
        """``CommitOutcomeUnknown`` for a COMMIT whose connection was lost, else ``mapped``.

        ``during``: what was lost, when the write committed itself (its statement).
        """
        lost = isinstance(mapped, StoreUnavailable) and not isinstance(
            mapped, (ReadOnlyServer, CommitOutcomeUnknown)
        )
        if not lost or self.shim.commit_outcome_known:
            return mapped
        return CommitOutcomeUnknown(
            f"the connection to {self.server} was lost during {during}: the write may or "
            "may not be stored"
        )

    async def resolve(
        self, unknown: CommitOutcomeUnknown, find: Callable[[], Coroutine[Any, Any, T | None]]
    ) -> T:
        """What ``find()`` finds of a write whose COMMIT went unanswered, else ``unknown``.

        ``find`` looks the write up through the session, which after the lost
        connection's rollback runs on a new one; when the server cannot be reached
        or the write is not there, ``unknown`` is raised: not found on a new
        connection is no proof (the server may be finishing the commit).
        """
        try:
            found = await find()
        except StoreUnavailable:
            found = None
        if found is None:
            raise unknown
        return found


def _idle(session: AsyncSession) -> bool:
    """Whether ``session`` has no transaction open and no change an autoflush would write."""
    return holds_no_connection(session.sync_session) and _nothing_to_flush(session)


def _nothing_to_flush(session: AsyncSession) -> bool:
    sync_session = session.sync_session
    return not (sync_session.new or sync_session.dirty or sync_session.deleted)


def _as_dbapi_error(engine: Engine, error: Exception) -> Exception:
    """``error`` from the driver as the ``DBAPIError`` ``Engine.connect()`` would raise."""
    dialect = engine.dialect
    base = getattr(dialect.loaded_dbapi, "Error", None)
    if base is None or not isinstance(error, base):
        return error
    wrapped: Exception = sa_exc.DBAPIError.instance(
        None, None, error, base, hide_parameters=engine.hide_parameters, dialect=dialect
    )
    return wrapped


def _end_transaction(session: Session) -> None:
    """End the session's transaction, which only read, releasing its connection.

    ``SessionTransaction.close()``: no flush, no expiry; the connection's own
    rollback is the driver's no-op on an autocommit connection.
    """
    transaction = session.get_transaction()
    if transaction is not None:
        transaction.close()


def _as_read(
    reading: Callable[[], contextlib.AbstractContextManager[None]], run: Callable[[Session], T]
) -> Callable[[Session], T]:
    def read(session: Session) -> T:
        with reading():
            return run(session)

    return read


async def _commit_keeping_values(session: AsyncSession) -> None:
    """Commit without expiring the session's objects, whatever its ``expire_on_commit``.

    What the session holds stays readable without I/O, with the values just
    committed (the contract's promise), and the commit touches no object: the
    expiry it skips is the one walk over the identity map a commit makes.
    """
    sync_session = session.sync_session
    expires = sync_session.expire_on_commit
    sync_session.expire_on_commit = False
    try:
        await session.commit()
    finally:
        sync_session.expire_on_commit = expires


class _Retry(Exception):
    """A write to run again; raised only inside :func:`retry_conflicts`, which catches it."""


def retry_conflicts(
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """Run ``method`` again when its write was rolled back to end a lock conflict.

    :meth:`SessionRunner.write` asks for that, after rolling back and restoring the
    objects, only outside a caller's transaction and only inside this wrapper;
    the last attempt raises its error as any other.
    """

    @functools.wraps(method)
    async def retrying(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        token = _RETRYING.set(True)
        try:
            for attempt in range(_ATTEMPTS - 1):
                with contextlib.suppress(_Retry):
                    return await method(self, *args, **kwargs)
                await asyncio.sleep(random.uniform(0, _PAUSE * 2**attempt))
        finally:
            _RETRYING.reset(token)
        return await method(self, *args, **kwargs)

    return retrying
