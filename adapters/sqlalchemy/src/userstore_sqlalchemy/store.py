"""``connect(url)`` stores, on default models or on the application's own.

With no ``models`` a store declares its own user, OAuth-account and access-token
tables (:func:`build_models`).  With ``models=Base`` it works on the
application's declarative base: the mapped classes built on this package's
mixins are found in the base's registry (:func:`discover_models`), and
``create_schema()`` creates every table of the base's metadata.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, NoReturn

from sqlalchemy import BigInteger, ForeignKey, Integer, MetaData, Table, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, attributes, mapped_column, registry, relationship
from sqlalchemy.orm.base import NO_VALUE

from userstore import (
    BaseAccessTokenDatabase,
    IdType,
    InvalidURL,
    SchemaConflict,
    SchemaOutdated,
    SchemaUpgrade,
    Store,
    StoreSession,
    StoreUnavailable,
    UpgradeProgress,
    UserStoreError,
)

from ._rules import id_kind
from ._schema_check import CREATE, UPGRADE, fix_text, schema_check, schema_problems
from ._unit import (
    Snapshot,
    Unit,
    clean_objects,
    connect_error,
    raise_translated,
    restore,
    snapshot,
)
from .access_token import SQLAlchemyAccessTokenDatabase, SQLAlchemyBaseAccessTokenTable
from .dialects import shim_for
from .engine import create_engine
from .models import (
    SQLAlchemyBaseOAuthAccountTable,
    SQLAlchemyBaseOAuthAccountTableUUID,
    SQLAlchemyBaseUserTable,
    SQLAlchemyBaseUserTableUUID,
)
from .types import GUID
from .users import SQLAlchemyUserDatabase

__all__ = [
    "DefaultModels",
    "NoAccessTokenModel",
    "SQLAlchemyAdapter",
    "SQLAlchemyStore",
    "SQLAlchemyStoreSession",
    "StoreModels",
    "build_models",
    "discover_models",
]


@dataclasses.dataclass(frozen=True)
class DefaultModels:
    """The three mapped classes of a store, and their metadata."""

    metadata: MetaData
    user: type[Any]
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


_DOOMED = "an inner transaction block could not be released or rolled back; nothing committed"


class SQLAlchemyStoreSession(StoreSession):
    """A store session: one ``AsyncSession`` shared by ``users`` and ``tokens``."""

    def __init__(self, session: AsyncSession, models: StoreModels, *, token_digest: bool) -> None:
        self.session = session
        self._doomed: type[UserStoreError] | None = None
        self.users: SQLAlchemyUserDatabase[Any, Any] = SQLAlchemyUserDatabase(
            session, models.user, models.oauth_account
        )
        self.tokens: SQLAlchemyAccessTokenDatabase[Any] | NoAccessTokenModel
        if models.access_token is None:
            self.tokens = NoAccessTokenModel(models.source)
        else:
            self.tokens = SQLAlchemyAccessTokenDatabase(
                session, models.access_token, token_digest=token_digest
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Open a transaction on the session (ending the one lookups began, if any).

        Inside another transaction block it is a SAVEPOINT: an exception in the
        block rolls back the block's own writes only, then passes through, and the
        caller may catch it and go on with the enclosing block; the enclosing
        block stays all or nothing.  Blocks nest to any depth, each one a
        SAVEPOINT inside the one around it.

        The block's own exceptions pass through unchanged (after the rollback); a
        failure to begin, commit or roll back is translated like any call's, so a
        connection lost at the end of the block raises ``StoreUnavailable``.  If a
        SAVEPOINT cannot be released or rolled back because the connection is gone
        (or the rollback fails), the outermost block raises that error at its end
        instead of committing.  After a rollback every object the block touched
        stays readable without I/O and holds its committed values: those it had
        before the block, or when the block first loaded it (for a SAVEPOINT, the
        values of the enclosing block at that point).
        """
        unit = self.users._unit
        nested = unit.in_caller_transaction()
        try:
            if nested:
                # SQLite: the real BEGIN first, so releasing the SAVEPOINT commits nothing
                await unit.shim.before_savepoint(await unit.connection())
            elif self.session.in_transaction():
                await self.session.commit()
        except Exception as error:
            await self._fail(unit, error, rollback=not nested, doom=nested)
        if not nested:
            self._doomed = None
        held = snapshot(clean_objects(self.session))
        first_flushed: dict[int, tuple[Any, dict[str, Any]]] = {}

        def before_flush(session: Any, context: Any, instances: Any) -> None:
            for obj in session.dirty:
                if id(obj) not in first_flushed:
                    first_flushed[id(obj)] = (obj, _committed_values(obj))

        sync_session = self.session.sync_session
        event.listen(sync_session, "before_flush", before_flush)
        at_end: Snapshot = []
        block_error: BaseException | None = None
        block_done = False
        try:
            async with self.session.begin_nested() if nested else self.session.begin():
                try:
                    yield
                except BaseException as error:
                    block_error = error
                    if nested:  # a SAVEPOINT's rollback expires the modified objects only
                        at_end = [(obj, _committed_values(obj)) for obj in self.session.dirty]
                    raise
                finally:  # before the rollback or the COMMIT, which may fail
                    if not nested:
                        at_end = snapshot(clean_objects(self.session))
                if not nested and self._doomed is not None:
                    raise self._doomed(_DOOMED)
                block_done = True
        except BaseException as error:
            # the rollback expired them: put back the committed values, the values
            # before the block overriding those first flushed overriding the last seen
            restore(at_end)
            restore(list(first_flushed.values()))
            restore(held)
            self._drop_undone_accounts(obj for obj, _ in at_end)
            if isinstance(error, Exception) and (block_done or error is not block_error):
                if nested and not block_done:
                    # ROLLBACK TO SAVEPOINT failed: the block's writes may still be there
                    self._doomed = UserStoreError
                await self._fail(unit, error, rollback=not nested, doom=nested)
            raise
        finally:
            event.remove(sync_session, "before_flush", before_flush)

    def _drop_undone_accounts(self, also: Iterable[Any]) -> None:
        """Take the OAuth accounts a rollback undid out of the users' loaded lists.

        An account linked in the rolled-back block is transient again; a user the
        block linked it to holds it in a list no snapshot had before the link.
        """
        key = self.users._model.accounts_key
        if key is None:
            return
        states = [*self.session.sync_session.identity_map.all_states()]
        states.extend(attributes.instance_state(obj) for obj in also)
        for state in states:
            accounts = state.dict.get(key)
            if accounts and any(inspect(a).transient for a in accounts):
                kept = [a for a in accounts if not inspect(a).transient]
                obj = state.obj()
                if obj is not None:
                    attributes.set_committed_value(obj, key, kept)

    async def _fail(
        self, unit: Unit, error: Exception, *, rollback: bool = True, doom: bool = False
    ) -> NoReturn:
        """Raise the contract's error for ``error``, after rolling the session back.

        ``doom``: ``error`` ended a SAVEPOINT block; if it means the connection is
        lost, the outermost block will not commit.
        """
        mapped = unit.translate(error, {})
        if doom and isinstance(mapped, StoreUnavailable):
            self._doomed = StoreUnavailable
        if mapped is None or mapped is error:
            raise error
        if rollback:
            with contextlib.suppress(Exception):
                await self.session.rollback()
        raise_translated(mapped, error)


def _committed_values(obj: Any) -> dict[str, Any]:
    """The loaded values of ``obj`` as last loaded or flushed, before its pending changes."""
    state = attributes.instance_state(obj)
    values = dict(state.dict)
    for key, old in state.committed_state.items():
        if old is NO_VALUE:
            values.pop(key, None)
        else:
            values[key] = list(old) if isinstance(old, list) else old
    return values


class NoAccessTokenModel(BaseAccessTokenDatabase[Any]):
    """``tokens`` of a store whose application models have no access-token model.

    Every method raises ``UserStoreError`` saying so; the users work as usual.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def _refuse(self) -> NoReturn:
        raise UserStoreError(
            f"{self.source} maps no access-token model "
            "(a class built on userstore_sqlalchemy.access_token.SQLAlchemyBaseAccessTokenTable)"
        )

    async def get_by_token(self, token: str, max_age: dt.datetime | None = None) -> Any:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def create(self, create_dict: dict[str, Any]) -> Any:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def update(self, access_token: Any, update_dict: dict[str, Any]) -> Any:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def delete(self, access_token: Any) -> None:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def delete_for_user(self, user_id: Any) -> int:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def delete_expired(self, older_than: dt.datetime, *, limit: int | None = None) -> int:
        """Refuse: there is no access-token table."""
        self._refuse()

    async def count_tokens(self, older_than: dt.datetime | None = None) -> int:
        """Refuse: there is no access-token table."""
        self._refuse()


class SQLAlchemyStore(Store):
    """A store over one ``AsyncEngine``, on default models or the application's.

    ``models`` is the application's declarative base (see :func:`discover_models`);
    ``id_type`` and ``table_prefix`` then do not apply, the ids being those of its
    user model.  Without it the store declares the default tables, named with
    ``table_prefix``.  A URL or engine option the backend cannot use raises
    :class:`~userstore.InvalidURL` (also a ``ValueError``) naming the part that is
    wrong, before any connection (see :func:`create_engine`); a driver that is
    not installed raises ``ModuleNotFoundError`` naming the extra that installs it.
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
            default = build_models(table_prefix=table_prefix, id_type=id_type)
            self.models = StoreModels(
                default.metadata, default.user, default.oauth_account, default.access_token
            )
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
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SQLAlchemyStoreSession]:
        """Open a session; it is closed (any open transaction rolled back) on exit.

        A connection found lost when the session closes raises nothing: the work it
        had not committed is gone with it, as the rollback would have done.
        """
        session = self.sessionmaker()
        try:
            yield SQLAlchemyStoreSession(session, self.models, token_digest=self.token_digest)
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
        """Close every pooled connection."""
        await self.engine.dispose()

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction, committed at the end; database errors translated."""
        async with self._connection() as connection, connection.begin():
            yield connection

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
            shim = shim_for(self.engine.dialect)
            if shim.is_unavailable(error):
                raise StoreUnavailable(f"database unavailable ({shim.message(error)})") from error
            raise UserStoreError(f"the database refused: {shim.message(error)}") from error
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

    @classmethod
    def connect(cls, url: str, **options: Any) -> SQLAlchemyStore:
        """Return a :class:`SQLAlchemyStore`; options are its constructor's."""
        return SQLAlchemyStore(url, **options)
