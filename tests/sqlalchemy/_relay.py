"""A loopback TCP relay that counts round trips between a client and a database server.

A round trip is a burst of client bytes sent after the server last spoke, so
pipelined messages (asyncpg's Parse/Bind/Execute/Sync) count once: they cost
one network wait.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Relay"]


class Relay:
    """Listens on a free port of 127.0.0.1 and forwards every connection to the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.round_trips = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Start listening; return the relay's port."""
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
        last = ["server"]

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

        tasks = {
            asyncio.create_task(pump(client_r, server_w, "client")),
            asyncio.create_task(pump(server_r, client_w, "server")),
        }
        self._tasks |= tasks
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks -= tasks
