"""The ``userstore`` command: check a database, create the schema, administer users and tokens.

    userstore check [--url URL] [--json]
    userstore init [--url URL] [--models module:Base] [--id-type uuid|int] [--json]
    userstore upgrade [--url URL] [--models module:Base] [--dry-run] [--progress] [--json]
    userstore users list [--page-size N] [--limit N] [--after ID]
    userstore users show|deactivate|activate|set-superuser [--off]|delete [--yes] USER
    userstore users create EMAIL [--superuser] [--verified]
    userstore tokens purge --older-than 30d [--batch-size N] [--dry-run] [--progress]

Every command takes ``--url`` (default: ``$USERSTORE_URL``, else
``$DATABASE_URL``, else the SQLite file ``userstore.db`` in the current directory;
any scheme an installed adapter serves) and ``--json`` (one JSON document on
stdout, nothing else there; an error is ``{"error": ..., "status": ...}`` there
too).  ``userstore --version`` names userstore's version and each adapter's.
``init``, ``users`` and ``tokens`` take ``--models module:Base``, the application's
declarative base (the module is looked up in the current directory first), or
``--id-type`` for the default models.
``USER`` is an id or an email, matched by its email key.

``check`` runs the conformance suite in scratch tables it names, creates before
each rule and drops after it, never touching the application's tables; it prints
each rule as it finishes, pass or FAIL with what was observed.

``upgrade`` brings tables an older schema made (fastapi-users-db-sqlalchemy 7's)
to the store's, in place, every row kept; with ``--dry-run`` it only says what it
would do.  Rows the new rules cannot all keep (emails equal under the email key,
an OAuth account linked twice) are listed, nothing is changed, and the exit
status is 1.

``users create`` asks twice for the password, without echo; when stdin is not a
terminal it reads the password from stdin's first line instead (for scripts:
``echo "$PW" | userstore users create ada@example.com``).  The password
is hashed with pwdlib's recommended hasher (Argon2, FastAPI Users' default):
``pip install 'userstore[cli]'``.

``tokens purge`` deletes access tokens older than a duration (``90m``, ``12h``,
``30d``, ``2w``, or sums such as ``1d12h``) in committed batches, with a progress
line on stderr when stderr is a terminal (always with ``--progress``).

Exit status: 0 done; 1 the command ran and the answer is no (a rule of ``check``
failed, no user matches, the email is taken); 2 it could not run (usage, invalid
input, bad URL, unknown scheme, missing driver, unreachable server, database
error); 130 interrupted.  Errors are one line on stderr, never a traceback
(``USERSTORE_DEBUG=1`` re-raises them).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import decimal
import getpass
import importlib
import importlib.metadata
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, NoReturn, TextIO

from ._errors import (
    AdapterNotFound,
    InvalidURL,
    InvalidUserData,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from ._registry import available_adapters, connect, url_scheme
from ._store import SchemaConflict, Store, StoreSession

__all__ = ["hide_password", "main", "parse_duration", "user_record"]

DEFAULT_URL = "sqlite:///userstore.db"
URL_VARIABLES = ("USERSTORE_URL", "DATABASE_URL")
"""Where ``--url`` comes from when it is not given, in order, before :data:`DEFAULT_URL`."""


def default_url() -> str:
    """``$USERSTORE_URL``, else ``$DATABASE_URL``, else the SQLite file ``userstore.db``."""
    for name in URL_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return DEFAULT_URL


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """``1 access token``, ``2 access tokens``."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _version() -> str:
    """This package's version and, per installed adapter distribution, the schemes it serves."""
    served: dict[str, list[str]] = {}
    for scheme, target in available_adapters().items():
        package = target.partition(":")[0].partition(".")[0]
        served.setdefault(package.replace("_", "-"), []).append(scheme)
    lines = [f"userstore {_package_version('userstore')}"]
    lines.extend(
        f"  adapter {name} {_package_version(name)}: {', '.join(schemes)}"
        for name, schemes in sorted(served.items())
    )
    return "\n".join(lines)


def _package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed as a distribution)"


OK, NO, CANNOT, INTERRUPTED = 0, 1, 2, 130


class CommandError(Exception):
    """An error the command reports as one line, with its exit status."""

    def __init__(self, message: str, status: int = CANNOT) -> None:
        super().__init__(message)
        self.status = status


# -- arguments ----------------------------------------------------------------------------


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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(CANNOT, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _VersionAction(argparse.Action):
    """``--version``: the versions, read from the installed distributions only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(_version())
        parser.exit(OK)


def _parser() -> argparse.ArgumentParser:
    database = _Parser(add_help=False)
    database.add_argument(
        "--url",
        default=None,
        help="the store's URL (default: $USERSTORE_URL, else $DATABASE_URL, else "
        f"{DEFAULT_URL}, a file in the current directory)",
    )
    database.add_argument("--json", action="store_true", help="print one JSON document")
    models = _Parser(add_help=False)
    models.add_argument(
        "--models",
        metavar="MODULE:BASE",
        help="the application's declarative base, e.g. app.models:Base (default: the "
        "adapter's own models)",
    )
    models.add_argument(
        "--id-type",
        choices=("uuid", "int"),
        default="uuid",
        help="id kind of the default models (default uuid; --models bring their own)",
    )
    both = [database, models]

    parser = _Parser(
        prog="userstore",
        description="Check a database against the userstore contract, create the schema, "
        "administer users and tokens.",
        epilog="exit status: 0 done, 1 the answer is no (check failed, no such user), "
        "2 could not run (usage, URL, connection, database)",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the versions of userstore and its adapters"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "check", parents=[database], help="check a database against the userstore contract"
    )
    check.set_defaults(run=_check)

    init = commands.add_parser("init", parents=both, help="create the tables (if missing)")
    init.set_defaults(run=_init)

    upgrade = commands.add_parser(
        "upgrade",
        parents=both,
        help="bring an older schema (fastapi-users-db-sqlalchemy 7's) to the store's",
    )
    upgrade.add_argument(
        "--dry-run", action="store_true", help="say what it would do; change nothing"
    )
    upgrade.add_argument(
        "--progress", action="store_true", help="progress on stderr even if not a terminal"
    )
    upgrade.set_defaults(run=_upgrade)

    users = commands.add_parser("users", help="list, show, create, change and delete users")
    user_commands = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = user_commands.add_parser("list", parents=both, help="list users, in pages")
    listing.add_argument(
        "--page-size", type=_positive, default=500, help="users per query (default 500)"
    )
    listing.add_argument("--limit", type=_positive, help="stop after this many users")
    listing.add_argument("--after", metavar="ID", help="start after the user with this id")
    listing.set_defaults(run=_users_list)
    show = user_commands.add_parser("show", parents=both, help="show one user")
    show.add_argument("user", metavar="USER", help="id or email")
    show.set_defaults(run=_users_show)
    create = user_commands.add_parser(
        "create", parents=both, help="create a user; the password is asked for"
    )
    create.add_argument("email")
    create.add_argument("--superuser", action="store_true", help="make it a superuser")
    create.add_argument("--verified", action="store_true", help="mark its email verified")
    create.set_defaults(run=_users_create)
    for name, changes, text in (
        ("deactivate", {"is_active": False}, "deactivate a user (it can no longer log in)"),
        ("activate", {"is_active": True}, "activate a user again"),
    ):
        action = user_commands.add_parser(name, parents=both, help=text)
        action.add_argument("user", metavar="USER", help="id or email")
        action.set_defaults(run=_users_update, changes=changes)
    superuser = user_commands.add_parser(
        "set-superuser", parents=both, help="make a user a superuser (--off: no longer)"
    )
    superuser.add_argument("user", metavar="USER", help="id or email")
    superuser.add_argument("--off", action="store_true", help="take superuser rights away")
    superuser.set_defaults(run=_users_update, changes=None)
    delete = user_commands.add_parser(
        "delete", parents=both, help="delete a user, its OAuth accounts and access tokens"
    )
    delete.add_argument("user", metavar="USER", help="id or email")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(run=_users_delete)

    tokens = commands.add_parser("tokens", help="access-token maintenance")
    token_commands = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    purge = token_commands.add_parser(
        "purge", parents=both, help="delete access tokens older than a duration"
    )
    purge.add_argument(
        "--older-than", type=_age, required=True, metavar="AGE", help="30d, 12h, 90m..."
    )
    purge.add_argument(
        "--batch-size", type=_positive, default=1000, help="tokens per DELETE (default 1000)"
    )
    purge.add_argument("--dry-run", action="store_true", help="count them, delete nothing")
    purge.add_argument(
        "--progress", action="store_true", help="progress on stderr even if not a terminal"
    )
    purge.set_defaults(run=_tokens_purge)
    return parser


# -- opening the store --------------------------------------------------------------------


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


# -- output -------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)  # UUID, Decimal...


def _dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, indent=indent)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


_SCALARS = (str, int, float, bool, uuid.UUID, dt.datetime, dt.date, dt.time, decimal.Decimal)
_USER_FIELDS = ("id", "email", "is_active", "is_superuser", "is_verified")
_NOT_SHOWN = {"hashed_password", "email_key", "oauth_accounts"}


def _password_scheme(hashed: Any) -> str:
    """The hasher a stored hash names (``argon2id``, ``bcrypt``...), never the hash itself."""
    if not isinstance(hashed, str) or not hashed.startswith("$"):
        return "unknown"
    name = hashed.split("$")[1]
    return "bcrypt" if name in ("2a", "2b", "2y") else name or "unknown"


def user_record(user: Any) -> dict[str, Any]:
    """What the command shows of a user: its fields, custom columns and OAuth accounts.

    Never the password hash (only the hasher's name) nor provider tokens.
    """
    record = {name: getattr(user, name, None) for name in _USER_FIELDS}
    record["password_hasher"] = _password_scheme(getattr(user, "hashed_password", None))
    extra = {
        name: value
        for name, value in vars(user).items()
        if not name.startswith("_")
        and name not in record
        and name not in _NOT_SHOWN
        and (value is None or isinstance(value, _SCALARS))
    }
    record.update(sorted(extra.items()))
    record["oauth_accounts"] = [
        {
            "oauth_name": account.oauth_name,
            "account_id": account.account_id,
            "account_email": account.account_email,
            "expires_at": account.expires_at,
        }
        for account in getattr(user, "oauth_accounts", None) or ()
    ]
    return record


def _print_user(record: dict[str, Any]) -> None:
    width = max(len(k) for k in record) + 1
    for name, value in record.items():
        if name != "oauth_accounts":
            print(f"{name + ':':<{width}} {_text(value)}")
    accounts = record["oauth_accounts"]
    print(f"{'oauth_accounts:':<{width}} {len(accounts)}")
    for account in accounts:
        expires = account["expires_at"]
        until = f"  expires {_text(expires)}" if expires is not None else ""
        print(
            f"  {account['oauth_name']}  {account['account_id']}  {account['account_email']}{until}"
        )


class _Progress:
    """A progress line on stderr: rewritten in place on a terminal, one line per step if forced."""

    def __init__(self, what: str, total: int, *, forced: bool, stream: TextIO) -> None:
        self.what = what
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.enabled = forced or self.tty
        self.shown = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        total = max(self.total, done)
        percent = 100 * done // total if total else 100
        line = f"{self.what}: {done}/{total} ({percent}%)"
        if self.tty:
            self.stream.write(f"\r{line}")
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.enabled and self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


# -- check --------------------------------------------------------------------------------


def _harness(url: str) -> Any:
    from .testing import harness_for

    _check_url(url)
    return harness_for(url)


async def _check(args: argparse.Namespace) -> int:
    from .testing import CASES, run_case

    url, shown = args.url, hide_password(args.url)
    try:
        harness = _harness(url)
        async with harness.open_store():  # fails fast, in one line, if the database is unusable
            pass
    except Exception as error:
        raise _connect_failure(error, url) from error
    scratch = harness.scratch_description
    if not args.json:
        print(f"userstore check {shown}")
        print(f"scratch: {scratch}; the application's tables are not touched")
    results = []
    for case in CASES:
        result = await run_case(harness, case)
        results.append(result)
        if not args.json:
            mark = "pass" if result.passed else "FAIL"
            print(f"  {mark}  s{case.section:<2} {case.title}", flush=True)
            if result.observed:
                print(f"              observed: {result.observed}")
            if result.error:
                print(f"              {result.error}")
    failed = sum(not r.passed for r in results)
    if args.json:
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
        document = {
            "url": shown,
            "scratch": scratch,
            "passed": len(results) - failed,
            "failed": failed,
            "results": rows,
        }
        print(_dumps(document))
    else:
        print(f"{len(results) - failed} passed, {failed} failed")
    return NO if failed else OK


# -- init ---------------------------------------------------------------------------------


async def _init(args: argparse.Namespace) -> int:
    shown = hide_password(args.url)
    models = args.models or "default"
    async with _open(args) as store:
        await store.create_schema()
        id_type = store.id_type
    if args.json:
        print(_dumps({"url": shown, "models": models, "id_type": id_type, "schema": "ready"}))
    else:
        print(f"schema ready at {shown} ({models} models, {id_type} ids)")
    return OK


# -- upgrade ------------------------------------------------------------------------------


def _conflict_lines(conflict: SchemaConflict) -> list[str]:
    key = ", ".join(map(repr, conflict.key))
    lines = [f"  {conflict.table}: {conflict.reason}: {key}"]
    lines += [f"      {', '.join(_text(value) for value in row)}" for row in conflict.rows]
    return lines


async def _upgrade(args: argparse.Namespace) -> int:
    shown = hide_password(args.url)
    bars: dict[str, _Progress] = {}

    def progress(what: str, done: int, total: int) -> None:
        bar = bars.get(what)
        if bar is None:
            for other in bars.values():
                other.finish()
            bar = bars[what] = _Progress(what, total, forced=args.progress, stream=sys.stderr)
        bar.update(done)

    async with _open(args) as store:
        try:
            report = await store.upgrade_schema(dry_run=args.dry_run, progress=progress)
        finally:
            for bar in bars.values():
                bar.finish()
    if args.json:
        document = {
            "url": shown,
            "models": args.models or "default",
            "found": report.found,
            "dry_run": report.dry_run,
            "changed": report.changed,
            "steps": list(report.steps),
            "conflicts": [dataclasses.asdict(c) for c in report.conflicts],
            "remaining": list(report.remaining),
        }
        print(_dumps(document))
        return NO if report.conflicts else OK
    print(f"userstore upgrade {shown}: found {report.found}")
    if report.conflicts:
        print(
            f"{len(report.conflicts)} conflict(s) stop the upgrade; nothing was changed. "
            "Resolve them, then run it again:"
        )
        for conflict in report.conflicts:
            print("\n".join(_conflict_lines(conflict)))
        return NO
    for step in report.steps:
        print(f"  {step}")
    count = len(report.steps)
    if not count:
        print("nothing to upgrade: the schema is up to date")
    elif report.dry_run:
        print(f"{count} step(s) to take (dry run: nothing was changed)")
    else:
        print(f"upgraded in {count} step(s), every row kept")
    for problem in report.remaining:
        print(f"still missing: {problem}")
    return OK


# -- users --------------------------------------------------------------------------------


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


_FLAG_COLUMNS = (("is_active", 6), ("is_superuser", 9), ("is_verified", 8))


async def _users_list(args: argparse.Namespace) -> int:
    async with _open(args) as store:
        after = None
        if args.after is not None:
            after = _as_id(store, args.after)
            if after is None:
                raise CommandError(f"--after: not a valid {store.id_type} id: {args.after!r}")
        id_width = 36 if store.id_type == "uuid" else 12
        count, last, started = 0, None, False
        while args.limit is None or count < args.limit:
            size = args.page_size if args.limit is None else min(args.page_size, args.limit - count)
            async with store.session() as session:  # one session per page: memory stays flat
                page = await session.list_users(after=after, limit=size)
            if not started:  # after the first query, so that an error is all that is printed
                started = True
                if args.json:
                    sys.stdout.write('{"users": [')
                else:
                    print(f"{'id':<{id_width}}  active  superuser  verified  email")
            for user in page:
                if args.json:
                    separator = "," if count else ""
                    sys.stdout.write(f"{separator}\n  {_dumps(user_record(user), indent=None)}")
                else:
                    flags = "  ".join(
                        f"{_text(getattr(user, name)):<{width}}" for name, width in _FLAG_COLUMNS
                    )
                    print(f"{user.id!s:<{id_width}}  {flags}  {user.email}")
                count += 1
            if page:
                after = last = page[-1].id
            if len(page) < size:
                break
        if args.json:
            tail = {"count": count, "last_id": last}
            sys.stdout.write(f"\n], {_dumps(tail, indent=None)[1:]}\n")
        else:
            print(_plural(count, "user"))
    return OK


async def _users_show(args: argparse.Namespace) -> int:
    async with _open(args) as store, store.session() as session:
        record = user_record(await _find(store, session, args.user))
    if args.json:
        print(_dumps(record))
    else:
        _print_user(record)
    return OK


def _password_hasher() -> Callable[[str], str]:
    try:
        from pwdlib import PasswordHash
    except ImportError:
        raise CommandError(
            "users create needs pwdlib to hash the password: pip install 'userstore[cli]'"
        ) from None
    hasher = PasswordHash.recommended()
    return hasher.hash


def _read_password(stdin: TextIO) -> str:
    """Ask twice without echo on a terminal; else read stdin's first line."""
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            raise CommandError("the two passwords differ")
    else:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise CommandError("an empty password is refused")
    return password


async def _users_create(args: argparse.Namespace) -> int:
    hash_password = _password_hasher()
    taken = CommandError(f"a user with the email {args.email!r} exists already", NO)
    async with _open(args) as store:
        async with store.session() as session:
            if await session.users.get_by_email(args.email) is not None:
                raise taken  # before asking for a password
        password = await asyncio.to_thread(_read_password, sys.stdin)
        hashed = await asyncio.to_thread(hash_password, password)
        create = {
            "email": args.email,
            "hashed_password": hashed,
            "is_superuser": args.superuser,
            "is_verified": args.verified,
        }
        async with store.session() as session:
            try:
                user = await session.users.create(create)
            except UserAlreadyExists:
                raise taken from None
            record = user_record(user)
    if args.json:
        print(_dumps(record))
    else:
        print(f"created user {record['id']} {record['email']}")
    return OK


async def _users_update(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = args.changes or {"is_superuser": not args.off}
    async with _open(args) as store, store.session() as session:
        user = await _find(store, session, args.user)
        try:
            user = await session.users.update(user, changes)
        except UserNotFound:
            raise CommandError(f"the user {args.user!r} was deleted meanwhile", NO) from None
        record = user_record(user)
    if args.json:
        print(_dumps(record))
    else:
        done = ", ".join(f"{name} = {_text(value)}" for name, value in changes.items())
        print(f"{record['email']} ({record['id']}): {done}")
    return OK


def _confirm(question: str) -> bool:
    """Ask on stderr (stdout stays for the result); true for y or yes."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


async def _users_delete(args: argparse.Namespace) -> int:
    if not args.yes and not sys.stdin.isatty():
        raise CommandError("refusing to delete without --yes (stdin is not a terminal)")
    async with _open(args) as store:
        async with store.session() as session:
            user = await _find(store, session, args.user)
        record = user_record(user)
        question = f"delete {record['email']} ({record['id']}), its OAuth accounts and tokens?"
        if not args.yes and not await asyncio.to_thread(_confirm, question):
            raise CommandError("nothing deleted", NO)
        async with store.session() as session:  # no transaction stays open while a human types
            try:
                await session.users.delete(user)
            except UserNotFound:
                raise CommandError(f"the user {args.user!r} was deleted meanwhile", NO) from None
    if args.json:
        print(_dumps({"deleted": record}))
    else:
        print(f"deleted user {record['id']} {record['email']}")
    return OK


# -- tokens -------------------------------------------------------------------------------


async def _tokens_purge(args: argparse.Namespace) -> int:
    age: _Age = args.older_than
    before = dt.datetime.now(dt.UTC) - age.delta
    deleted = batches = 0
    async with _open(args) as store, store.session() as session:
        matching = await session.count_tokens(before)
        if not args.dry_run and matching:
            progress = _Progress(
                "purging access tokens", matching, forced=args.progress, stream=sys.stderr
            )
            try:
                async for count in session.purge_tokens(before, batch_size=args.batch_size):
                    deleted += count
                    batches += 1
                    progress.update(deleted)
            finally:
                progress.finish()
    if args.json:
        document = {
            "older_than": age.text,
            "before": before.isoformat(),
            "matching": matching,
            "deleted": deleted,
            "batches": batches,
            "dry_run": args.dry_run,
        }
        print(_dumps(document))
    elif args.dry_run:
        print(f"{_plural(matching, 'access token')} created before {before.isoformat()} (dry run)")
    else:
        print(
            f"deleted {_plural(deleted, 'access token')} created before {before.isoformat()} "
            f"({_plural(batches, 'batch', 'batches')})"
        )
    return OK


# -- main ---------------------------------------------------------------------------------


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
