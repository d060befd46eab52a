"""``connect(url)`` stores, on default models or on the application's own.

With no ``models`` a store declares its own user, OAuth-account and access-token
tables (:func:`build_models`).  With ``models=Base`` it works on the
application's declarative base: the mapped classes built on this package's
mixins are found in the base's registry (:func:`discover_models`), and
``create_schema()`` creates every table of the base's metadata.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from sqlalchemy import Table, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from userstore import (
    IdType,
    InvalidURL,
    SchemaConflict,
    SchemaOutdated,
    SchemaUpgrade,
    Store,
    UpgradeProgress,
)

from ._autocommit import Autocommit, autocommit_for
from ._direct import DirectLookups
from ._rules import id_kind
from ._runner import install_shim
from ._schema_check import CREATE, UPGRADE, fix_text, schema_check, schema_problems
from ._session import SQLAlchemyStoreSession
from ._store_models import DefaultModels, StoreModels, build_models, discover_models
from ._translate import connect_error, schema_error
from ._user_mapping import user_mapping
from .dialects import shim_for
from .engine import create_engine
from .routing import RoutingSession, replica_set

__all__ = [
    "DefaultModels",
    "SQLAlchemyAdapter",
    "SQLAlchemyStore",
    "SQLAlchemyStoreSession",
    "StoreModels",
    "build_models",
    "discover_models",
]


class SQLAlchemyStore(Store):
    """A store over one ``AsyncEngine``, on default models or the application's.

    ``models`` is the application's declarative base (see :func:`discover_models`);
    ``id_type`` and ``table_prefix`` then do not apply, the ids being those of its
    user model.  Without it the store declares the default tables, named with
    ``table_prefix``.  A URL or engine option the backend cannot use raises
    :class:`~userstore.InvalidURL` (also a ``ValueError``) naming the part that is
    wrong, before any connection (see :func:`create_engine`); a driver that is
    not installed raises ``ModuleNotFoundError`` naming the extra that installs it.

    ``replicas`` are URLs of read replicas of ``url``'s database (PostgreSQL hot
    standbys, MariaDB replicas), given the same engine options: lookups go to one
    that has replayed every write this process committed, else to the primary;
    writes go to the primary (:mod:`userstore_sqlalchemy.routing`).
    """

    def __init__(
        self,
        url: str,
        *,
        id_type: IdType = "uuid",
        token_digest: bool = False,
        table_prefix: str = "",
        models: Any = None,
        engine: AsyncEngine | None = None,
        replicas: Sequence[str] = (),
        **engine_options: Any,
    ) -> None:
        self.url = url
        self.token_digest = token_digest
        if models is not None:
            if table_prefix:
                raise TypeError("table_prefix applies to the default models only, not to models=")
            self.models = discover_models(models)
            (pk,) = inspect(self.models.user).primary_key
            self.id_type = id_kind(pk)
        else:
            if id_type not in ("uuid", "int"):
                raise InvalidURL(
                    f"id_type must be 'uuid' or 'int', not {id_type!r}", part="id_type"
                )
            self.models = build_models(table_prefix=table_prefix, id_type=id_type)
            self.id_type = id_type
        self.engine = engine if engine is not None else _engine(url, engine_options)
        # SchemaOutdated raised by this store's sessions names its URL and models
        check = schema_check(
            self.engine.sync_engine,
            inspect(self.models.user),
            (self.models.oauth_account, self.models.access_token),
        )
        check.url = hide_password(url)
        check.models = None if models is None else self.models.source
        self._check = check
        if isinstance(replicas, str):
            raise InvalidURL("replicas must be a list of URLs, not one string", part="replicas")
        self.replicas = [_engine(replica, engine_options) for replica in replicas]
        if self.replicas:
            self.sessionmaker = async_sessionmaker(
                self.engine,
                expire_on_commit=False,
                sync_session_class=RoutingSession,
                replicas=self.replicas,
            )
        else:
            self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # where the shim says so (PostgreSQL), lookups and one-statement writes outside
        # a transaction run on an autocommit connection of the same pool: one round
        # trip, no BEGIN / ROLLBACK / COMMIT (_autocommit.py)
        self._autocommit: Autocommit | None = None
        if not self.replicas:
            self._autocommit = autocommit_for(
                self.engine.sync_engine,
                [
                    inspect(model)
                    for model in (
                        self.models.user,
                        self.models.oauth_account,
                        self.models.access_token,
                    )
                    if model is not None
                ],
            )
        # user lookups outside a transaction block sent through the driver (_direct.py)
        self._direct: DirectLookups | None = None
        if not self.replicas:
            sync_engine = self.engine.sync_engine
            self._direct = DirectLookups(
                sync_engine,
                install_shim(sync_engine),
                self.models.user,
                self.models.oauth_account,
                self.models.access_token,
                accounts_key=(
                    user_mapping(self.models.user, self.models.oauth_account).accounts_key
                    if self.models.oauth_account is not None
                    else None
                ),
            )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SQLAlchemyStoreSession]:
        """Open a session; it is closed (any open transaction rolled back) on exit.

        A connection found lost when the session closes raises nothing: the work it
        had not committed is gone with it, as the rollback would have done.
        """
        session = self.sessionmaker()
        try:
            yield SQLAlchemyStoreSession(
                session,
                self.models,
                token_digest=self.token_digest,
                autocommit=self._autocommit,
                direct=self._direct,
            )
        finally:
            try:
                await session.close()
            except sa_exc.DBAPIError as error:
                if not shim_for(self.engine.dialect).is_unavailable(error):
                    raise

    async def create_schema(self) -> None:
        """Create the tables and indexes of the models' metadata that do not exist yet.

        ``StoreUnavailable`` names the server if it cannot be reached;
        ``UserStoreError`` gives the database's reason if it refuses the DDL.
        """
        async with self._begin() as connection:
            await connection.run_sync(self.models.metadata.create_all)
        async with self._begin() as connection:
            problems = await connection.run_sync(schema_problems, self._tables())
        if problems:
            raise SchemaOutdated([p.text for p in problems], self._fix(problems))

    def _tables(self) -> tuple[Table, ...]:
        """The tables of the store's user, OAuth-account and access-token models."""
        return self._check.tables

    def _fix(self, problems: Any) -> str:
        return fix_text(problems, self._check.url, self._check.models)

    async def upgrade_schema(
        self, *, dry_run: bool = False, progress: UpgradeProgress | None = None
    ) -> SchemaUpgrade:
        """Move tables of fastapi-users-db-sqlalchemy 7 to userstore's schema, every row kept.

        The same migration as
        :func:`userstore_sqlalchemy.migrations.upgrade_from_fastapi_users` (which
        its docstring details), on the store's models' tables, for applications
        without Alembic; it needs Alembic installed all the same
        (``userstore-sqlalchemy[alembic]``).  On a userstore schema it finds
        nothing to do.  On SQLite it runs with foreign keys off (the rebuild of
        ``user`` would otherwise cascade) and switches them on again after.
        """
        try:
            from .migrations._fastapi_users import MigrationBlocked, run_upgrade
        except ImportError as error:
            raise ModuleNotFoundError(
                f"upgrading the schema needs Alembic ({error}): "
                "pip install 'userstore-sqlalchemy[alembic]'"
            ) from None
        tables = self._tables()
        user = self.models.user.__table__
        names = {
            "user_table": user.name,
            "oauth_table": _table_name(self.models.oauth_account),
            "token_table": _table_name(self.models.access_token),
            "schema": user.schema,
            # the tables whose foreign key to users the models declare ON DELETE CASCADE
            "cascade": [
                table.name
                for table in tables
                if table is not user
                and any(
                    (key.ondelete or "").lower() == "cascade"
                    for key in table.foreign_key_constraints
                    if key.referred_table is user
                )
            ],
        }

        def upgrade(connection: Connection) -> SchemaUpgrade:
            before = schema_problems(connection, tables)
            missing = [p for p in before if p.kind == CREATE and p.table == user.name]
            if missing:
                raise SchemaOutdated([p.text for p in missing], self._fix(missing))
            columns = {c["name"] for c in inspect(connection).get_columns(user.name, user.schema)}
            found = (
                "userstore's schema"
                if "email_key" in columns
                else "a fastapi-users-db-sqlalchemy 7 schema"
            )
            try:
                steps = run_upgrade(connection, **names, dry_run=dry_run, progress=progress)
            except MigrationBlocked as blocked:
                conflicts = tuple(
                    SchemaConflict(c.table, c.reason, c.key, c.rows) for c in blocked.conflicts
                )
                return SchemaUpgrade(found, conflicts=conflicts, dry_run=dry_run)
            if dry_run:  # what the steps would not close
                remaining = [p for p in before if p.kind != UPGRADE]
            else:
                remaining = schema_problems(connection, tables)
            return SchemaUpgrade(
                found,
                steps=tuple(steps),
                remaining=tuple(p.text for p in remaining),
                dry_run=dry_run,
            )

        shim = shim_for(self.engine.dialect)
        async with self._connection() as connection:
            await shim.before_table_rebuild(connection)
            if connection.in_transaction():  # the setup's own; ended before the upgrade's
                await connection.commit()
            try:
                transaction = await connection.begin()
                try:
                    report = await connection.run_sync(upgrade)
                except BaseException:
                    await transaction.rollback()
                    raise
                if dry_run or report.conflicts:
                    await transaction.rollback()
                else:
                    await transaction.commit()
            finally:
                await shim.after_table_rebuild(connection)
        return report

    async def drop_schema(self) -> None:
        """Drop the tables of the models' metadata (with the application's models: all of them)."""
        async with self._begin() as connection:
            await connection.run_sync(self.models.metadata.drop_all)

    async def close(self) -> None:
        """Close every pooled connection (the replicas' too)."""
        await self.engine.dispose()
        for replica in self.replicas:
            await replica.dispose()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed at the end; database errors translated.

        With replicas, the primary's position after the commit is one replica reads
        wait for: tables just created are read on a replica only once it has them.
        """
        async with self._connection() as connection:
            async with connection.begin():
                yield connection
            if self.replicas:
                await connection.run_sync(self._note_position)

    def _note_position(self, connection: Connection) -> None:
        routes = replica_set(self.engine, self.replicas)
        routes.wait_for(routes.shim.write_position(connection))
        connection.rollback()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection, closed at the end; database errors translated."""
        try:
            connection = await self.engine.connect()
        except Exception as error:
            mapped = connect_error(self.engine.sync_engine, error)
            if mapped is error:
                raise
            raise mapped from error
        try:
            yield connection
        except sa_exc.DBAPIError as error:
            raise schema_error(shim_for(self.engine.dialect), error) from error
        finally:
            await connection.close()


def _table_name(model: type[Any] | None) -> str | None:
    return None if model is None else str(inspect(model).local_table.name)


def hide_password(url: str) -> str:
    """``url`` with its password shown as ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def _engine(url: str, options: dict[str, Any]) -> AsyncEngine:
    """``create_engine(url)``; a URL or option it cannot use raises ``InvalidURL``."""
    return create_engine(url, **options)


class SQLAlchemyAdapter:
    """The entry point of ``sqlite``, ``postgresql``, ``mysql`` and ``mariadb`` URLs."""

    schemes: ClassVar[tuple[str, ...]] = ("sqlite", "postgresql", "mysql", "mariadb")
    default_url: ClassVar[str] = "sqlite:///userstore.db"
    """The store tools use when given no URL: the SQLite file userstore.db here."""

    @classmethod
    def connect(cls, url: str, **options: Any) -> SQLAlchemyStore:
        """Return a :class:`SQLAlchemyStore`; options are its constructor's."""
        return SQLAlchemyStore(url, **options)
