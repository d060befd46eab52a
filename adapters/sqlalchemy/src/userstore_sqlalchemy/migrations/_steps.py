"""The steps of the move from a fastapi-users-db-sqlalchemy 7 schema, table by table."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Table,
    UniqueConstraint,
    bindparam,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.types import TypeEngine

from userstore import email_key
from userstore.rules import EMAIL_KEY_MAX_LENGTH

from ..models import oauth_unique_name
from ..types import ExactString, UTCDateTime
from ._autogenerate import compare_type
from ._conflicts import Conflict

Progress = Callable[[str, int, int], None]
"""Called as ``progress(what, done, total)`` while rows are read or filled."""

__all__ = ["Progress"]


if TYPE_CHECKING:
    from alembic.operations import BatchOperations
    from sqlalchemy.engine import Connection

_log = logging.getLogger(__name__)


class _Migration:
    """The state of one run: where it works, and the steps it has taken."""

    def __init__(
        self,
        operations: Operations,
        context: MigrationContext,
        connection: Connection,
        schema: str | None,
        batch_size: int,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.op: Any = _DryRun() if dry_run else operations
        self.dry_run = dry_run
        self.progress = progress
        self.context = context
        self.connection = connection
        self.dialect = connection.dialect
        self.schema = schema
        self.batch_size = batch_size
        self.steps: list[str] = []
        self.planned_key = False  # a dry run "added" email_key: the database has no such column
        self.cascade: set[str] = set()  # tables whose user_id gets ON DELETE CASCADE

    # -- reading -------------------------------------------------------------------------

    def reflect(self, name: str) -> Table | None:
        """The table as the database has it now, or ``None`` if there is none."""
        if not inspect(self.connection).has_table(name, schema=self.schema):
            return None
        return Table(name, MetaData(), schema=self.schema, autoload_with=self.connection)

    def reflect_again(self, table: Table) -> Table:
        """``table`` reflected anew, after a change."""
        found = self.reflect(table.name)
        if found is None:
            raise LookupError(f"table {table.name!r} disappeared during the migration")
        return found

    def batches(
        self, table: Table, columns: Sequence[str], where: Any = None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of ``table`` (primary key first, then ``columns``), in primary-key order."""
        key = _primary_key(table)
        last: Any = None
        while True:
            query = select(key, *(table.c[name] for name in columns)).order_by(key)
            if where is not None:
                query = query.where(where)
            if last is not None:
                query = query.where(key > last)
            rows = [tuple(row) for row in self.connection.execute(query.limit(self.batch_size))]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def refuse_cascading_rebuild(self) -> None:
        """On SQLite, refuse to start while foreign keys are enforced (see the docstring)."""
        if self.dialect.name != "sqlite":
            return
        if self.connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError(
                "PRAGMA foreign_keys is ON on the migration's connection: rebuilding the user "
                "table would delete every row that references it (ON DELETE CASCADE). Run the "
                "migration on a connection without it (a plain create_async_engine(url) or "
                "create_engine(url) has it off); nothing was changed"
            )

    def email_conflicts(self, users: Table) -> list[Conflict]:
        """Emails that share an email key, and keys too long for the ``email_key`` column."""
        first: dict[str, tuple[Any, str]] = {}
        shared: dict[str, list[tuple[Any, str]]] = {}
        too_long: list[tuple[str, tuple[Any, str]]] = []
        total = self.count(users) if self.progress else 0
        done = 0
        for rows in self.batches(users, ["email"]):
            done += len(rows)
            if self.progress:
                self.progress(f"{users.name}: reading emails", done, total)
            for row_id, email in rows:
                key = email_key(email)
                if len(key) > EMAIL_KEY_MAX_LENGTH:
                    too_long.append((key, (row_id, email)))
                elif key in first:
                    shared.setdefault(key, [first[key]]).append((row_id, email))
                else:
                    first[key] = (row_id, email)
        equal = "emails equal under userstore.email_key() (rows: id, email)"
        long = f"email key longer than {EMAIL_KEY_MAX_LENGTH} characters (rows: id, email)"
        name = users.name
        conflicts = [Conflict(name, equal, (key,), tuple(rows)) for key, rows in shared.items()]
        conflicts += [Conflict(name, long, (key,), (row,)) for key, row in too_long]
        return conflicts

    def orphan_conflicts(self, table: Table, users: Table) -> list[Conflict]:
        """Rows whose ``user_id`` names no user (fudb on SQLite never enforced the key)."""
        if "user_id" not in table.c:
            return []
        key, owner = _primary_key(table), table.c.user_id
        query = (
            select(key, owner)
            .select_from(table.outerjoin(users, owner == _primary_key(users)))
            .where(_primary_key(users).is_(None))
            .order_by(owner, key)
        )
        by_owner: dict[Any, list[tuple[Any, ...]]] = {}
        for row_id, user_id in self.connection.execute(query):
            by_owner.setdefault(user_id, []).append((row_id, user_id))
        reason = "rows whose user no longer exists (rows: primary key, user_id)"
        return [
            Conflict(table.name, reason, (str(user_id),), tuple(rows))
            for user_id, rows in by_owner.items()
        ]

    def oauth_conflicts(self, oauth: Table, users: Table) -> list[Conflict]:
        """OAuth accounts of existing users linked more than once, compared exactly.

        Skipped when a unique constraint already prevents them; rows of users that
        no longer exist are left to :meth:`orphan_conflicts`.
        """
        if _unique_on(oauth, {"oauth_name", "account_id"}):
            return []
        first: dict[tuple[str, str], tuple[Any, ...]] = {}
        shared: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        columns = ["oauth_name", "account_id", "user_id"]
        for rows in self.batches(oauth, columns, where=self.owned(oauth, users)):
            for row_id, name, account, user_id in rows:
                entry = (row_id, user_id)
                if (name, account) in first:
                    shared.setdefault((name, account), [first[name, account]]).append(entry)
                else:
                    first[name, account] = entry
        reason = "(oauth_name, account_id) linked more than once (rows: id, user_id)"
        return [Conflict(oauth.name, reason, key, tuple(rows)) for key, rows in shared.items()]

    @staticmethod
    def owned(table: Table, users: Table) -> Any:
        """A condition on ``table``'s rows: its ``user_id`` names an existing user."""
        user_key = _primary_key(users)
        return select(user_key).where(user_key == table.c.user_id).exists()

    def count(self, table: Table, where: Any = None) -> int:
        """How many rows of ``table`` (match ``where``)."""
        query = select(func.count()).select_from(table)
        if where is not None:
            query = query.where(where)
        return int(self.connection.execute(query).scalar_one())

    def differs(self, table: Table, name: str, type_: TypeEngine[Any]) -> bool:
        """Whether column ``name`` is not yet ``type_``, judged as autogenerate judges it."""
        reflected = table.c[name]
        wanted = Column(name, type_)
        verdict = compare_type(self.context, reflected, wanted, reflected.type, type_)
        if verdict is None:
            verdict = self.context.impl.compare_type(reflected, wanted)
        return bool(verdict)

    # -- changing ------------------------------------------------------------------------

    def step(self, description: str) -> None:
        """Record (and log) one step taken."""
        _log.info("%s", description)
        self.steps.append(description)

    def retype(
        self, batch: BatchOperations, table: Table, types: dict[str, TypeEngine[Any]]
    ) -> None:
        """Alter each column of ``types`` whose type differs, keeping its nullability."""
        for name, type_ in types.items():
            if name in table.c and self.differs(table, name, type_):
                column = table.c[name]
                batch.alter_column(
                    name,
                    type_=type_,
                    existing_type=column.type,
                    existing_nullable=column.nullable,
                )
                self.step(f"{table.name}.{name}: {column.type} -> {type_.compile(self.dialect)}")

    def drop_single_column_indexes(
        self, batch: BatchOperations, table: Table, columns: set[str], *, unique: bool
    ) -> None:
        """Drop fudb's indexes: the ones on exactly one of ``columns``."""
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            names = [column.name for column in index.columns]
            if len(names) == 1 and names[0] in columns and bool(index.unique) == unique:
                assert index.name is not None
                batch.drop_index(index.name)
                self.step(f"{table.name}: dropped index {index.name} on {names[0]}")

    def ensure_index(
        self, batch: BatchOperations, table: Table, column: str, *, unique: bool
    ) -> None:
        """Create ``ix_<table>_<column>`` (the name the mixins' ``index=True`` gives) if absent."""
        name = f"ix_{table.name}_{column}"
        if any(index.name == name for index in table.indexes):
            return
        batch.create_index(name, [column], unique=unique)
        self.step(f"{table.name}: created {'unique ' if unique else ''}index {name}")

    def ensure_cascade(self, batch: BatchOperations, table: Table) -> None:
        """Make ``user_id``'s foreign key ``ON DELETE CASCADE``, if asked for ``table``."""
        if table.name not in self.cascade:
            return
        for key in sorted(table.foreign_key_constraints, key=lambda key: str(key.name or "")):
            local = [column.name for column in key.columns]
            if local != ["user_id"] or (key.ondelete or "").lower() == "cascade":
                continue
            referred = key.referred_table
            named = key.name if isinstance(key.name, str) else None
            remote = [element.column.name for element in key.elements]
            # SQLite's foreign keys have no name: the batch's naming convention gives them one
            name = named or _FK_NAMES["fk"] % {
                "table_name": table.name,
                "column_0_name": local[0],
                "referred_table_name": referred.name,
            }
            batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(
                name,
                referred.name,
                local,
                remote,
                ondelete="CASCADE",
                referent_schema=referred.schema,
            )
            self.step(f"{table.name}.user_id: foreign key to {referred.name} ON DELETE CASCADE")

    def upgrade_users(self, users: Table) -> None:
        """``email_key`` added, backfilled, ``NOT NULL`` and unique; fudb's email index gone."""
        key_type = ExactString(EMAIL_KEY_MAX_LENGTH)
        if "email_key" not in users.c:
            self.op.add_column(
                users.name, Column("email_key", key_type, nullable=True), schema=self.schema
            )
            self.step(f"{users.name}: added email_key")
            if self.dry_run:
                users.append_column(Column("email_key", key_type, nullable=True))
                self.planned_key = True
            else:
                users = self.reflect_again(users)
        self.backfill(users)
        with self.op.batch_alter_table(users.name, schema=self.schema) as batch:
            self.drop_single_column_indexes(batch, users, {"email"}, unique=True)
            self.retype(
                batch, users, {"email": ExactString(320), "hashed_password": ExactString(1024)}
            )
            if users.c.email_key.nullable:
                batch.alter_column(
                    "email_key", nullable=False, existing_type=key_type, existing_nullable=True
                )
                self.step(f"{users.name}.email_key: NOT NULL")
            self.ensure_index(batch, users, "email_key", unique=True)

    def backfill(self, users: Table) -> None:
        """Fill ``email_key`` where it is NULL, ``batch_size`` rows per UPDATE."""
        key = _primary_key(users)
        empty = users.c.email_key.is_(None)
        if self.dry_run:
            filled = self.count(users, None if self.planned_key else empty)
            if filled:
                self.step(f"{users.name}.email_key: filled {filled} row(s)")
            return
        statement = update(users).where(key == bindparam("_id")).values(email_key=bindparam("_key"))
        total = self.count(users, empty) if self.progress else 0
        filled = 0
        for rows in self.batches(users, ["email"], where=empty):
            self.connection.execute(
                statement, [{"_id": row_id, "_key": email_key(email)} for row_id, email in rows]
            )
            filled += len(rows)
            if self.progress:
                self.progress(f"{users.name}: filling email_key", filled, total)
        if filled:
            self.step(f"{users.name}.email_key: filled {filled} row(s)")

    def upgrade_oauth_accounts(self, oauth: Table) -> None:
        """Unbounded tokens, BIGINT ``expires_at``, the link's unique constraint, indexes."""
        with self.op.batch_alter_table(
            oauth.name, schema=self.schema, naming_convention=_FK_NAMES
        ) as batch:
            self.drop_single_column_indexes(
                batch, oauth, {"oauth_name", "account_id"}, unique=False
            )
            self.retype(
                batch,
                oauth,
                {
                    "oauth_name": ExactString(100),
                    "access_token": ExactString(),
                    "expires_at": BigInteger(),
                    "refresh_token": ExactString(),
                    "account_id": ExactString(320),
                    "account_email": ExactString(320),
                },
            )
            if not _unique_on(oauth, {"oauth_name", "account_id"}):
                name = oauth_unique_name(oauth.name)
                batch.create_unique_constraint(name, ["oauth_name", "account_id"])
                self.step(f"{oauth.name}: created unique constraint {name}")
            if "user_id" in oauth.c:
                self.ensure_index(batch, oauth, "user_id", unique=False)
            self.ensure_cascade(batch, oauth)

    def upgrade_access_tokens(self, tokens: Table) -> None:
        """Exact ``token``, ``created_at`` as userstore's UTC datetime, ``user_id`` indexed."""
        convert_timestamp = "created_at" in tokens.c and self.differs(
            tokens, "created_at", UTCDateTime()
        )
        mysql_zone = (
            self.dialect.name in ("mysql", "mariadb") and convert_timestamp and not self.dry_run
        )
        if mysql_zone:
            # TIMESTAMP is read through the session time zone; fudb's sessions used the
            # server's, so convert under it and get back the UTC wall times fudb wrote
            self.connection.exec_driver_sql("SET @userstore_tz = @@session.time_zone")
            self.connection.exec_driver_sql("SET time_zone = @@global.time_zone")
        try:
            with self.op.batch_alter_table(
                tokens.name, schema=self.schema, naming_convention=_FK_NAMES
            ) as batch:
                self.retype(batch, tokens, {"token": ExactString(43), "created_at": UTCDateTime()})
                if "user_id" in tokens.c:
                    self.ensure_index(batch, tokens, "user_id", unique=False)
                self.ensure_cascade(batch, tokens)
        finally:
            if mysql_zone:
                self.connection.exec_driver_sql("SET time_zone = @userstore_tz")


_FK_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
"""Names for the unnamed foreign keys SQLite reflects, so that batch mode can drop one."""


class _DryRun:
    """Operations that change nothing: a dry run records the steps it would take."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        def nothing(*args: Any, **kw: Any) -> None:
            return None

        return nothing

    @contextlib.contextmanager
    def batch_alter_table(self, *args: Any, **kw: Any) -> Iterator[_DryRun]:
        yield self


def _primary_key(table: Table) -> Column[Any]:
    columns = list(table.primary_key.columns)
    if len(columns) != 1:
        raise ValueError(f"table {table.name!r} needs a single-column primary key")
    return columns[0]


def _unique_on(table: Table, columns: set[str]) -> bool:
    for index in table.indexes:
        if index.unique and {column.name for column in index.columns} == columns:
            return True
    return any(
        isinstance(constraint, UniqueConstraint)
        and {column.name for column in constraint.columns} == columns
        for constraint in table.constraints
    )
