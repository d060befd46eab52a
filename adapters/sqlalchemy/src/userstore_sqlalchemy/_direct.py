"""Lookups of a ``connect()`` store sent through the driver itself.

A user lookup outside a transaction block, in a session with nothing to flush,
is one statement whose result the ORM only turns into objects.  Here it is
compiled once per store (SQLAlchemy's compiler, the store's dialect), sent on a
pooled connection through the driver's own call (:meth:`DialectShim.fetcher`),
and its row made into the objects the ORM would have loaded: the user and its
OAuth accounts, in the session's identity map, persistent and unmodified, an
object the session already held updated in place (the statements load with
``populate_existing``).  What it saves is the ORM's and Core's work per call;
the result, the SQL and the round trips are the same.

It steps aside for the ORM whenever it could differ from it:

- the models map more than plain columns of their tables (a column property, a
  deferred column, inheritance, a relationship other than ``oauth_accounts``),
  a column of a type whose reading may need the driver's type codes (anything
  but strings, integers, booleans, datetimes, UUIDs and userstore's own types),
  or have ``load`` / ``refresh`` listeners;
- the engine logs its SQL (``echo``) or has statement or transaction listeners
  the application added (the statement would not pass through them;
  :mod:`._listeners`);
- the session has ORM execution or persistence listeners, or a transaction
  open, or changes to flush;
- the connection is not yet set up by the shim, or the tables not yet checked.

A statement the driver fails is sent once more through SQLAlchemy on the same
connection, so that the error raised is the one the ORM's way raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    Integer,
    Select,
    String,
    TypeDecorator,
    Uuid,
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ColumnProperty, Mapper, Session, attributes, make_transient_to_detached
from sqlalchemy.util import await_only

from ._fresh import remember
from ._listeners import app_listens_to_engine
from .dialects import DialectShim, Fetch

__all__ = ["NOT_SENT", "DirectLookups"]

NOT_SENT: Any = object()
"""What :meth:`DirectLookups.run` returns when the lookup must take the ORM's way."""

_SESSION_EVENTS = ("do_orm_execute", "loaded_as_persistent", "detached_to_persistent")
_ENGINE_LOG = logging.getLogger("sqlalchemy.engine.Engine")  # where engines log their SQL


class _Part:
    """One mapped class in a lookup's columns: where its values are and how to read them."""

    def __init__(self, mapper: Mapper[Any], start: int, engine: Engine) -> None:
        self.mapper = mapper
        self.manager = mapper.class_manager
        props = list(mapper.column_attrs)
        self.keys = [p.key for p in props]
        self.columns = [p.columns[0] for p in props]
        self.start = start
        self.stop = start + len(props)
        self.pk = self.keys.index(mapper.get_property_by_column(mapper.primary_key[0]).key)
        dialect = engine.dialect
        self.processors = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in self.columns
        ]

    def values(self, row: Sequence[Any]) -> dict[str, Any]:
        raw = row[self.start : self.stop]
        return {
            key: value if process is None or value is None else process(value)
            for key, process, value in zip(self.keys, self.processors, raw, strict=True)
        }

    def place(self, session: Session, values: dict[str, Any], also: dict[str, Any]) -> Any:
        """The object for ``values``: the session's, updated in place, or a new persistent one."""
        key = self.mapper.identity_key_from_primary_key((values[self.keys[self.pk]],))
        held = session.identity_map.get(key)
        if held is not None:
            for name, value in {**values, **also}.items():
                attributes.set_committed_value(held, name, value)
            return held
        obj = self.manager.new_instance()
        attributes.instance_state(obj).dict.update(values)
        for name, value in also.items():
            attributes.set_committed_value(obj, name, value)
        make_transient_to_detached(obj)
        return obj


def _plain(mapper: Mapper[Any], relationships: set[str]) -> bool:
    """Whether loading ``mapper``'s rows sets nothing but its own table's columns."""
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return False
    if {r.key for r in mapper.relationships} != relationships:
        return False
    manager = mapper.class_manager
    if manager.dispatch.load or manager.dispatch.refresh:
        return False
    table = mapper.local_table
    for prop in mapper.column_attrs:
        if not isinstance(prop, ColumnProperty) or prop.deferred or len(prop.columns) != 1:
            return False
        column = prop.columns[0]
        if getattr(column, "table", None) is not table or not _simple(column.type):
            return False
    return True


_SIMPLE_TYPES = (String, Integer, Boolean, DateTime, Uuid)


def _simple(type_: Any) -> bool:
    """Whether a column of ``type_`` reads the same without the driver's type codes.

    userstore's own types, strings (not enums), integers, booleans, datetimes and
    UUIDs: their result processors need no ``cursor.description``.  Any other type
    (``Numeric``, ``JSON``, ``Enum``...) has its rows loaded by the ORM.
    """
    if type(type_).__module__.startswith("userstore_sqlalchemy."):
        return True
    if isinstance(type_, TypeDecorator):
        return _simple(type_.impl_instance)
    return isinstance(type_, _SIMPLE_TYPES) and not isinstance(type_, Enum)


class _Plan:
    """One lookup, compiled for the store's dialect, and the parts of its rows.

    Its columns are those of the access token (for a token lookup), the user and
    the user's OAuth accounts, in that order.
    """

    def __init__(
        self,
        statement: Select[Any],
        engine: Engine,
        token: _Part | None,
        user: _Part | None,
        account: _Part | None,
        accounts_key: str | None,
    ) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = compiled.string
        self.names = list(compiled.positiontup or ()) if engine.dialect.positional else None
        self.compiled = compiled
        self.binds = {
            name: bind.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
            for name, bind in compiled.binds.items()
        }
        self.token, self.user, self.account = token, user, account
        self.accounts_key = accounts_key

    def parameters(self, params: dict[str, Any]) -> Any:
        values = self.compiled.construct_params(params)
        for name, process in self.binds.items():
            if process is not None and values.get(name) is not None:
                values[name] = process(values[name])
        if self.names is None:
            return values
        return tuple(values[name] for name in self.names)

    def load(self, session: Session, rows: Sequence[Sequence[Any]]) -> Any:
        """The objects of ``rows``, placed in ``session``; ``None`` for no row.

        The token for a token lookup (its user remembered, ``_fresh.py``), else the user.
        """
        if not rows:
            return None
        user = None
        if self.user is not None:
            also: dict[str, Any] = {}
            account = self.account
            if account is not None and self.accounts_key is not None:
                at = account.start + account.pk
                also[self.accounts_key] = [
                    account.place(session, account.values(row), {})
                    for row in rows
                    if row[at] is not None
                ]
            user = self.user.place(session, self.user.values(rows[0]), also)
            session.add(user)  # and, by its cascade, accounts new to the session
        if self.token is None:
            return user
        token = self.token.place(session, self.token.values(rows[0]), {})
        session.add(token)
        if user is not None:
            remember(session, user)
        return token


class DirectLookups:
    """The user and token lookups of one store's engine and models, sent through the driver."""

    def __init__(
        self,
        engine: Engine,
        shim: DialectShim,
        user: type[Any],
        account: type[Any] | None,
        token: type[Any] | None,
        accounts_key: str | None,
    ) -> None:
        """The lookups of ``engine`` on these models.

        ``accounts_key`` names the user's relationship to ``account`` (``oauth_accounts``).
        """
        self.engine = engine
        self.fetch_rows: Fetch | None = shim.fetcher(engine.dialect)
        self.user_mapper: Mapper[Any] = inspect(user)
        self.accounts_key = accounts_key if account is not None else None
        self.account_mapper: Mapper[Any] | None = inspect(account) if account is not None else None
        self.token_mapper: Mapper[Any] | None = inspect(token) if token is not None else None
        plain = (
            _plain(self.user_mapper, {self.accounts_key} if self.accounts_key else set())
            and (self.account_mapper is None or _plain(self.account_mapper, set()))
            and (self.token_mapper is None or _plain(self.token_mapper, set()))
        )
        if not plain:
            self.fetch_rows = None
        # a token joined to its user: the store's user model, by the token's one foreign key
        self.tokens_join_users = self.token_mapper is not None and [
            key.column.table for key in self.token_mapper.columns["user_id"].foreign_keys
        ] == [self.user_mapper.local_table]
        self._plans: dict[tuple[str, str], _Plan] = {}

    def plan(self, kind: str, name: str, statement: Select[Any]) -> _Plan | None:
        """The compiled form of lookup ``name`` (``statement``), made once.

        ``kind`` is ``"user"`` (the user outer-joined to its OAuth accounts),
        ``"token with user"`` (the token joined to its user and the user's
        accounts) or ``"token"`` (the token alone).  The ORM statement gives the
        WHERE clause; the plain columns of each table are selected in mapper
        order, the tables joined as the ORM statement joins them.  ``None``: the
        ORM's way (a token model whose user is not the store's).
        """
        if kind == "token with user" and not self.tokens_join_users:
            return None
        found = self._plans.get((kind, name))
        if found is None:
            found = self._plans[(kind, name)] = self._compile(kind, statement)
        return found

    def _compile(self, kind: str, statement: Select[Any]) -> _Plan:
        columns: list[Any] = []
        source: Any = None
        token = user = account = None
        if kind != "user":
            assert self.token_mapper is not None
            token = _Part(self.token_mapper, len(columns), self.engine)
            columns.extend(token.columns)
            source = self.token_mapper.local_table
        if kind != "token":
            user = _Part(self.user_mapper, len(columns), self.engine)
            columns.extend(user.columns)
            users = self.user_mapper.local_table
            if source is None:
                source = users
            else:
                (pk,) = self.user_mapper.primary_key
                source = source.join(users, self.token_mapper.columns["user_id"] == pk)  # type: ignore[union-attr]
            if self.account_mapper is not None and self.accounts_key is not None:
                account = _Part(self.account_mapper, len(columns), self.engine)
                columns.extend(account.columns)
                relationship = self.user_mapper.relationships[self.accounts_key]
                source = source.outerjoin(self.account_mapper.local_table, relationship.primaryjoin)
        where: Any = statement.whereclause
        core = select(*columns).select_from(source).where(where)
        return _Plan(core, self.engine, token, user, account, self.accounts_key)

    def usable(self, session: AsyncSession) -> bool:
        """Whether nothing the ORM would do differently is in the way (see the module)."""
        if self.fetch_rows is None:
            return False
        engine = self.engine
        if engine.echo or _ENGINE_LOG.isEnabledFor(logging.INFO):
            return False
        if app_listens_to_engine(engine):
            return False
        sync_session = session.sync_session
        return not any(getattr(sync_session.dispatch, name) for name in _SESSION_EVENTS)

    def run_alone(
        self,
        session: Session,
        connection: Any,
        plan: _Plan,
        params: dict[str, Any],
        ready: Callable[[Any], bool],
    ) -> Any:
        """The lookup on a pooled ``connection`` of its own, returned to the pool after it.

        In SQLAlchemy's greenlet: the user, ``None``, or ``NOT_SENT`` when the
        connection is not ready (``ready(connection)``).  If the driver's call
        fails, the statement runs again through SQLAlchemy on the same
        connection: what that raises is what the ORM's way would have (a lost
        connection invalidated, the driver's error wrapped as SQLAlchemy wraps
        it, to be translated as any), and a failure that does not repeat still
        gives the rows.
        """
        fetch = self.fetch_rows
        assert fetch is not None
        if not ready(connection):
            connection.close()
            return NOT_SENT
        parameters = plan.parameters(params)
        try:
            rows = await_only(fetch(connection.dbapi_connection, plan.sql, parameters))
        except Exception:
            with Connection(self.engine, connection) as core:
                rows = core.exec_driver_sql(plan.sql, parameters).all()
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            connection.invalidate()
            connection.close()
            raise
        else:
            connection.close()
        found = self._load(session, plan, rows)
        _end_transaction(session)
        return found

    def run(
        self,
        session: Session,
        connection: Connection,
        plan: _Plan,
        params: dict[str, Any],
        ready: Callable[[Any], bool],
    ) -> Any:
        """The lookup on the session's ``connection``, in its transaction, as :meth:`run_alone`.

        A failed driver call is sent again through ``connection`` itself, in the
        session's transaction.
        """
        fetch = self.fetch_rows
        assert fetch is not None
        if not ready(connection):
            return NOT_SENT
        parameters = plan.parameters(params)
        try:
            rows = await_only(fetch(connection.connection.dbapi_connection, plan.sql, parameters))
        except Exception:
            rows = connection.exec_driver_sql(plan.sql, parameters).all()
        except BaseException:
            connection.invalidate()
            raise
        return self._load(session, plan, rows)

    def _load(self, session: Session, plan: _Plan, rows: Sequence[Sequence[Any]]) -> Any:
        """The objects of a lookup's ``rows`` (:meth:`_Plan.load`)."""
        return plan.load(session, rows)


def _end_transaction(session: Session) -> None:
    """End the transaction ``session.add`` may have begun (it holds no connection)."""
    transaction = session.get_transaction()
    if transaction is not None:
        transaction.close()
