"""``FairAsyncQueuePool``: SQLAlchemy's asyncio queue pool, serving waiters in order.

SQLAlchemy's ``AsyncAdaptedQueuePool`` lets a caller take a connection that was
just returned while others are already waiting for one: the returned connection
goes back into an ``asyncio.Queue``, the first waiter is woken, and any task that
asks before the woken one runs takes the connection instead (the task that
returned it, starting its next call, usually does).  The waiter then queues
again at the end.  Under a load that keeps every connection busy, a few tasks
keep the connections and the others wait until ``pool_timeout`` runs out
(``StoreUnavailable``), however short each call is: in the load test (200 tasks,
10 + 10 connections, PostgreSQL) calls took 55 ms at the median and up to 11 s.

Here a returned connection is handed straight to the longest waiter, and a
caller takes one from the pool only when nobody is waiting, so a wait lasts
about as long as the calls queued before it (1.1 s at most in the same test).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import queue as sa_queue
from sqlalchemy.util.concurrency import await_only

__all__ = ["FairAsyncQueuePool"]


class _HandOffQueue(sa_queue.QueueCommon[ConnectionPoolEntry]):
    """The pool's idle connections, and the callers waiting for one, each in order."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: collections.deque[ConnectionPoolEntry] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[ConnectionPoolEntry]] = collections.deque()

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        """Hand ``item`` to the longest waiter; else keep it (``Full`` at ``maxsize``)."""
        if not self._hand_over(item):
            if self.full():
                raise sa_queue.Full()
            self._idle.append(item)

    def _hand_over(self, item: ConnectionPoolEntry) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False

    def put(
        self, item: ConnectionPoolEntry, block: bool = True, timeout: float | None = None
    ) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> ConnectionPoolEntry:
        if not self._idle:
            raise sa_queue.Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        """An idle connection, or (``block``) the next one returned, waiting in line.

        Raises ``Empty`` if there is none and ``block`` is false, or after ``timeout``.
        """
        if self._idle or not block:
            return self.get_nowait()
        result: ConnectionPoolEntry = await_only(self._wait(seconds=timeout))
        return result

    async def _wait(self, *, seconds: float | None) -> ConnectionPoolEntry:
        waiter: asyncio.Future[ConnectionPoolEntry] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), seconds)
        except TimeoutError:
            if waiter.done():  # handed a connection as the timeout fired: take it
                return waiter.result()
            waiter.cancel()
            raise sa_queue.Empty() from None
        except BaseException:
            # cancelled: a connection handed over meanwhile goes to the next in line, or
            # back among the idle ones (past maxsize if need be: the pool counts it)
            if waiter.done() and not waiter.cancelled():
                item = waiter.result()
                if not self._hand_over(item):
                    self._idle.append(item)
            else:
                waiter.cancel()
            raise


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` whose waiters get connections in the order they asked.

    Same options and behaviour otherwise (``pool_size``, ``max_overflow``,
    ``pool_timeout``, ``pool_use_lifo`` for idle connections).
    """

    # SQLAlchemy has no public way to choose the queue a QueuePool keeps its
    # connections in: QueuePool.__init__ builds ``self._queue_class(pool_size,
    # use_lifo=...)``, and ``sqlalchemy.util.queue.QueueCommon`` is the interface
    # it calls.  tests/sqlalchemy/test_private_apis.py fails if either changes.
    _queue_class: Any = _HandOffQueue
