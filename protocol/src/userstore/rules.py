"""The field rules and keys every adapter applies, in Python, before any SQL: for adapter authors.

An adapter checks each create and update dict against a :class:`Schema`
(:func:`user_fields`, :data:`OAUTH_ACCOUNT_FIELDS`, :data:`ACCESS_TOKEN_FIELDS`;
``Schema.with_rules`` adds an application's own :class:`FieldRule`), compares
emails by :func:`email_key`, keeps :func:`token_digest` of tokens when asked to,
and answers None without asking the database for a lookup value that could never
have been stored (:func:`coerce_id`, :func:`lookup_email_key`,
:func:`lookup_string`).  Applications rarely need this module: ``email_key`` and
``IdType`` are also in :mod:`userstore`.
"""

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

__all__ = [
    "ACCESS_TOKEN_FIELDS",
    "EMAIL_KEY_MAX_LENGTH",
    "OAUTH_ACCOUNT_FIELDS",
    "FieldRule",
    "IdType",
    "Schema",
    "check_aware_datetime",
    "coerce_id",
    "email_key",
    "id_rule",
    "lookup_email_key",
    "lookup_string",
    "token_digest",
    "user_fields",
]

for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or (callable(_value) and hasattr(_value, "__code__")):
        _value.__module__ = __name__
del _name, _value
