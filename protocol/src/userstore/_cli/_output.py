"""How the commands print: JSON documents, user records, the progress line."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any, TextIO

__all__ = ["user_record"]


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
