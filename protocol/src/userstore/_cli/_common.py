"""What every command shares: exit statuses, the one-line error, the URL and the store it opens."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from .._errors import (
    AdapterNotFound,
    InvalidURL,
    StoreUnavailable,
)
from .._registry import connect, url_scheme
from .._registry import default_url as adapter_default_url
from .._store import Store, StoreSession

__all__ = [
    "CANNOT",
    "CommandError",
    "INTERRUPTED",
    "NO",
    "OK",
    "URL_VARIABLES",
    "default_url",
    "hide_password",
]


URL_VARIABLES = ("USERSTORE_URL", "DATABASE_URL")
"""Where ``--url`` comes from when it is not given, in order, before an adapter's default."""


def default_url() -> str:
    """``$USERSTORE_URL``, else ``$DATABASE_URL``, else the default of an installed adapter.

    userstore-sqlalchemy's default is the SQLite file ``userstore.db`` in the
    current directory.
    """
    for name in URL_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    found = adapter_default_url()
    if found is None:
        raise CommandError(
            "no store URL: pass --url or set $USERSTORE_URL (no installed adapter has a "
            "default store; install userstore-sqlalchemy for a SQLite file here)"
        )
    return found


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """``1 access token``, ``2 access tokens``."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


OK, NO, CANNOT, INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """An error the command reports as one line, with its exit status."""

    def __init__(self, message: str, status: int = CANNOT) -> None:
        super().__init__(message)
        self.status = status


def hide_password(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``."""
    head, sep, tail = url.partition("://")
    if "@" in tail:
        credentials, _, host = tail.rpartition("@")
        user = credentials.partition(":")[0]
        tail = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return f"{head}{sep}{tail}"


def _check_url(url: str) -> str:
    """Return the URL's scheme, or raise ``AdapterNotFound`` for a URL without one.

    The adapter checks the rest of the URL (``InvalidURL``).
    """
    return url_scheme(url)


def _connect_failure(error: Exception, url: str, models: str | None = None) -> CommandError:
    """Say in one line why a store for ``url`` (on ``models``, if given) could not be made."""
    shown = hide_password(url)
    if isinstance(error, CommandError):
        return error
    if isinstance(error, AdapterNotFound):
        return CommandError(str(error))
    if isinstance(error, ImportError):
        message = str(error)
        if message.startswith("No module named"):
            message += f" (needed for {url_scheme(url)}:// URLs)"
        return CommandError(message)
    if isinstance(error, StoreUnavailable):
        return CommandError(str(error))
    if isinstance(error, InvalidURL):
        return CommandError(f"bad URL {shown}: {_first_line(str(error))}")
    text = _first_line(str(error)) or type(error).__name__
    if models is not None:  # the adapter refused the application's models
        kind = "" if isinstance(error, (ValueError, TypeError)) else f"{type(error).__name__}: "
        return CommandError(f"--models {models}: {kind}{text}")
    if isinstance(error, (ValueError, TypeError)):
        return CommandError(f"cannot use {shown}: {text}")
    return CommandError(f"cannot use {shown}: {type(error).__name__}: {text}")


def _load_models(spec: str) -> Any:
    """Import ``module:attribute``, looking in the current directory first."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CommandError(f"--models takes module:attribute (app.models:Base), not {spec!r}")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name + ".").startswith(error.name + "."):
            raise CommandError(
                f"--models: no module named {module_name!r} (searched the current directory "
                "and the Python path)"
            ) from None
        raise CommandError(f"--models: importing {module_name} failed: {error}") from None
    except Exception as error:
        raise CommandError(
            f"--models: importing {module_name} failed: {type(error).__name__}: "
            f"{_first_line(str(error))}"
        ) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(f"--models: {module_name} has no attribute {attribute!r}") from None
    return found


@asynccontextmanager
async def _open(args: argparse.Namespace) -> AsyncIterator[Store]:
    """The store at ``args.url``, with ``args.models`` or the default models; closed after."""
    _check_url(args.url)
    options: dict[str, Any] = {}
    if args.models:
        options["models"] = _load_models(args.models)
    else:
        options["id_type"] = args.id_type
    try:
        store = connect(args.url, **options)
    except Exception as error:
        raise _connect_failure(error, args.url, args.models) from error
    try:
        yield store
    finally:
        await store.close()


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _as_id(store: Store, text: str) -> Any:
    """The id ``text`` names in ``store``, or ``None`` if it cannot be one."""
    if store.id_type == "int":
        return int(text) if re.fullmatch(r"-?\d{1,19}", text.strip()) else None
    return text


async def _find(store: Store, session: StoreSession, ref: str) -> Any:
    """The user with id ``ref``, else with the email key of ``ref``; exit 1 if none."""
    user = None
    key = _as_id(store, ref)
    if key is not None:
        user = await session.users.get(key)
    if user is None:
        user = await session.users.get_by_email(ref)
    if user is None:
        raise CommandError(f"no user has the id or email {ref!r}", NO)
    return user


_DURATION = re.compile(r"(?:\d+[smhdw])+")


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """Parse ``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a sum such as ``1d12h``.

    Raises ``ValueError`` for anything else.
    """
    compact = text.strip().lower()
    if not _DURATION.fullmatch(compact):
        raise ValueError(f"not a duration: {text!r} (use 30d, 12h, 90m, 45s, 2w or 1d12h)")
    pairs = re.findall(r"(\d+)([smhdw])", compact)
    return dt.timedelta(seconds=sum(int(n) * _UNIT_SECONDS[unit] for n, unit in pairs))


class _Age(NamedTuple):
    text: str
    delta: dt.timedelta


def _age(text: str) -> _Age:
    try:
        return _Age(text, parse_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {text!r}")
    return value
