"""The memory store, its sessions and transactions, and the ``memory://`` adapter."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from .._errors import InvalidURL, StoreUnavailable
from .._fields import (
    ACCESS_TOKEN_FIELDS,
    OAUTH_ACCOUNT_FIELDS,
    FieldRule,
    IdType,
    id_rule,
    user_fields,
)
from .._store import Store, StoreSession
from ._objects import _IntIds, _State
from ._tokens import MemoryAccessTokenDatabase
from ._users import MemoryUserDatabase


class MemoryStore(Store):
    """A store whose state lives in this process (``memory://``)."""

    def __init__(
        self,
        *,
        id_type: IdType = "uuid",
        token_digest: bool = False,
        extra_user_fields: Iterable[FieldRule] = (),
    ) -> None:
        if id_type not in ("uuid", "int"):
            raise InvalidURL(f"id_type must be 'uuid' or 'int', not {id_type!r}", part="id_type")
        self.id_type = id_type
        self.token_digest = token_digest
        # email_key and user_id are set by the store, as columns of the SQL models are
        fixed = [FieldRule("email_key", (str,), writable=False)]
        self.user_schema = user_fields(id_type).with_rules([*fixed, *extra_user_fields])
        # OAuth-account ids are always picked by the store: they give the link order
        self.oauth_schema = OAUTH_ACCOUNT_FIELDS.with_rules(
            [
                dataclasses.replace(id_rule(id_type), writable=False),
                FieldRule("user_id", (object,), writable=False),
            ]
        )
        self.token_schema = ACCESS_TOKEN_FIELDS.with_rules(
            [dataclasses.replace(id_rule(id_type), name="user_id", required=True, writable=True)]
        )
        self._state = _State()
        self._int_ids = _IntIds()
        self._lock = asyncio.Lock()
        self.round_trips = 0
        """How many times the state was read or written (each is one 'statement')."""

    @asynccontextmanager
    async def session(self) -> AsyncIterator[MemorySession]:
        """Open a session on this store."""
        session = MemorySession(self)
        try:
            yield session
        finally:
            await session.close()

    async def create_schema(self) -> None:
        """Nothing to create: the state exists from the start."""

    async def drop_schema(self) -> None:
        """Forget everything stored."""
        async with self._lock:
            self._state = _State()
            self._int_ids = _IntIds()

    async def close(self) -> None:
        """Nothing to release."""


class MemorySession(StoreSession):
    """A session of a :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self._tx: _State | None = None
        self._tx_lost = False
        self._severed = False
        self.users: MemoryUserDatabase = MemoryUserDatabase(self)
        self.tokens: MemoryAccessTokenDatabase = MemoryAccessTokenDatabase(self)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block on a private copy of the state; publish it only if the block succeeds.

        Inside another block of this session it is a savepoint: the block works on a
        copy of the enclosing block's state, which takes the copy's place if the
        block succeeds and is kept as it was if the block raises.  The write lock is
        the outermost block's, held until that one ends.
        """
        if self._tx is not None:
            outer = self._tx
            self._tx = copy.deepcopy(outer)
            try:
                yield
            except BaseException:
                self._tx = outer
                raise
            if self._tx_lost:
                self._tx = outer
                raise StoreUnavailable("connection lost during the transaction; nothing committed")
            return
        async with self.store._lock:
            self._tx = copy.deepcopy(self.store._state)
            try:
                yield
            except BaseException:
                self._tx, self._tx_lost = None, False
                raise
            if self._tx_lost:  # the connection was lost inside the block
                self._tx, self._tx_lost = None, False
                raise StoreUnavailable("connection lost during the transaction; nothing committed")
            self.store._state, self._tx = self._tx, None

    def sever(self) -> None:
        """Make the next call fail as a lost connection would (for the conformance suite)."""
        self._severed = True

    async def close(self) -> None:
        """Discard any open transaction."""
        self._tx = None

    def _check_connection(self) -> None:
        if self._tx_lost:
            raise StoreUnavailable("the transaction was lost with its connection")
        if self._severed:
            self._severed = False
            if self._tx is not None:
                self._tx_lost = True
            raise StoreUnavailable("connection lost (simulated)")

    def read(self) -> _State:
        """Return the state this session sees, counting one round trip."""
        self._check_connection()
        self.store.round_trips += 1
        return self._tx if self._tx is not None else self.store._state

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_State]:
        """Yield the state to mutate: the transaction's copy, or the shared state under the lock."""
        self._check_connection()
        self.store.round_trips += 1
        if self._tx is not None:
            yield self._tx
            return
        async with self.store._lock:
            yield self.store._state


class MemoryAdapter:
    """The ``memory://`` adapter: each :meth:`connect` returns a new, empty store."""

    schemes: ClassVar[tuple[str, ...]] = ("memory",)

    @classmethod
    def connect(cls, url: str, **options: Any) -> MemoryStore:
        """Return a new :class:`MemoryStore`; options are those of its constructor.

        An option it does not have raises :class:`~userstore.InvalidURL` naming it.
        """
        known = inspect.signature(MemoryStore).parameters
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InvalidURL(
                f"memory:// takes no option {unknown[0]!r} (its options: {', '.join(known)})",
                part=unknown[0],
            )
        return MemoryStore(**options)
