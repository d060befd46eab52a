"""The command line: arguments, durations, ``--version``."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
from typing import Any, NoReturn

from .._registry import available_adapters
from ._check import _check
from ._common import CANNOT, OK, _age, _positive
from ._schema import _init, _upgrade
from ._tokens import _tokens_purge
from ._users import _users_create, _users_delete, _users_list, _users_show, _users_update

__all__: list[str] = []


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
        help="the store's URL (default: $USERSTORE_URL, else $DATABASE_URL, else the "
        "installed adapter's default: sqlite:///userstore.db with userstore-sqlalchemy)",
    )
    database.add_argument("--json", action="store_true", help="print one JSON document")
    models = _Parser(add_help=False)
    models.add_argument(
        "--models",
        metavar="MODULE:BASE",
        help="the application's models, module:attribute, handed to the adapter as models= "
        "(SQLAlchemy: the declarative base, e.g. app.models:Base; default: the adapter's own)",
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
