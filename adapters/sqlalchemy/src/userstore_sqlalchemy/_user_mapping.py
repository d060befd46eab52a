"""What the user database derives from the application's user and OAuth-account classes.

Derived once per pair of classes and kept in the user table's ``Table.info``,
so it lives exactly as long as the application's models do: no module-level
cache holds the application's classes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Column, Select, Table, bindparam, inspect, select
from sqlalchemy.orm import (
    Mapper,
    RelationshipProperty,
    class_mapper,
    contains_eager,
)

from userstore import IdType
from userstore.rules import OAUTH_ACCOUNT_FIELDS, Schema, id_rule, user_fields

from ._rules import id_kind, int_range, model_schema

__all__ = ["UserMapping", "primary_key", "user_mapping"]


@dataclasses.dataclass(frozen=True)
class UserMapping:
    """What the user database derives once per (user class, OAuth-account class) pair."""

    user_schema: Schema
    account_schema: Schema
    id_type: IdType
    id_range: tuple[int, int]
    accounts_key: str | None
    by_id: Select[Any]
    by_email_key: Select[Any]
    by_account: Select[Any] | None
    cleared_by_hand: tuple[Any, ...]


def _accounts_relationship(user_mapper: Mapper[Any], account_table: Any) -> str:
    for prop in user_mapper.relationships:
        if isinstance(prop, RelationshipProperty) and prop.mapper.class_ is account_table:
            return prop.key
    raise TypeError(
        f"{user_mapper.class_.__name__} needs a relationship to {account_table.__name__} "
        "(oauth_accounts) to be used with an OAuth account table"
    )


_INFO_KEY = "userstore.user_mappings"


def user_mapping(user_table: type[Any], account_table: type[Any] | None) -> UserMapping:
    """What the user database needs to know of a class pair, derived once per pair.

    Kept in the mapped table's ``info`` (SQLAlchemy's dictionary for "application
    data on this table"), keyed by the pair.
    """
    table = class_mapper(user_table).local_table
    if not isinstance(table, Table):  # mapped to a join or a select: derived each time
        return _derive(user_table, account_table)
    mappings: dict[tuple[type[Any], type[Any] | None], UserMapping]
    mappings = table.info.setdefault(_INFO_KEY, {})
    found = mappings.get((user_table, account_table))
    if found is None:
        found = mappings[(user_table, account_table)] = _derive(user_table, account_table)
    return found


def _derive(user_table: type[Any], account_table: type[Any] | None) -> UserMapping:
    mapper: Mapper[Any] = inspect(user_table)
    pk = primary_key(mapper)
    kind = id_kind(pk)
    bounds = int_range(pk) if kind == "int" else (0, 0)
    user_schema = model_schema(mapper, user_fields(kind, id_range=bounds), fixed=("email_key",))
    base = select(user_table).execution_options(populate_existing=True)
    accounts_key = None
    account_schema = Schema("oauth account", {})
    by_account = None
    if account_table is not None:
        accounts_key = _accounts_relationship(mapper, account_table)
        relationship = getattr(user_table, accounts_key)
        base = base.outerjoin(relationship).options(contains_eager(relationship))
        account_mapper: Mapper[Any] = inspect(account_table)
        account_pk = primary_key(account_mapper)
        account_kind = id_kind(account_pk)
        # account ids are always the store's: their order is the link order
        account_id_rule = id_rule(
            account_kind, int_range=int_range(account_pk) if account_kind == "int" else (0, 0)
        )
        account_rules = OAUTH_ACCOUNT_FIELDS.with_rules(
            [dataclasses.replace(account_id_rule, writable=False)]
        )
        account_schema = model_schema(account_mapper, account_rules, fixed=("user_id",))
        owner = (
            select(account_table.user_id)
            .where(account_table.oauth_name == bindparam("name"))
            .where(account_table.account_id == bindparam("account"))
            .scalar_subquery()
        )
        by_account = base.where(pk == owner)
    return UserMapping(
        user_schema=user_schema,
        account_schema=account_schema,
        id_type=kind,
        id_range=bounds,
        accounts_key=accounts_key,
        by_id=base.where(pk == bindparam("id")),
        by_email_key=base.where(user_table.email_key == bindparam("key")),
        by_account=by_account,
        cleared_by_hand=_dependents_without_cascade(mapper, account_table),
    )


def primary_key(mapper: Mapper[Any]) -> Column[Any]:
    (column,) = mapper.primary_key
    if not isinstance(column, Column):
        raise TypeError(f"{mapper.class_.__name__} needs a single-column primary key")
    return column


def _dependents_without_cascade(
    mapper: Mapper[Any], account_table: type[Any] | None
) -> tuple[Any, ...]:
    """Tables userstore owns that reference users without ON DELETE CASCADE."""
    from .access_token import SQLAlchemyBaseAccessTokenTable

    user_table = mapper.local_table
    found: list[tuple[type[Any], Any]] = []
    for sub in mapper.registry.mappers:
        cls = sub.class_
        if cls is account_table or issubclass(cls, SQLAlchemyBaseAccessTokenTable):
            found.extend(
                (cls, getattr(cls, fk.parent.key))
                for fk in sub.local_table.foreign_keys
                if fk.column.table is user_table and (fk.ondelete or "").lower() != "cascade"
            )
    return tuple(found)
