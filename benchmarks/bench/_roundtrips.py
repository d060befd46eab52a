"""Counting round trips instead of assuming them.

- Servers: :class:`Relay`, a loopback TCP relay in front of the server.  A round
  trip is a burst of client bytes sent after the server last spoke; pipelined
  messages (asyncpg's Parse/Bind/Execute/Sync) count once, as they cost one
  network wait.  Every implementation (raw driver, SQLAlchemy, the adapters)
  goes through the same relay, so nothing is assumed about what a driver sends.
- SQLite: :class:`SQLiteCounter` counts the statements SQLite executes (its
  trace callback sees the implicit ``BEGIN`` too; the repeats of a DELETE that
  its foreign-key cascades trace are counted once) and the hops to aiosqlite's
  worker thread, which are SQLite's "round trips": each one is a thread switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

import aiosqlite

__all__ = ["Relay", "SQLiteCounter", "aiosqlite_hop_us"]


class Relay:
    """A TCP relay on 127.0.0.1 that counts client-to-server round trips."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.round_trips = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free port; return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        last = ["server"]  # who spoke last on this connection

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, side: str) -> None:
            try:
                while data := await src.read(1 << 16):
                    if side == "client" and last[0] != "client":
                        self.round_trips += 1
                    last[0] = side
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        tasks = [
            asyncio.create_task(pump(client_r, server_w, "client")),
            asyncio.create_task(pump(server_r, client_w, "server")),
        ]
        self._tasks.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks.difference_update(tasks)


class SQLiteCounter:
    """Statements SQLite executes and hops to aiosqlite's worker thread, while counting.

    Every aiosqlite connection used inside :meth:`counting` gets SQLite's trace
    callback before its first counted hop (that set-up hop is not counted).
    """

    def __init__(self) -> None:
        self.statements = 0
        self.hops = 0
        self.traced: list[str] = []
        self._watched: set[int] = set()

    def _trace(self, statement: str) -> None:
        # a foreign-key cascade re-traces the DELETE that caused it: count it once
        if self.traced and self.traced[-1] == statement:
            return
        self.statements += 1
        self.traced.append(statement)

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count, while inside, on every aiosqlite connection of this process."""
        original = aiosqlite.Connection._execute
        counter = self

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            if id(self) not in counter._watched:
                counter._watched.add(id(self))
                await original(self, self._conn.set_trace_callback, counter._trace)
            counter.hops += 1
            return await original(self, fn, *args, **kwargs)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def aiosqlite_hop_us(path: str, calls: int = 2_000) -> float:
    """Median µs of one hop to aiosqlite's worker thread that does no SQLite work.

    ``commit()`` outside a transaction: sqlite3 returns at once, so what is timed
    is the hop itself (queue put, thread wake-up, GIL hand-over, future resolved
    back on the event loop).
    """
    async with aiosqlite.connect(path) as connection:
        for _ in range(50):
            await connection.commit()
        samples = []
        for _ in range(calls):
            start = time.perf_counter_ns()
            await connection.commit()
            samples.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(samples)
