"""Field rules for a mapped model: the contract's rules, plus one per custom column."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import BigInteger, Integer, SmallInteger, Uuid
from sqlalchemy.orm import Mapper
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.schema import Column

from userstore import IdType
from userstore.rules import FieldRule, Schema

from .types import GUID

__all__ = ["id_kind", "int_range", "model_schema"]

_INT_RANGES = [
    (BigInteger, (-(2**63), 2**63 - 1)),
    (SmallInteger, (-(2**15), 2**15 - 1)),
    (Integer, (-(2**31), 2**31 - 1)),
]


def _base_type(type_: Any) -> Any:
    return getattr(type_, "impl_instance", None) or type_


def int_range(column: Column[Any]) -> tuple[int, int]:
    """The values an integer column holds on every backend (SQLite's are wider)."""
    type_ = _base_type(column.type)
    for kind, bounds in _INT_RANGES:
        if isinstance(type_, kind):
            return bounds
    return _INT_RANGES[0][1]


def id_kind(column: Column[Any]) -> IdType:
    """Whether a primary-key column holds UUIDs or integers."""
    type_ = column.type
    if isinstance(type_, (GUID, Uuid)):
        return "uuid"
    if isinstance(_base_type(type_), Integer):
        return "int"
    try:
        python_type = type_.python_type
    except NotImplementedError:
        python_type = object
    if python_type is uuid.UUID:
        return "uuid"
    raise TypeError(f"id column {column} must hold UUIDs or integers, not {type_!r}")


def _python_type(type_: Any) -> type[Any]:
    """The Python type a column type holds; ``object`` if it does not say."""
    try:
        found = type_.python_type
    except NotImplementedError:
        return object
    return found if isinstance(found, type) else object


def _column_rule(name: str, column: Column[Any]) -> FieldRule:
    """The rule of an application's column, from its type's ``python_type``.

    A datetime column refuses naive datetimes; a JSON column checks the strings
    inside the document; a column whose type does not say what it holds accepts
    any value, its strings checked for NUL, surrogates and the length of the
    underlying string type.
    """
    type_ = _base_type(column.type)
    is_json = isinstance(type_, sqltypes.JSON)
    types = (object,) if is_json else (_python_type(column.type),)
    has_default = column.default is not None or column.server_default is not None
    autoincrement = column.primary_key and isinstance(type_, Integer)
    length = getattr(type_, "length", None)
    return FieldRule(
        name,
        types,
        nullable=bool(column.nullable),
        required=not column.nullable and not has_default and not autoincrement,
        max_length=length if isinstance(length, int) and not is_json else None,
        int_range=int_range(column) if isinstance(type_, Integer) else None,
        json=is_json,
    )


def model_schema(mapper: Mapper[Any], base: Schema, *, fixed: tuple[str, ...] = ()) -> Schema:
    """``base`` (the contract's rules) plus a rule for every other column of ``mapper``.

    A contract field keeps its rule, narrowed to the column's length where the
    column is shorter (an older table); names in ``fixed`` are set by the
    adapter and refused in input.
    """
    rules: dict[str, FieldRule] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if not isinstance(column, Column):
            continue
        key = prop.key
        if key in fixed:
            rules[key] = FieldRule(key, (object,), writable=False)
        elif key in base.rules:
            rule = base.rules[key]
            length = getattr(_base_type(column.type), "length", None)
            if isinstance(length, int) and (rule.max_length is None or length < rule.max_length):
                rule = dataclasses.replace(rule, max_length=length)
            if int in rule.types and isinstance(_base_type(column.type), Integer):
                low, high = int_range(column)
                old_low, old_high = rule.int_range or (low, high)
                rule = dataclasses.replace(rule, int_range=(max(low, old_low), min(high, old_high)))
            rules[key] = rule
        else:
            rules[key] = _column_rule(key, column)
    return Schema(base.kind, rules)
