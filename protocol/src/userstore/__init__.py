"""userstore: a user-persistence protocol for Python web frameworks.

The abstract databases (FastAPI Users' method names), typed errors, the email
key, and :func:`connect`, which finds an adapter by URL scheme through the
``userstore.adapters`` entry points.  The field rules adapters apply are in
:mod:`userstore.rules`.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import rules as _rules
from ._errors import (
    AccessTokenAlreadyExists,
    AdapterNotFound,
    CommitOutcomeUnknown,
    DatabaseError,
    InvalidURL,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    ReadOnlyServer,
    SchemaOutdated,
    StoreUnavailable,
    TransactionConflict,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from ._fields import IdType, email_key
from ._protocol import (
    AccessTokenProtocol,
    BaseAccessTokenDatabase,
    BaseUserDatabase,
    OAuthAccountProtocol,
    UserOAuthProtocol,
    UserProtocol,
)
from ._registry import ENTRY_POINT_GROUP, Adapter, available_adapters, connect, register
from ._store import SchemaConflict, SchemaUpgrade, Store, StoreSession, UpgradeProgress

__version__ = "0.1.0"

__all__ = [
    "ENTRY_POINT_GROUP",
    "AccessTokenAlreadyExists",
    "AccessTokenProtocol",
    "Adapter",
    "AdapterNotFound",
    "CommitOutcomeUnknown",
    "DatabaseError",
    "BaseAccessTokenDatabase",
    "BaseUserDatabase",
    "IdType",
    "InvalidURL",
    "InvalidUserData",
    "OAuthAccountAlreadyLinked",
    "OAuthAccountProtocol",
    "ReadOnlyServer",
    "SchemaConflict",
    "SchemaOutdated",
    "SchemaUpgrade",
    "Store",
    "StoreSession",
    "StoreUnavailable",
    "TransactionConflict",
    "UserAlreadyExists",
    "UserNotFound",
    "UserOAuthProtocol",
    "UserProtocol",
    "UpgradeProgress",
    "UserStoreError",
    "__version__",
    "available_adapters",
    "connect",
    "email_key",
    "register",
]

# Public classes and functions are userstore's, wherever their code lives: reprs,
# tracebacks and pickles name ``userstore.UserAlreadyExists``, not a private module.
for _name in __all__:
    _value = globals()[_name]
    public = isinstance(_value, type) or (callable(_value) and hasattr(_value, "__code__"))
    if public and _value.__module__.startswith("userstore._"):
        _value.__module__ = __name__
del _name, _value, public


_MOVED_TO_RULES = frozenset(
    (
        "ACCESS_TOKEN_FIELDS",
        "EMAIL_KEY_MAX_LENGTH",
        "OAUTH_ACCOUNT_FIELDS",
        "FieldRule",
        "Schema",
        "check_aware_datetime",
        "coerce_id",
        "id_rule",
        "lookup_email_key",
        "lookup_string",
        "token_digest",
        "user_fields",
    )
)


# Hidden from type checkers: they report the old names, and any misspelt one, as errors.
if not _TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """The field-rule helpers, now in :mod:`userstore.rules`, under their old names."""
        if name in _MOVED_TO_RULES:
            import warnings

            warnings.warn(
                f"userstore.{name} moved to userstore.rules.{name}",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(_rules, name)
        raise AttributeError(f"module 'userstore' has no attribute {name!r}")
