"""``main()``: run a command, and report any error as one line with its exit status."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from .._errors import (
    AdapterNotFound,
    InvalidURL,
    InvalidUserData,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from ._common import INTERRUPTED, NO, OK, CommandError, _first_line, default_url, hide_password
from ._output import _dumps
from ._parser import _parser

__all__ = ["main"]


def _explain(error: BaseException, args: argparse.Namespace) -> CommandError:
    """The one line (and exit status) that reports ``error``."""
    if isinstance(error, CommandError):
        return error
    if isinstance(error, InvalidUserData):
        return CommandError(f"invalid {error.field}: {error.reason}")
    if isinstance(error, UserNotFound):
        return CommandError(str(error), NO)
    if isinstance(error, UserAlreadyExists):
        return CommandError(str(error), NO)
    if isinstance(error, AdapterNotFound | StoreUnavailable):
        return CommandError(str(error))
    if isinstance(error, InvalidURL):  # an option the driver refused when connecting
        shown = hide_password(getattr(args, "url", ""))
        return CommandError(f"bad URL {shown}: {_first_line(str(error))}")
    if isinstance(error, UserStoreError):
        message = _first_line(str(error)) or type(error).__name__
        return CommandError(message)
    if isinstance(error, ImportError):
        return CommandError(_first_line(str(error)))
    text = _first_line(str(error))
    return CommandError(f"{type(error).__name__}: {text}" if text else type(error).__name__)


_THREAD_GRACE = 5.0
"""How long (seconds) a command waits, before its loop closes, for driver threads to end."""


async def _until_threads_end(
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace
) -> int:
    """Run the command, then wait for the driver threads it started to end, loop still open.

    A driver's worker thread can hand a result to the loop after the command is
    done: aiosqlite, after a failed connect, queues its thread's shutdown with
    a future nobody awaits.  Were the loop closed by then, the thread's
    ``call_soon_threadsafe`` would raise "Event loop is closed" and print a
    traceback after the one-line error.  Waiting here (the store is closed by
    now, so every such thread is ending) lets the result land on an open loop.
    """
    before = set(threading.enumerate())
    try:
        return await run(args)
    finally:
        loop = asyncio.get_running_loop()
        await loop.shutdown_default_executor()  # its idle workers are no driver's threads
        started = [t for t in threading.enumerate() if t not in before]
        deadline = loop.time() + _THREAD_GRACE
        while any(t.is_alive() for t in started) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)  # a thread's end is no event a coroutine can await


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``userstore`` command with ``argv`` (default ``sys.argv[1:]``); return its status."""
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    try:
        if getattr(args, "url", "") is None:
            args.url = default_url()
        return asyncio.run(_until_threads_end(run, args))
    except KeyboardInterrupt:
        print("\nuserstore: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # `userstore users list | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return OK
    except Exception as error:
        if os.environ.get("USERSTORE_DEBUG"):
            raise
        failure = _explain(error, args)
        print(f"userstore: {failure}", file=sys.stderr)
        if getattr(args, "json", False):  # a JSON reader gets the error too, on stdout
            print(_dumps({"error": str(failure), "status": failure.status}))
        return failure.status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
