"""The models a store works on.

Declared for it (:func:`build_models`) or found among the application's
(:func:`discover_models`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, mapped_column, registry, relationship

from userstore import (
    IdType,
)

from .access_token import SQLAlchemyBaseAccessTokenTable
from .models import (
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTable,
    SQLAlchemyBaseUserTableUUID,
)
from .types import GUID

__all__ = ["DefaultModels", "StoreModels", "build_models", "discover_models"]


@dataclasses.dataclass(frozen=True)
class StoreModels:
    """The mapped classes a store works on, and the metadata holding their tables.

    ``oauth_account`` and ``access_token`` are ``None`` when the application's
    models have no such class; ``source`` says where the models came from.
    """

    metadata: MetaData
    user: type[Any]
    oauth_account: type[Any] | None
    access_token: type[Any] | None
    source: str = "the default models"


@dataclasses.dataclass(frozen=True)
class DefaultModels(StoreModels):
    """The models :func:`build_models` declares: all three classes are there."""

    oauth_account: type[Any]
    access_token: type[Any]


def build_models(*, table_prefix: str = "", id_type: IdType = "uuid") -> DefaultModels:
    """Declare the user, OAuth-account and access-token models on a fresh metadata.

    Tables are named ``{table_prefix}user``, ``{table_prefix}oauth_account`` and
    ``{table_prefix}accesstoken``; ids are UUIDs or autoincrement integers.
    """
    if id_type not in ("uuid", "int"):
        raise ValueError(f"id_type must be 'uuid' or 'int', not {id_type!r}")

    class Base(DeclarativeBase):
        pass

    user_name = f"{table_prefix}user"
    # 64-bit integer ids, as the memory adapter has; SQLite's rowid alias must be INTEGER
    id_column_type: Any = (
        GUID if id_type == "uuid" else BigInteger().with_variant(Integer, "sqlite")
    )
    account_base: Any = (
        SQLAlchemyBaseOAuthAccountTableUUID
        if id_type == "uuid"
        else SQLAlchemyBaseOAuthAccountTable
    )
    user_base: Any = SQLAlchemyBaseUserTableUUID if id_type == "uuid" else SQLAlchemyBaseUserTable

    def owner() -> Any:
        return mapped_column(
            id_column_type,
            ForeignKey(f"{user_name}.id", ondelete="cascade"),
            nullable=False,
            index=True,
        )

    account_attrs: dict[str, Any] = {
        "__tablename__": f"{table_prefix}oauth_account",
        "user_id": owner(),
    }
    user_attrs: dict[str, Any] = {"__tablename__": user_name}
    if id_type == "int":
        account_attrs["id"] = mapped_column(id_column_type, primary_key=True, autoincrement=True)
        user_attrs["id"] = mapped_column(id_column_type, primary_key=True, autoincrement=True)
    oauth_account = type("OAuthAccount", (account_base, Base), account_attrs)
    user_attrs["oauth_accounts"] = relationship(oauth_account, lazy="raise", passive_deletes=True)
    user = type("User", (user_base, Base), user_attrs)
    access_token = type(
        "AccessToken",
        (SQLAlchemyBaseAccessTokenTable, Base),
        {"__tablename__": f"{table_prefix}accesstoken", "user_id": owner()},
    )
    return DefaultModels(Base.metadata, user, oauth_account, access_token)


_KINDS: tuple[tuple[str, type[Any], bool], ...] = (
    ("user", SQLAlchemyBaseUserTable, True),
    ("OAuth-account", SQLAlchemyBaseOAuthAccountTable, False),
    ("access-token", SQLAlchemyBaseAccessTokenTable, False),
)


def discover_models(base: Any) -> StoreModels:
    """Find the user, OAuth-account and access-token models among the classes ``base`` maps.

    ``base`` is a declarative base (a ``DeclarativeBase`` subclass, or what
    ``declarative_base()`` returned) or its ``registry``.  The user model is the
    one mapped class built on :class:`SQLAlchemyBaseUserTable` (either id kind);
    the OAuth-account and access-token models, built on
    :class:`SQLAlchemyBaseOAuthAccountTable` and
    :class:`SQLAlchemyBaseAccessTokenTable`, are optional.  A class mapped by
    inheritance from another counts as that one.  Raises ``TypeError`` if
    ``base`` is neither, if no class is a user model, or if two classes are
    models of one kind.
    """
    found = base if isinstance(base, registry) else getattr(base, "registry", None)
    if not isinstance(found, registry):
        raise TypeError(f"{base!r} is not a SQLAlchemy declarative base or registry")
    name = getattr(base, "__qualname__", None) or type(base).__qualname__
    source = f"{getattr(base, '__module__', '?')}:{name}"
    roots = [m.class_ for m in found.mappers if m.inherits is None]
    chosen: dict[str, type[Any] | None] = {}
    for kind, mixin, required in _KINDS:
        classes = sorted((c for c in roots if issubclass(c, mixin)), key=lambda c: c.__name__)
        if len(classes) > 1:
            names = ", ".join(c.__name__ for c in classes)
            raise TypeError(f"{source} maps several {kind} models: {names}")
        if not classes and required:
            raise TypeError(
                f"{source} maps no user model (a class built on "
                f"userstore_sqlalchemy.{mixin.__name__} or its UUID variant)"
            )
        chosen[kind] = classes[0] if classes else None
    user = chosen["user"]
    assert user is not None
    return StoreModels(
        found.metadata, user, chosen["OAuth-account"], chosen["access-token"], source
    )
