"""Whether the database's tables hold what userstore's models declare, checked once per engine.

The first call of a user or access-token database on an engine reads the
database's description of every table the models' registry maps on userstore's
mixins (SQLAlchemy's inspector: the columns, unique indexes and constraints,
foreign keys) and compares it with the models:

- every table exists, with every column the model maps;
- every unique index or constraint the model declares exists in the database, on
  the same columns (``email_key``; ``(oauth_name, account_id)``): without it
  duplicates go in silently;
- every foreign key the model declares ``ON DELETE CASCADE`` is one in the
  database (deleting a user relies on it).

A gap raises :class:`~userstore.SchemaOutdated` naming the tables, what they
lack and the command that fixes it; nothing was read or written then, and the
next call checks again.  Once the tables pass, calls on that engine never check
again.  Types, non-unique indexes and anything else the application declares
are left to its migrations.

Round trips of the check (the user, OAuth-account and access-token tables):
PostgreSQL 7 catalog queries, MySQL/MariaDB 4 (``SHOW CREATE TABLE`` and the
like), SQLite some 30 ``PRAGMA`` reads of the local file.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, Integer, Table, UniqueConstraint, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapper

from userstore import SchemaOutdated

from .models import (
    SQLAlchemyBaseAccessTokenTable,
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseUserTable,
)

__all__ = ["SchemaCheck", "schema_check", "schema_problems"]

_DEFAULT_NAMES = ("user", "oauth_account", "accesstoken")

UPGRADE = "upgrade"
"""A gap ``userstore upgrade`` (``upgrade_from_fastapi_users``) closes."""
CREATE = "create"
"""A table that does not exist: ``userstore init`` (``create_all``) creates it."""
OTHER = "other"
"""A gap of the application's own columns or constraints: its migrations close it."""
MODELS = "models"
"""Tables made for other models (integer ids where the models have UUIDs, or the reverse)."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing a table lacks, and which kind of fix closes it."""

    table: str
    text: str
    kind: str


def _userstore_tables(mapper: Mapper[Any], extra: Iterable[type[Any] | None]) -> tuple[Table, ...]:
    """The tables of userstore's mixins in ``mapper``'s registry, and those of ``extra``."""
    mixins = (
        SQLAlchemyBaseUserTable,
        SQLAlchemyBaseOAuthAccountTable,
        SQLAlchemyBaseAccessTokenTable,
    )
    classes = [mapper.class_, *(c for c in extra if c is not None)]
    classes += [
        sub.class_
        for sub in mapper.registry.mappers
        if sub.inherits is None and issubclass(sub.class_, mixins)
    ]
    found: dict[int, Table] = {}
    for cls in classes:
        table = inspect(cls).local_table
        if isinstance(table, Table):
            found.setdefault(id(table), table)

    def rank(table: Table) -> tuple[int, str, str]:
        cls = next(c for c in classes if inspect(c).local_table is table)
        order = next((n for n, m in enumerate(mixins) if issubclass(cls, m)), len(mixins))
        return (order, table.schema or "", table.name)

    return tuple(sorted(found.values(), key=rank))


def _declarative_base(cls: type[Any]) -> type[Any] | None:
    """The class in ``cls``'s bases that holds its registry (the ``Base``), if any."""
    for base in cls.__mro__[1:]:
        if "registry" in vars(base) and "__table__" not in vars(base):
            return base
    return None


class SchemaCheck:
    """The check of one set of tables on one engine; ``verified`` once they passed."""

    def __init__(self, url: str, tables: tuple[Table, ...], models: str | None) -> None:
        # not the engine: the engine-keyed weak dictionary holding the check must not
        # keep its key alive
        self.url = url
        self.tables = tables
        self.models = models
        self.verified = False

    def run(self, connection: Connection) -> None:
        """Inspect the tables on ``connection``; raise ``SchemaOutdated`` for any gap."""
        if self.verified:
            return
        problems = schema_problems(connection, self.tables)
        if problems:
            raise SchemaOutdated(
                [p.text for p in problems], fix_text(problems, self.url, self.models)
            )
        self.verified = True


_TABLES_KEY = "userstore.checked_tables"
"""Key, in the mapped table's ``Table.info``, of the tables to check per set of other models.

Kept there, not in a module-level cache, so it lives exactly as long as the
application's models.
"""
_checks: weakref.WeakKeyDictionary[Engine, dict[tuple[int, ...], SchemaCheck]] = (
    weakref.WeakKeyDictionary()
)


def schema_check(
    engine: Engine, mapper: Mapper[Any], extra: Iterable[type[Any] | None] = ()
) -> SchemaCheck:
    """The (shared) check of the tables of ``mapper``'s registry on ``engine``."""
    also = tuple(extra)
    per_models: dict[tuple[type[Any] | None, ...], tuple[tuple[Table, ...], tuple[int, ...]]]
    local = mapper.local_table
    per_models = local.info.setdefault(_TABLES_KEY, {}) if isinstance(local, Table) else {}
    found_tables = per_models.get(also)
    if found_tables is None:
        tables = _userstore_tables(mapper, also)
        found_tables = per_models[also] = (tables, tuple(id(table) for table in tables))
    tables, key = found_tables
    checks = _checks.get(engine)
    if checks is None:
        checks = _checks[engine] = {}
    found = checks.get(key)
    if found is None:
        models = None
        if any(t.schema is not None or t.name not in _DEFAULT_NAMES for t in tables):
            base = _declarative_base(mapper.class_)
            models = f"{base.__module__}:{base.__qualname__}" if base is not None else "module:Base"
        url = engine.url.render_as_string(hide_password=True)
        found = checks[key] = SchemaCheck(url, tables, models)
    return found


def fix_text(problems: Sequence[Problem], url: str, models: str | None) -> str:
    """What closes ``problems``: the commands, with the URL (its password hidden)."""
    where = f"--url {url}" + (f" --models {models}" if models else "")
    kinds = {p.kind for p in problems}
    fixes = []
    if CREATE in kinds:
        fixes.append(
            f"create the tables with `userstore init {where}` (or metadata.create_all, "
            "or your migrations)"
        )
    if UPGRADE in kinds:
        fudb = any(p.text.endswith("has no column email_key") for p in problems)
        what = "a fastapi-users-db-sqlalchemy 7 schema?" if fudb else "an older schema?"
        fixes.append(
            f"{what} Bring it to userstore's with `userstore upgrade {where}` (or "
            "userstore_sqlalchemy.migrations.upgrade_from_fastapi_users in an Alembic migration)"
        )
    if MODELS in kinds:
        fixes.append("use the models the tables were made with (or the other id type)")
    if OTHER in kinds:
        fixes.append("add the rest with your migrations")
    return "; ".join(fixes)


def _names(columns: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(getattr(c, "name", c)) for c in columns)


def _model_uniques(table: Table) -> list[tuple[str, ...]]:
    """The column lists of the unique constraints and indexes the model declares."""
    found = [
        _names(c.columns)
        for c in table.constraints
        if isinstance(c, UniqueConstraint) and c.columns
    ]
    found += [_names(i.columns) for i in table.indexes if isinstance(i, Index) and i.unique]
    return found


def _cascades(table: Table) -> list[ForeignKeyConstraint]:
    return [
        c
        for c in table.constraints
        if isinstance(c, ForeignKeyConstraint) and (c.ondelete or "").lower() == "cascade"
    ]


def _upgradable_unique(columns: tuple[str, ...]) -> bool:
    return set(columns) in ({"email_key"}, {"oauth_name", "account_id"})


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def schema_problems(connection: Connection, tables: Sequence[Table]) -> list[Problem]:
    """What the database at ``connection`` lacks of ``tables``, in table order."""
    inspector = inspect(connection)
    problems: list[Problem] = []
    by_schema: dict[str | None, list[Table]] = {}
    for table in tables:
        by_schema.setdefault(table.schema, []).append(table)
    for schema, group in by_schema.items():
        names = [t.name for t in group]
        columns = inspector.get_multi_columns(schema=schema, filter_names=names)
        present = [t for t in group if (schema, t.name) in columns]
        with_uniques = [t.name for t in present if _model_uniques(t)]
        with_cascades = [t.name for t in present if _cascades(t)]
        indexes: dict[Any, list[Any]] = {}
        uniques: dict[Any, list[Any]] = {}
        keys: dict[Any, list[Any]] = {}
        if with_uniques:
            indexes = dict(inspector.get_multi_indexes(schema=schema, filter_names=with_uniques))
            uniques = dict(
                inspector.get_multi_unique_constraints(schema=schema, filter_names=with_uniques)
            )
        if with_cascades:
            keys = dict(inspector.get_multi_foreign_keys(schema=schema, filter_names=with_cascades))
        for table in group:
            key = (schema, table.name)
            if key not in columns:
                problems.append(Problem(table.name, f"table {table.name!r} does not exist", CREATE))
                continue
            problems += _id_problems(table, {c["name"]: c["type"] for c in columns[key]})
            problems += _table_problems(
                table,
                {c["name"] for c in columns[key]},
                [*indexes.get(key, []), *uniques.get(key, [])],
                keys.get(key, []),
            )
    return problems


def _id_kind(column_type: Any) -> str:
    return "integer" if isinstance(column_type, Integer) else "non-integer"


def _id_problems(table: Table, types: dict[str, Any]) -> list[Problem]:
    """An integer primary key where the model has another kind, or the reverse."""
    problems = []
    for column in table.primary_key.columns:
        found = types.get(column.name)
        if found is None:
            continue
        stored, declared = _id_kind(found), _id_kind(column.type)
        if stored != declared:
            text = (
                f"table {table.name!r}: column {column.name} holds {stored} ids, "
                f"the models declare {declared} ones"
            )
            problems.append(Problem(table.name, text, MODELS))
    return problems


def _table_problems(
    table: Table, columns: set[str], uniques: list[Any], keys: list[Any]
) -> list[Problem]:
    problems = []
    name = table.name
    missing = [c.name for c in table.columns if c.name not in columns]
    for column in missing:
        kind = UPGRADE if column == "email_key" else OTHER
        problems.append(Problem(name, f"table {name!r} has no column {column}", kind))
    found = {
        frozenset(n for n in u.get("column_names", ()) if n is not None)
        for u in uniques
        if u.get("unique", True)
    }
    for wanted in _model_uniques(table):
        if frozenset(wanted) not in found:
            kind = UPGRADE if _upgradable_unique(wanted) else OTHER
            text = f"table {name!r} has no unique index or constraint on {_listed(wanted)}"
            problems.append(Problem(name, text, kind))
    for constraint in _cascades(table):
        local = [c.name for c in constraint.columns]
        referred = constraint.referred_table.name
        cascading = any(
            list(k["constrained_columns"]) == local
            and k["referred_table"] == referred
            and (k.get("options", {}).get("ondelete") or "").lower() == "cascade"
            for k in keys
        )
        if not cascading:
            text = (
                f"table {name!r}: the foreign key {_listed(local)} -> {referred} "
                "has no ON DELETE CASCADE"
            )
            kind = UPGRADE if local == ["user_id"] else OTHER
            problems.append(Problem(name, text, kind))
    return problems
