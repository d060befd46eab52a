"""The exceptions every userstore adapter raises.

Hierarchy::

    UserStoreError                 base of everything the contract names
    ├── UserAlreadyExists          an email (by its key) or id is taken
    ├── OAuthAccountAlreadyLinked  (oauth_name, account_id) is linked to a user already
    ├── AccessTokenAlreadyExists   the token is stored already
    ├── UserNotFound               update/delete of a user that no longer exists
    ├── InvalidUserData            bad input, refused before any SQL (also a ValueError)
    ├── StoreUnavailable           the connection was lost or the server cannot be reached
    │   ├── CommitOutcomeUnknown   the connection was lost during COMMIT: stored or not
    │   └── ReadOnlyServer         a write reached a server that takes none (a replica)
    ├── InvalidURL                 a store URL or option cannot work (also a ValueError)
    ├── SchemaOutdated             the tables lack what userstore needs (an older schema, none)
    ├── DatabaseError              any other refusal by the database, with its code
    │   └── TransactionConflict    rolled back to end a conflict (deadlock, certification)
    └── AdapterNotFound            no installed adapter serves a URL scheme (also a LookupError)

Adapters translate their driver's errors into these in one place; a raw driver
exception never escapes for a case the contract names.

In a process that has imported FastAPI Users, ``UserAlreadyExists``,
``UserNotFound`` and ``OAuthAccountAlreadyLinked`` are created as the classes of
``userstore.fastapi_users`` of the same meaning: each is the userstore error and
FastAPI Users' own (``fastapi_users.exceptions.UserAlreadyExists``,
``UserNotExists``) or an HTTP 400/404, so FastAPI Users' routers answer them as
they answer the duplicates and missing users they find themselves.  The classes
are looked up once, at the first such error after FastAPI Users was imported;
``import userstore`` never imports FastAPI Users.
"""

# The names are public API and follow FastAPI Users' (UserAlreadyExists, ...),
# so pep8-naming's "Error suffix" rule does not apply here.

from __future__ import annotations

import importlib
import sys
from typing import Any, Self

__all__ = [
    "AccessTokenAlreadyExists",
    "AdapterNotFound",
    "CommitOutcomeUnknown",
    "DatabaseError",
    "InvalidURL",
    "InvalidUserData",
    "OAuthAccountAlreadyLinked",
    "ReadOnlyServer",
    "SchemaOutdated",
    "StoreUnavailable",
    "TransactionConflict",
    "UserAlreadyExists",
    "UserNotFound",
    "UserStoreError",
]


_FRAMEWORK = "fastapi_users"
_INTEGRATION = "userstore.fastapi_users"
_framework_classes: dict[type[Any], type[Any]] | None = None


def _framework_class(cls: type[Any]) -> type[Any]:
    """``cls``, or its ``userstore.fastapi_users`` counterpart if FastAPI Users is imported.

    Only a process that imported FastAPI Users can catch its exceptions, so the
    integration is imported (once) only then; until then this is a dict lookup.
    The integration is loaded by name, like an entry point: it builds on this
    module, and this module only looks its classes up.
    """
    global _framework_classes
    if _framework_classes is None:
        if _FRAMEWORK not in sys.modules:
            return cls
        try:
            integration = importlib.import_module(_INTEGRATION)
        except ImportError:  # FastAPI Users half-imported (an error raised during its import)
            return cls
        _framework_classes = integration._ERROR_CLASSES
    return _framework_classes.get(cls, cls)


class UserStoreError(Exception):
    """Base class of every error a userstore adapter raises on purpose."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # the integration's class of the same meaning, once FastAPI Users is imported
        created: Self = super().__new__(_framework_class(cls), *args, **kwargs)
        return created


class UserAlreadyExists(UserStoreError):
    """A user with the same email key (or the same id) is stored already."""


class OAuthAccountAlreadyLinked(UserStoreError):
    """The pair (oauth_name, account_id) is linked to a user already; nothing was written."""


class AccessTokenAlreadyExists(UserStoreError):
    """An access token with the same value is stored already."""


class UserNotFound(UserStoreError):
    """The user (or OAuth account) an update or delete refers to no longer exists."""


class InvalidUserData(UserStoreError, ValueError):
    """Input refused by the field rules before any SQL ran; nothing was written.

    ``field`` names the offending key and ``reason`` says what is wrong with it.
    The message never contains the value itself, so secrets do not leak into logs.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidUserData], tuple[str, str]]:
        return (type(self), (self.field, self.reason))


class StoreUnavailable(UserStoreError):
    """The database could not be reached or the connection dropped mid-call.

    The failed work was rolled back; the next call uses a fresh connection.
    """


class CommitOutcomeUnknown(StoreUnavailable):
    """The connection was lost while the database committed: the write may be stored or not.

    The database received COMMIT and the answer never came back, so userstore
    cannot tell whether the transaction is kept.  Where the write can be
    recognised (a created user, OAuth account or access token, by its id or key;
    a deleted user) userstore looks on a new connection and, if the write is
    there, returns as if the commit had answered.  This error means it could not
    look (the server is still unreachable) or did not find the write: a server
    that lost the client may still be finishing the commit, so "not found" is not
    proof that nothing was stored.  Look the object up before writing it again:
    the same create run twice gives ``UserAlreadyExists`` if the first was kept.
    """


class ReadOnlyServer(StoreUnavailable):
    """A write reached a server that accepts none: a replica, or a primary demoted by failover.

    ``server`` is the server's ``host:port`` (or file).  Nothing was written; the
    next write on a connection to the primary succeeds.
    """

    def __init__(self, message: str, *, server: str) -> None:
        super().__init__(message)
        self.server = server

    def __reduce__(self) -> tuple[Any, ...]:
        return (_read_only_server, (str(self), self.server))


def _read_only_server(message: str, server: str) -> ReadOnlyServer:
    return ReadOnlyServer(message, server=server)


class InvalidURL(UserStoreError, ValueError):
    """A store URL, one of its query options or a connect option that cannot work.

    Raised before any connection is attempted where the adapter can tell; ``part``
    names what is wrong (``scheme``, ``driver``, ``host``, ``port``, ``database``
    or the query option's name) and the message says what to use instead.  The
    message never contains the URL's password.
    """

    def __init__(self, message: str, *, part: str) -> None:
        super().__init__(message)
        self.part = part

    def __reduce__(self) -> tuple[Any, ...]:
        return (_invalid_url, (str(self), self.part))


def _invalid_url(message: str, part: str) -> InvalidURL:
    return InvalidURL(message, part=part)


class SchemaOutdated(UserStoreError):
    """The database's tables lack what userstore needs; nothing was read or written.

    Raised by the first call on tables made for something else: an older schema
    (fastapi-users-db-sqlalchemy 7's, which has no ``email_key`` column and no
    unique OAuth link), or none at all.  ``problems`` says, one entry per gap,
    which table lacks what; ``fix`` is the command (or migration) that brings the
    schema up to date.  The message's first line holds both.
    """

    def __init__(self, problems: tuple[str, ...] | list[str], fix: str) -> None:
        self.problems = tuple(problems)
        self.fix = fix
        super().__init__(f"{'; '.join(self.problems)}: {fix}")

    def __reduce__(self) -> tuple[type[SchemaOutdated], tuple[tuple[str, ...], str]]:
        return (type(self), (self.problems, self.fix))


class DatabaseError(UserStoreError):
    """The database refused a statement for a reason the contract has no error for.

    An undefined column, a permission the database user lacks, a value out of a
    column's range...  ``code`` is the driver's error code (a SQLSTATE, a MySQL
    error number) where it has one; ``detail`` is the driver's first line where it
    cannot quote a stored value, else None, and then the driver's exception is
    withheld from the chain too.  The message is ``database error (<driver class>:
    <detail>)`` or ``database error (<driver class>, <code>)``.
    """

    def __init__(self, message: str, *, code: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (_database_error, (type(self), str(self), self.code, self.detail))


def _database_error(
    cls: type[DatabaseError], message: str, code: str | None, detail: str | None
) -> DatabaseError:
    return cls(message, code=code, detail=detail)


class TransactionConflict(DatabaseError):
    """The database rolled the transaction back to end a conflict with a concurrent one.

    A deadlock (MySQL 1213, PostgreSQL 40P01), a serialization failure (40001) or
    a Galera certification failure (1213 at COMMIT, when another node committed
    a write to the same rows first).  Nothing of the transaction was kept; running
    it again is safe and usually succeeds.  userstore runs its own one-call
    writes again by itself, so this reaches the application only from a write
    inside the application's own transaction (``async with session.begin()``),
    which userstore cannot replay, or after several conflicts in a row.
    """


class AdapterNotFound(UserStoreError, LookupError):
    """No installed adapter serves the URL scheme given to :func:`userstore.connect`."""
