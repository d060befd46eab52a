"""A loopback TCP relay that counts round trips between a client and a database server.

A round trip is a burst of client bytes sent after the server last spoke, so
pipelined messages (asyncpg's Parse/Bind/Execute/Sync) count once: they cost
one network wait.

It also cuts connections as a network failure would (:meth:`Relay.cut`): the
next client burst holding given bytes is dropped, or delivered and its answer
dropped, and both sides of that connection are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from sqlalchemy.engine import make_url

import userstore
from userstore_sqlalchemy import SQLAlchemyStore

__all__ = ["Relay", "relayed_store"]

_READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # PostgreSQL: the server has finished the request


class Relay:
    """Listens on a free port of 127.0.0.1 and forwards every connection to the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.round_trips = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut: tuple[tuple[bytes, ...], bool] | None = None

    async def start(self) -> int:
        """Start listening; return the relay's port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def cut(self, *patterns: bytes, answered: bool) -> None:
        """Cut the connection of the next client burst that holds any of ``patterns``.

        ``answered=False``: the burst never reaches the server.  ``answered=True``:
        it does, and the server's answer (up to PostgreSQL's ReadyForQuery, so
        the server is done with it) is dropped.  Either way both sides are then
        closed; :attr:`cuts` counts the cuts made.
        """
        self._cut = (patterns, answered)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cuts(self, data: bytes) -> bool | None:
        """``None``: forward ``data``; else cut it, after the server's answer if True."""
        if self._cut is None:
            return None
        patterns, answered = self._cut
        if not any(p in data for p in patterns):
            return None
        self._cut = None
        self.cuts += 1
        return answered

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        last = ["server"]
        dropping = [False]  # the server's answer to a cut burst

        def sever() -> None:
            for writer in (client_w, server_w):
                with contextlib.suppress(Exception):
                    writer.transport.abort()

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, side: str) -> None:
            answer = b""
            try:
                while data := await src.read(1 << 16):
                    if side == "client" and last[0] != "client":
                        self.round_trips += 1
                    last[0] = side
                    if side == "client":
                        cut = self._cuts(data)
                        if cut is False:
                            sever()
                            return
                        dropping[0] = dropping[0] or bool(cut)
                    elif dropping[0]:
                        answer += data
                        if _READY_FOR_QUERY in answer:
                            sever()
                            return
                        continue
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        tasks = {
            asyncio.create_task(pump(client_r, server_w, "client")),
            asyncio.create_task(pump(server_r, client_w, "server")),
        }
        self._tasks |= tasks
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks -= tasks


@contextlib.asynccontextmanager
async def relayed_store(server_url: str) -> AsyncIterator[tuple[SQLAlchemyStore, Relay]]:
    """A ``connect()`` store on scratch tables of ``server_url``'s database, through a relay."""
    url = make_url(server_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 0)
    port = await relay.start()
    store = userstore.connect(
        url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False),
        table_prefix=f"rt{uuid.uuid4().hex[:8]}_",
    )
    assert isinstance(store, SQLAlchemyStore)
    await store.create_schema()
    try:
        yield store, relay
    finally:
        await store.drop_schema()
        await store.close()
        await relay.close()
