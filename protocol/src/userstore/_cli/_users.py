"""``userstore users ...``: listing, showing, creating, changing and deleting users."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .._errors import (
    UserAlreadyExists,
    UserNotFound,
)
from ._common import NO, OK, CommandError, _as_id, _find, _open, _plural
from ._output import _dumps, _print_user, _text, user_record

__all__ = []


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
