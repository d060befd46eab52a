"""The ``userstore`` command.

    userstore check [--url URL] [--json]

``check`` runs the conformance suite against the database at URL (default: the
SQLite file ``userstore.db`` in the current directory) in scratch tables it
creates and drops per case, prints one line per rule with what it observed, and
exits 1 if any rule fails.  Errors are one line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import AdapterNotFound, UserStoreError
from ._registry import available_adapters, load_adapter, url_scheme

__all__ = ["main"]

DEFAULT_URL = "sqlite:///userstore.db"
_EXTRAS = {"aiosqlite": "sqlite", "asyncpg": "postgres", "aiomysql": "mysql", "pymysql": "mysql"}


def _harness(url: str) -> Any:
    adapter = load_adapter(url_scheme(url))
    make = getattr(adapter, "harness", None)
    if make is None:
        raise AdapterNotFound(
            f"the adapter for {url_scheme(url)!r} provides no conformance harness"
        )
    return make(url)


def _hide_password(url: str) -> str:
    head, sep, tail = url.partition("://")
    if "@" in tail:
        credentials, _, host = tail.rpartition("@")
        user = credentials.partition(":")[0]
        tail = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return f"{head}{sep}{tail}"


async def _check(url: str, as_json: bool) -> int:
    from .testing import run_suite

    harness = _harness(url)
    async with harness.open_store():  # fails fast, with one line, if the database is unusable
        pass
    results = await run_suite(harness)
    failed = [r for r in results if not r.passed]
    if as_json:
        rows = [
            {
                "id": r.case.id,
                "section": r.case.section,
                "rule": r.case.title,
                "passed": r.passed,
                "observed": r.observed,
                "error": r.error,
            }
            for r in results
        ]
        print(json.dumps({"url": _hide_password(url), "results": rows}, indent=2))
        return 1 if failed else 0
    print(f"userstore check {_hide_password(url)}")
    print(f"scratch: {getattr(harness, 'scratch_description', 'a fresh store per rule')}")
    for r in results:
        mark = "pass" if r.passed else "FAIL"
        print(f"  {mark}  s{r.case.section:<2} {r.case.title}")
        if r.observed:
            print(f"              observed: {r.observed}")
        if r.error:
            print(f"              {r.error}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _one_line(error: BaseException, url: str) -> str:
    if isinstance(error, AdapterNotFound):
        return str(error)
    if isinstance(error, ModuleNotFoundError) and error.name:
        root = error.name.split(".")[0]
        extra = _EXTRAS.get(root)
        hint = f"; install userstore-sqlalchemy[{extra}]" if extra else ""
        return f"missing module {root!r}{hint}"
    if isinstance(error, UserStoreError):
        return f"{type(error).__name__}: {error}"
    return f"cannot use {_hide_password(url)}: {type(error).__name__}: {error}".splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``userstore`` command; return its exit code."""
    parser = argparse.ArgumentParser(prog="userstore", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check a database against the userstore contract")
    check.add_argument("--url", default=DEFAULT_URL, help=f"store URL (default {DEFAULT_URL})")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_check(args.url, args.json))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        print(f"userstore: {_one_line(error, args.url)}", file=sys.stderr)
        if isinstance(error, AdapterNotFound) and "installed" not in str(error):
            print(f"installed adapters: {', '.join(available_adapters())}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
