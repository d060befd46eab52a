"""userstore: a user-persistence protocol for Python web frameworks.

The abstract databases (FastAPI Users' method names), typed errors, the field
rules and email key every adapter shares, and :func:`connect`, which finds an
adapter by URL scheme through the ``userstore.adapters`` entry points.
"""

from ._errors import (
    AccessTokenAlreadyExists,
    AdapterNotFound,
    DatabaseError,
    InvalidURL,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    SchemaOutdated,
    StoreUnavailable,
    UserAlreadyExists,
    UserNotFound,
    UserStoreError,
)
from ._fields import (
    ACCESS_TOKEN_FIELDS,
    EMAIL_KEY_MAX_LENGTH,
    OAUTH_ACCOUNT_FIELDS,
    FieldRule,
    IdType,
    Schema,
    check_aware_datetime,
    coerce_id,
    email_key,
    id_rule,
    lookup_email_key,
    lookup_string,
    token_digest,
    user_fields,
)
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
    "ACCESS_TOKEN_FIELDS",
    "EMAIL_KEY_MAX_LENGTH",
    "ENTRY_POINT_GROUP",
    "OAUTH_ACCOUNT_FIELDS",
    "AccessTokenAlreadyExists",
    "AccessTokenProtocol",
    "Adapter",
    "AdapterNotFound",
    "DatabaseError",
    "BaseAccessTokenDatabase",
    "BaseUserDatabase",
    "FieldRule",
    "IdType",
    "InvalidURL",
    "InvalidUserData",
    "OAuthAccountAlreadyLinked",
    "OAuthAccountProtocol",
    "Schema",
    "SchemaConflict",
    "SchemaOutdated",
    "SchemaUpgrade",
    "Store",
    "StoreSession",
    "StoreUnavailable",
    "UserAlreadyExists",
    "UserNotFound",
    "UserOAuthProtocol",
    "UserProtocol",
    "UpgradeProgress",
    "UserStoreError",
    "__version__",
    "available_adapters",
    "check_aware_datetime",
    "coerce_id",
    "connect",
    "email_key",
    "id_rule",
    "lookup_email_key",
    "lookup_string",
    "register",
    "token_digest",
    "user_fields",
]

# Public classes and functions are userstore's, wherever their code lives: reprs,
# tracebacks and pickles name ``userstore.UserAlreadyExists``, not a private module.
for _name in __all__:
    _value = globals()[_name]
    public = isinstance(_value, type) or (callable(_value) and hasattr(_value, "__code__"))
    if public and _value.__module__.startswith("userstore._"):
        _value.__module__ = __name__
del _name, _value, public
