"""Move a fastapi-users-db-sqlalchemy 7 schema over to userstore's, from an Alembic migration.

What fastapi-users-db-sqlalchemy 7 ("fudb") created, and what changes:

- user table: ``email`` had a unique index compared by the column's collation
  (case-sensitive on PostgreSQL and SQLite, case- and pad-insensitive on
  MySQL/MariaDB).  It is replaced by ``email_key`` (``userstore.email_key(email)``,
  computed in Python and backfilled in batches) with a unique index.
- OAuth-account table: no uniqueness at all; it gains the
  ``(oauth_name, account_id)`` unique constraint.  ``access_token`` and
  ``refresh_token`` were ``VARCHAR(1024)`` and become unbounded text;
  ``expires_at`` was ``INTEGER`` (it ends in 2038) and becomes ``BIGINT``.  fudb's
  single-column indexes on ``oauth_name`` and ``account_id`` go (the unique
  constraint serves the lookup); ``user_id`` gets the index userstore declares.
- access-token table: ``created_at`` was ``TIMESTAMP`` (no fractions, and a zone
  conversion by the session time zone on MySQL/MariaDB) and becomes userstore's
  ``DATETIME(6)`` holding UTC there (``DATETIME`` instead of ``TIMESTAMP`` on
  SQLite, the same text); ``user_id`` gets its index.
- MySQL/MariaDB: every column userstore compares gets the exact, NO PAD
  collation of :class:`~userstore_sqlalchemy.types.ExactString`.

Ids are left as they are: ``GUID`` reads and writes fudb's ``CHAR(36)`` on
MySQL/MariaDB as well as the native ``UUID`` userstore creates on MariaDB 10.7+,
and other tables of the application may reference them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
from ._conflicts import Conflict, MigrationBlocked
from ._steps import Progress, _Migration

__all__ = ["Conflict", "MigrationBlocked", "Progress", "run_upgrade", "upgrade_from_fastapi_users"]


def upgrade_from_fastapi_users(
    op: Operations | ModuleType,
    user_table: str = "user",
    oauth_table: str | None = "oauth_account",
    batch_size: int = 1000,
    *,
    token_table: str | None = "accesstoken",
    schema: str | None = None,
    cascade: bool = False,
) -> list[str]:
    """Bring fastapi-users-db-sqlalchemy 7 tables to userstore's schema; return the steps taken.

    Call it from a migration's ``upgrade()`` with Alembic's ``op`` (or give it an
    ``Operations`` built on a connection).  First it reads every user and, unless
    the constraint is already there, every OAuth account (``batch_size`` rows per
    query) and raises :class:`MigrationBlocked`, listing them, if two emails share
    an email key (``userstore.email_key``: NFKC, then casefold, computed in
    Python), if a key is longer than userstore can index, if one
    ``(oauth_name, account_id)`` is linked twice, or if OAuth accounts or tokens
    belong to a user that no longer exists (fudb left them behind on SQLite,
    whose foreign keys it never switched on); nothing is changed then.
    Otherwise it adds ``email_key``, fills it in batches, makes it ``NOT NULL``
    and unique-indexed, and brings the three tables to what userstore's mixins
    declare (the module docstring lists every change).  It returns a line per
    step taken.

    ``oauth_table`` and ``token_table`` may be ``None``, and are skipped when the
    database has no such table.  Each step is skipped when already done, so a run
    interrupted on MySQL/MariaDB (whose DDL is not transactional) can be repeated,
    and running it on a userstore schema changes nothing.  On SQLite, constraint
    and type changes rebuild the table (Alembic's batch mode), which needs
    ``PRAGMA foreign_keys`` off on the migration's connection (the default of a
    plain engine): with it on, dropping the old ``user`` table would cascade to
    every row that references it, so the function refuses to start.

    fudb 7 created the ``user_id`` foreign keys ``ON DELETE CASCADE``; with
    ``cascade=True`` the ones that are not (tables made some other way) are
    recreated so, for models that declare it (userstore's UUID mixins do).

    Run it with the application stopped: an old process inserting a user
    between the backfill and ``NOT NULL`` makes the migration fail.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    context: MigrationContext = op.get_context()
    if context.as_sql:
        raise RuntimeError(
            "upgrade_from_fastapi_users reads and rewrites rows: "
            "it cannot run in offline (--sql) mode"
        )
    operations: Operations = _operations(op, context)
    connection = operations.get_bind()
    migration = _Migration(operations, context, connection, schema, batch_size)
    if cascade:
        migration.cascade = {name for name in (oauth_table, token_table) if name}
    return _upgrade(migration, user_table, oauth_table, token_table)


def run_upgrade(
    connection: Connection,
    user_table: str = "user",
    oauth_table: str | None = "oauth_account",
    token_table: str | None = "accesstoken",
    *,
    schema: str | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    progress: Progress | None = None,
    cascade: Sequence[str] = (),
) -> list[str]:
    """:func:`upgrade_from_fastapi_users` on a plain connection, without an Alembic project.

    What ``userstore upgrade`` runs; ``cascade`` names the tables whose
    ``user_id`` foreign key must be ``ON DELETE CASCADE``.  With ``dry_run`` it
    reads (the checks, and the counts of rows to fill) and changes nothing, and
    the steps it returns are the ones it would take.  ``progress`` hears of the
    rows read and filled.  Raises :class:`MigrationBlocked` as the Alembic operation does.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    context = MigrationContext.configure(connection)
    operations = Operations(context)
    migration = _Migration(
        operations, context, connection, schema, batch_size, dry_run=dry_run, progress=progress
    )
    migration.cascade = set(cascade)
    return _upgrade(migration, user_table, oauth_table, token_table)


def _upgrade(
    migration: _Migration, user_table: str, oauth_table: str | None, token_table: str | None
) -> list[str]:
    users = migration.reflect(user_table)
    if users is None:
        raise LookupError(f"no table {user_table!r} in the database")
    oauth = migration.reflect(oauth_table) if oauth_table else None
    tokens = migration.reflect(token_table) if token_table else None

    migration.refuse_cascading_rebuild()
    conflicts = migration.email_conflicts(users)
    for table in (oauth, tokens):
        if table is not None:
            conflicts += migration.orphan_conflicts(table, users)
    if oauth is not None:
        conflicts += migration.oauth_conflicts(oauth, users)
    if conflicts:
        raise MigrationBlocked(conflicts)

    migration.upgrade_users(users)
    if oauth is not None:
        migration.upgrade_oauth_accounts(oauth)
    if tokens is not None:
        migration.upgrade_access_tokens(tokens)
    return migration.steps


def _operations(op: Operations | ModuleType, context: MigrationContext) -> Operations:
    return op if isinstance(op, Operations) else Operations(context)
