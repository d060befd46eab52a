"""What an adapter supplies to run the conformance suite: one :class:`Harness`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)

from .._fields import IdType
from .._store import Store, StoreSession
from ..memory import MemorySession, MemoryStore

__all__ = ["Harness", "MemoryHarness", "StatementCount"]


class StatementCount:
    """How many statements a block sent to the database (transaction control excluded)."""

    def __init__(self) -> None:
        self.count = 0


class Harness(ABC):
    """Builds fresh stores for the suite and reaches below the protocol where a rule needs it.

    Every method is abstract: an adapter that cannot provide one cannot claim the
    contract, and no case is skipped for it.
    """

    name: str = "adapter"

    scratch_description: str = "a fresh store per case"
    """Where the suite's stores live, as ``userstore check`` reports it."""

    @abstractmethod
    def open_store(
        self, *, id_type: IdType = "uuid", token_digest: bool = False
    ) -> AbstractAsyncContextManager[Store]:
        """Yield a store with an empty schema, created for one case and removed after it."""

    @abstractmethod
    async def sever(self, session: StoreSession) -> None:
        """Kill the connection ``session`` uses, the way a server restart or network loss would."""

    @abstractmethod
    def count_statements(self, store: Store) -> AbstractContextManager[StatementCount]:
        """Count the statements ``store`` sends inside the block (BEGIN/COMMIT excluded)."""

    @abstractmethod
    async def stored_tokens(self, store: Store) -> set[str]:
        """Return the token column's values exactly as the database holds them."""


class MemoryHarness(Harness):
    """The harness of the in-memory reference adapter."""

    name = "memory"
    scratch_description = "a fresh in-memory store per rule"

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        """The URL the harness was made for; every case gets a new, empty store."""

    @asynccontextmanager
    async def open_store(
        self, *, id_type: IdType = "uuid", token_digest: bool = False
    ) -> AsyncIterator[Store]:
        """Yield a new :class:`~userstore.memory.MemoryStore`."""
        async with MemoryStore(id_type=id_type, token_digest=token_digest) as store:
            yield store

    async def sever(self, session: StoreSession) -> None:
        """Make the session's next call fail as a lost connection."""
        assert isinstance(session, MemorySession)
        session.sever()

    @contextmanager
    def count_statements(self, store: Store) -> Iterator[StatementCount]:
        """Count the store's state reads and writes inside the block."""
        assert isinstance(store, MemoryStore)
        counter = StatementCount()
        before = store.round_trips
        try:
            yield counter
        finally:
            counter.count = store.round_trips - before

    async def stored_tokens(self, store: Store) -> set[str]:
        """Return the keys of the token table."""
        assert isinstance(store, MemoryStore)
        return set(store._state.tokens)
