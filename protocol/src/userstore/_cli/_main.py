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


def _ignore_late_loop_callbacks(hook: Any) -> Callable[[threading.ExceptHookArgs], None]:
    """Wrap ``threading.excepthook`` to drop callbacks that arrive after the loop closed.

    A driver's worker thread may finish an operation after ``asyncio.run`` has
    closed its loop (aiosqlite does, when it stops after a failed connect); the
    result has no one left to read it, and its "Event loop is closed" traceback
    would break the one-line error.
    """

    def excepthook(args: threading.ExceptHookArgs) -> None:
        late = isinstance(args.exc_value, RuntimeError) and str(args.exc_value) == (
            "Event loop is closed"
        )
        if not late:
            hook(args)

    return excepthook


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``userstore`` command with ``argv`` (default ``sys.argv[1:]``); return its status."""
    args = _parser().parse_args(argv)
    if getattr(args, "url", "") is None:
        args.url = default_url()
    threading.excepthook = _ignore_late_loop_callbacks(threading.excepthook)
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    try:
        return asyncio.run(run(args))
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
