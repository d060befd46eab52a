"""Where a secret could surface: log records, warnings, exceptions and their chains, reprs."""

from __future__ import annotations

import contextlib
import logging
import traceback
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["Watch", "exception_texts", "watching"]

LOGGERS = ("", "sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm", "userstore_sqlalchemy")


def exception_texts(error: BaseException) -> list[str]:
    """Every text an exception carries: of it and of each exception in its cause/context chain.

    For each: ``str``, ``repr``, ``args``, ``__notes__``, the attributes in its
    ``__dict__`` (a driver's ``detail``, SQLAlchemy's ``params``), and the
    traceback as ``logging.exception`` would print it.
    """
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        texts += [str(exc), repr(exc), repr(exc.args), repr(getattr(exc, "__notes__", None))]
        texts += [repr(value) for value in vars(exc).values()] if hasattr(exc, "__dict__") else []
        pending += [e for e in (exc.__cause__, exc.__context__) if e is not None]
    return texts


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))


class Watch:
    """What a block logged (every logger at DEBUG), warned, raised, and the objects it showed."""

    def __init__(self) -> None:
        self.logs: list[str] = []
        self.texts: list[str] = []
        self.errors: list[BaseException] = []

    def error(self, error: BaseException) -> None:
        """Record an exception the block caught."""
        self.errors.append(error)
        self.texts += exception_texts(error)

    def show(self, objects: Iterable[Any]) -> None:
        """Record the ``repr`` and ``str`` of objects the application could print."""
        for obj in objects:
            self.texts += [repr(obj), str(obj)]

    def leaks(self, secrets: Iterable[str]) -> dict[str, list[str]]:
        """For each secret found anywhere, the first texts holding it (empty if none leaked)."""
        found: dict[str, list[str]] = {}
        for secret in secrets:
            holding = [t for t in [*self.logs, *self.texts] if secret in t]
            if holding:
                found[secret] = [t[:300] for t in holding[:3]]
        return found


@contextlib.contextmanager
def watching() -> Iterator[Watch]:
    """Capture every log record at DEBUG and every warning raised inside the block."""
    watch = Watch()
    handler = _Collect(watch.logs)
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield watch
        watch.texts += [f"{w.category.__name__}: {w.message}" for w in caught]
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
