"""FastAPI Users integration: userstore's errors as FastAPI Users' routers answer them.

Needs the ``fastapi-users`` extra (``pip install "userstore[fastapi-users]"``).
``import userstore`` never imports this module; nothing else in userstore
depends on FastAPI Users.

Nothing here has to be wired for FastAPI Users' routers to answer 400, never
500, to a duplicate email or a linked OAuth account.  In a process that has
imported FastAPI Users, the adapters' errors are created as this module's
classes, each both the userstore error and what FastAPI Users' routers catch
or answer::

    userstore error              raised as                    FastAPI Users' routers answer
    UserAlreadyExists            UserAlreadyExists (*)        400 REGISTER_USER_ALREADY_EXISTS,
                                                              UPDATE_USER_EMAIL_ALREADY_EXISTS,
                                                              OAUTH_USER_ALREADY_EXISTS
    UserNotFound                 UserNotExists (*)            what they answer for a missing
                                                              user where they catch it, 404
                                                              Not Found elsewhere
    OAuthAccountAlreadyLinked    OAuthAccountAlreadyLinked    400 OAUTH_ACCOUNT_ALREADY_LINKED
                                 (an HTTP 400)
    InvalidUserData              unchanged                    500 (422 with the handlers)
    StoreUnavailable             unchanged                    500 (503 with the handlers)
    CommitOutcomeUnknown         unchanged                    500 (503 with the handlers: a
                                                              StoreUnavailable)
    ReadOnlyServer               unchanged                    500 (503 with the handlers: a
                                                              StoreUnavailable)
    AccessTokenAlreadyExists     unchanged                    500 (a token collision is a bug)
    AdapterNotFound              unchanged                    500 (a configuration error)
    InvalidURL                   unchanged                    500 (a configuration error)
    SchemaOutdated               unchanged                    500 (run userstore upgrade)
    DatabaseError                unchanged                    500 (the database refused)
    TransactionConflict          unchanged                    500 (the application's own
                                                              transaction conflicted: run it
                                                              again)

    (*) a subclass of FastAPI Users' exception of that name and of the userstore error

So a duplicate email that slips past ``BaseUserManager``'s lookup (two
registrations racing, an email change racing another) reaches the register and
users routers as the duplicate they find by lookup, and associating an OAuth
account that another user holds (the associate router catches nothing) answers
400.  Code that catches userstore's errors keeps catching them.

Two options remain, for the other errors and for databases that are not
userstore's adapters:

- :class:`FastAPIUsersDatabase` wraps any userstore user database and raises, for
  errors that are not this module's classes yet (a third-party adapter's own
  subclasses), the classes of the table above.
- :func:`add_exception_handlers` answers ``InvalidUserData`` with 422,
  ``StoreUnavailable`` with 503 and ``Retry-After``, and the three errors above
  as the table says wherever they come from.

Usage, if wanted::

    async def get_user_db(session: AsyncSession = Depends(get_async_session)):
        yield FastAPIUsersDatabase(SQLAlchemyUserDatabase(session, User, OAuthAccount))

    app = FastAPI()
    add_exception_handlers(app)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi_users import exceptions as fastapi_users_exceptions
from fastapi_users.db import BaseUserDatabase as FastAPIUsersBaseUserDatabase
from starlette.exceptions import HTTPException

from . import _errors
from ._protocol import BaseUserDatabase, UserProtocol

__all__ = [
    "ErrorCode",
    "FastAPIUsersDatabase",
    "OAuthAccountAlreadyLinked",
    "UserAlreadyExists",
    "UserNotExists",
    "add_exception_handlers",
    "translate_errors",
]

UP = TypeVar("UP", bound=UserProtocol[Any])
ID = TypeVar("ID")


class UserAlreadyExists(fastapi_users_exceptions.UserAlreadyExists, _errors.UserAlreadyExists):
    """A user with the same email key exists: FastAPI Users' exception and userstore's at once."""


class _HTTPError(HTTPException):
    """An error that Starlette answers as ``status_code`` with ``detail`` if nothing catches it.

    Its message, ``str()`` and ``repr()`` are the userstore error's, not the HTTP status.
    """

    status_code: int
    detail: str
    headers: dict[str, str] | None

    def __init__(self, *args: object) -> None:
        Exception.__init__(self, *args)
        self.headers = None

    __str__ = Exception.__str__
    __repr__ = Exception.__repr__


class UserNotExists(fastapi_users_exceptions.UserNotExists, _errors.UserNotFound, _HTTPError):
    """The user is gone: FastAPI Users' ``UserNotExists`` and userstore's ``UserNotFound``.

    Where no router catches it (a user deleted while its own request ran) it
    answers 404, detail ``Not Found``.
    """

    status_code = status.HTTP_404_NOT_FOUND
    detail = "Not Found"


class OAuthAccountAlreadyLinked(_errors.OAuthAccountAlreadyLinked, _HTTPError):
    """The OAuth account is another user's: userstore's error, answered 400 if uncaught.

    Detail ``OAUTH_ACCOUNT_ALREADY_LINKED``; nothing was written.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    detail = "OAUTH_ACCOUNT_ALREADY_LINKED"


_ERROR_CLASSES: dict[type[Any], type[Any]] = {
    _errors.UserAlreadyExists: UserAlreadyExists,
    _errors.UserNotFound: UserNotExists,
    _errors.OAuthAccountAlreadyLinked: OAuthAccountAlreadyLinked,
}
"""The classes userstore's errors are created as once FastAPI Users is imported."""


class ErrorCode(StrEnum):
    """The ``detail`` codes of the responses :func:`add_exception_handlers` gives."""

    OAUTH_ACCOUNT_ALREADY_LINKED = "OAUTH_ACCOUNT_ALREADY_LINKED"
    INVALID_USER_DATA = "INVALID_USER_DATA"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


_TRANSLATIONS: dict[type[_errors.UserStoreError], type[_errors.UserStoreError] | None] = {
    _errors.UserAlreadyExists: UserAlreadyExists,
    _errors.UserNotFound: UserNotExists,
    _errors.OAuthAccountAlreadyLinked: OAuthAccountAlreadyLinked,
    # FastAPI Users has no exception for these; add_exception_handlers answers them.
    _errors.InvalidUserData: None,
    _errors.StoreUnavailable: None,
    _errors.CommitOutcomeUnknown: None,
    _errors.ReadOnlyServer: None,
    _errors.AccessTokenAlreadyExists: None,
    _errors.AdapterNotFound: None,
    _errors.InvalidURL: None,
    _errors.SchemaOutdated: None,
    _errors.DatabaseError: None,
    _errors.TransactionConflict: None,
}


def _translation(error: _errors.UserStoreError) -> type[_errors.UserStoreError] | None:
    if isinstance(error, tuple(_ERROR_CLASSES.values())):
        return None  # created as its translation already
    for cls in type(error).__mro__:
        if cls in _TRANSLATIONS:
            return _TRANSLATIONS[cls]
    return None


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise, inside the block, userstore errors as FastAPI Users' exceptions (see the table).

    The new exception keeps the message and has the userstore error as its
    ``__cause__``; errors without a FastAPI Users counterpart pass unchanged.
    """
    try:
        yield
    except _errors.UserStoreError as error:
        translated = _translation(error)
        if translated is None:
            raise
        raise translated(str(error)) from error


class FastAPIUsersDatabase(FastAPIUsersBaseUserDatabase[UP, ID]):
    """A userstore user database as FastAPI Users' ``BaseUserDatabase``.

    Every method delegates to ``database`` inside :func:`translate_errors`, so
    ``create`` and ``update`` raise :class:`UserAlreadyExists` for a taken email
    and the write methods raise :class:`UserNotExists` for a user that is gone.
    Any other attribute (``session``, ``user_table``...) is read from ``database``.
    userstore's own adapters raise these classes already; the wrapper changes
    only what other adapters raise as subclasses of userstore's errors.
    """

    def __init__(self, database: BaseUserDatabase[UP, ID]) -> None:
        self.database = database

    def __getattr__(self, name: str) -> Any:
        if name == "database":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.database, name)

    async def get(self, id: ID) -> UP | None:
        """Return the user with this id, or ``None``."""
        with translate_errors():
            return await self.database.get(id)

    async def get_by_email(self, email: str) -> UP | None:
        """Return the user whose email has the same key, or ``None``."""
        with translate_errors():
            return await self.database.get_by_email(email)

    async def get_by_oauth_account(self, oauth: str, account_id: str) -> UP | None:
        """Return the user linked to ``(oauth, account_id)``, or ``None``."""
        with translate_errors():
            return await self.database.get_by_oauth_account(oauth, account_id)

    async def create(self, create_dict: dict[str, Any]) -> UP:
        """Store a new user; :class:`UserAlreadyExists` if its email key is taken."""
        with translate_errors():
            return await self.database.create(create_dict)

    async def update(self, user: UP, update_dict: dict[str, Any]) -> UP:
        """Update ``user``; :class:`UserAlreadyExists` for a taken email, :class:`UserNotExists`."""
        with translate_errors():
            return await self.database.update(user, update_dict)

    async def delete(self, user: UP) -> None:
        """Delete ``user`` with its OAuth accounts and tokens; :class:`UserNotExists` if gone."""
        with translate_errors():
            await self.database.delete(user)

    async def add_oauth_account(self, user: UP, create_dict: dict[str, Any]) -> UP:
        """Link an account to ``user``; ``OAuthAccountAlreadyLinked`` (unchanged) if linked."""
        with translate_errors():
            return await self.database.add_oauth_account(user, create_dict)

    async def update_oauth_account(
        self, user: UP, oauth_account: Any, update_dict: dict[str, Any]
    ) -> UP:
        """Update one linked account of ``user`` and return the user."""
        with translate_errors():
            return await self.database.update_oauth_account(user, oauth_account, update_dict)

    async def remove_oauth_account(self, user: UP, oauth_account: Any) -> UP:
        """Unlink one account of ``user`` (a no-op if it is not linked) and return the user."""
        with translate_errors():
            return await self.database.remove_oauth_account(user, oauth_account)


def _json(status_code: int, detail: object) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"detail": detail})


async def _oauth_account_already_linked(request: Request, error: Exception) -> Response:
    return _json(status.HTTP_400_BAD_REQUEST, ErrorCode.OAUTH_ACCOUNT_ALREADY_LINKED.value)


async def _user_not_found(request: Request, error: Exception) -> Response:
    return _json(status.HTTP_404_NOT_FOUND, "Not Found")


async def _invalid_user_data(request: Request, error: Exception) -> Response:
    detail = {"code": ErrorCode.INVALID_USER_DATA.value, "reason": str(error)}
    return _json(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


async def _store_unavailable(request: Request, error: Exception) -> Response:
    response = _json(status.HTTP_503_SERVICE_UNAVAILABLE, ErrorCode.STORE_UNAVAILABLE.value)
    response.headers["Retry-After"] = "1"
    return response


def add_exception_handlers(app: FastAPI) -> None:
    """Answer userstore errors that no FastAPI Users router catches, instead of with a 500.

    - ``OAuthAccountAlreadyLinked``: 400, detail ``OAUTH_ACCOUNT_ALREADY_LINKED``
      (associating an account that another user holds; nothing was written);
    - ``UserNotFound`` (and :class:`UserNotExists`): 404, detail ``Not Found``
      (the user was deleted while the request ran);
    - ``InvalidUserData``: 422, detail ``{"code": "INVALID_USER_DATA", "reason": ...}``
      (the reason names the field, never its value);
    - ``StoreUnavailable``: 503, detail ``STORE_UNAVAILABLE``, with ``Retry-After: 1``.

    Handlers the application registered for these classes before are replaced.
    """
    app.add_exception_handler(_errors.OAuthAccountAlreadyLinked, _oauth_account_already_linked)
    app.add_exception_handler(_errors.UserNotFound, _user_not_found)
    app.add_exception_handler(_errors.InvalidUserData, _invalid_user_data)
    app.add_exception_handler(_errors.StoreUnavailable, _store_unavailable)
