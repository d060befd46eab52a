"""``SQLAlchemyAccessTokenDatabase``: access tokens, optionally stored as SHA-256 digests."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import partial
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, Session, attributes, class_mapper, contains_eager

from userstore import (
    AccessTokenAlreadyExists,
    BaseAccessTokenDatabase,
    CommitOutcomeUnknown,
    InvalidUserData,
    UserNotFound,
)
from userstore.rules import (
    ACCESS_TOKEN_FIELDS,
    Schema,
    check_aware_datetime,
    coerce_id,
    id_rule,
    lookup_string,
    token_digest,
)

from ._fresh import remember
from ._rules import id_kind, int_range, model_schema
from ._runner import SessionRunner, retry_conflicts
from ._translate import ErrorMap
from .models import SQLAlchemyBaseOAuthAccountTable
from .types import now_utc

__all__ = ["SQLAlchemyAccessTokenDatabase"]

AP = TypeVar("AP")
"""The application's access-token model (unbound, as ``UP`` in ``users``)."""

_TOKEN_ERRORS: ErrorMap = {"unique": AccessTokenAlreadyExists, "foreign_key": UserNotFound}


@dataclasses.dataclass(frozen=True)
class _TokenMapping:
    """What the token database derives once from the application's access-token class."""

    schema: Schema
    user_id_rule: Any
    by_token: Any
    by_token_since: Any
    token_only: Any
    """The token's row alone."""
    with_user: bool
    """Whether the statements load the token's user too (its model found by the foreign key)."""


_INFO_KEY = "userstore.token_mappings"


def _token_mapping(table: type[Any]) -> _TokenMapping:
    """What the token database needs to know of a model, derived once.

    Kept in the mapped table's ``Table.info``, so it lives as long as the
    application's model and no module-level cache holds the class.
    """
    mapped = class_mapper(table).local_table
    if not isinstance(mapped, Table):  # mapped to a join or a select: derived each time
        return _derive(table)
    mappings: dict[type[Any], _TokenMapping] = mapped.info.setdefault(_INFO_KEY, {})
    found = mappings.get(table)
    if found is None:
        found = mappings[table] = _derive(table)
    return found


def _derive(table: type[Any]) -> _TokenMapping:
    mapper: Mapper[Any] = inspect(table)
    user_id = mapper.columns["user_id"]
    kind = id_kind(user_id)
    bounds = int_range(user_id) if kind == "int" else (0, 0)
    rule = dataclasses.replace(
        id_rule(kind, int_range=bounds), name="user_id", required=True, writable=True
    )
    schema = model_schema(mapper, ACCESS_TOKEN_FIELDS.with_rules([rule]))
    only = select(table).where(table.token == bindparam("token"))
    base = _with_user(mapper, table)
    with_user = base is not None
    if base is None:
        base = select(table)
    base = base.where(table.token == bindparam("token")).execution_options(populate_existing=True)
    return _TokenMapping(
        token_only=only,
        schema=schema,
        user_id_rule=(kind, bounds),
        by_token=base,
        by_token_since=base.where(table.created_at >= bindparam("since")),
        with_user=with_user,
    )


def _with_user(mapper: Mapper[Any], table: type[Any]) -> Any:
    """``SELECT token, user (and its OAuth accounts) ... JOIN user``, or ``None``.

    The user model is the mapped class of the table ``user_id`` references, in
    the token model's registry; its accounts are loaded when it has a
    relationship to a class on ``SQLAlchemyBaseOAuthAccountTable``.
    """
    keys = list(mapper.columns["user_id"].foreign_keys)
    if len(keys) != 1:
        return None
    referred = keys[0].column.table
    users = [m for m in mapper.registry.mappers if m.local_table is referred]
    if len(users) != 1:
        return None
    user_mapper = users[0]
    user = user_mapper.class_
    (pk,) = user_mapper.primary_key
    statement = select(table, user).join(user, table.user_id == pk)
    for relationship in user_mapper.relationships:
        if issubclass(relationship.mapper.class_, SQLAlchemyBaseOAuthAccountTable):
            accounts = getattr(user, relationship.key)
            statement = statement.outerjoin(accounts).options(contains_eager(accounts))
            break
    return statement


class SQLAlchemyAccessTokenDatabase(BaseAccessTokenDatabase[Any], Generic[AP]):
    """Access tokens in the application's model (FastAPI Users' ``DatabaseStrategy`` store).

    With ``token_digest=True`` the token column holds the SHA-256 digest of each
    token (43 characters, like a FastAPI Users token): lookups take the clear
    token, returned objects carry the clear token and are detached from the
    session, and the clear token is never sent to the database.
    """

    def __init__(
        self,
        session: AsyncSession,
        access_token_table: type[AP],
        *,
        token_digest: bool = False,
    ) -> None:
        self.session = session
        self.access_token_table = access_token_table
        self.token_digest = token_digest
        self._mapping = _token_mapping(access_token_table)
        self._runner = SessionRunner(session, class_mapper(access_token_table))
        self._table = class_mapper(access_token_table).local_table

    def _stored(self, token: str) -> str:
        return token_digest(token) if self.token_digest else token

    def _hand_out(self, token: Any, clear: str) -> Any:
        if self.token_digest:
            if token in self.session.sync_session:
                self.session.expunge(token)
            attributes.set_committed_value(token, "token", clear)
        return token

    async def get_by_token(self, token: str, max_age: dt.datetime | None = None) -> AP | None:
        """Return the token if stored and ``created_at >= max_age`` (inclusive); one SELECT."""
        since = check_aware_datetime("max_age", max_age) if max_age is not None else None
        clear = lookup_string(token, self._mapping.schema.rules["token"])
        if clear is None:
            return None
        params: dict[str, Any] = {"token": self._stored(clear)}
        name, statement = "by_token", self._mapping.by_token
        if since is not None:
            name, statement, params["since"] = "by_token_since", self._mapping.by_token_since, since

        def run(session: Session) -> Any:
            if not self._mapping.with_user:
                return session.execute(statement, params).scalar_one_or_none()
            row = session.execute(statement, params).unique().first()
            if row is None:
                return None
            remember(session, row[1])  # the user FastAPI Users asks for next: no SQL then
            return row[0]

        kind = "token with user" if self._mapping.with_user else "token"
        plan = self._runner.direct_plan(kind, name, statement)
        if plan is not None:
            found = await self._runner.direct_lookup(plan, params, run)
        else:
            found = await self._runner.lookup(run)
        return self._hand_out(found, clear) if found is not None else None

    @retry_conflicts
    async def create(self, create_dict: dict[str, Any]) -> AP:
        """Insert a token (one INSERT, then COMMIT); ``AccessTokenAlreadyExists`` if stored."""
        data = self._mapping.schema.validate_create(create_dict)
        clear = data["token"]
        data["token"] = self._stored(clear)
        data.setdefault("created_at", now_utc())
        self._release_held(data["token"])
        token = self.access_token_table(**data)
        try:
            async with self._runner.write(
                _TOKEN_ERRORS, keep=[token], table=self._table, one_statement=True
            ):
                self.session.add(token)
                await self.session.flush()
                self._hand_out(token, clear)
        except CommitOutcomeUnknown as unknown:
            owner = data.get("user_id")
            return await self._runner.resolve(unknown, partial(self._created, clear, owner))
        return token

    async def _created(self, clear: str, owner: Any) -> AP | None:
        """The token a lost COMMIT was creating, if it is stored for the same user."""
        found = await self.get_by_token(clear)
        return found if found is not None and cast(Any, found).user_id == owner else None

    def _release_held(self, stored: str) -> None:
        """Expunge a token object the session holds under ``stored``; the INSERT then decides.

        Bulk deletes (``delete_for_user``, ``delete_expired``, a deleted user's
        cascade) leave the objects of the rows they removed in the session, so a
        held object does not mean the row exists; and a flush would warn, with the
        token in the message, about a new object under a held key.
        """
        mapper: Mapper[Any] = class_mapper(self.access_token_table)
        key = mapper.identity_key_from_primary_key((stored,))
        held = self.session.sync_session.identity_map.get(key)
        if held is not None:
            self.session.expunge(held)

    @retry_conflicts
    async def update(self, access_token: AP, update_dict: dict[str, Any]) -> AP:
        """Update the token's other fields (one UPDATE); ``UserNotFound`` if it is gone."""
        data = self._mapping.schema.validate_update(update_dict)
        if "token" in data:
            raise InvalidUserData("token", "cannot be changed; create a new token")
        table: Any = self.access_token_table
        stored = self._stored(cast(Any, access_token).token)
        async with self._runner.write(
            _TOKEN_ERRORS, keep=[access_token], table=self._table, one_statement=True
        ):
            if data:
                result = await self.session.execute(
                    update(table).where(table.token == stored).values(**data),
                    execution_options={"synchronize_session": False},
                )
                missing = result.rowcount == 0  # type: ignore[attr-defined]
            else:
                found = await self.session.execute(self._mapping.token_only, {"token": stored})
                missing = found.scalar_one_or_none() is None
            if missing:
                raise UserNotFound("the access token no longer exists")
            for name, value in data.items():
                attributes.set_committed_value(access_token, name, value)
        return access_token

    async def delete(self, access_token: AP) -> None:
        """Delete the token (one DELETE, then COMMIT); a no-op if it is gone."""
        table: Any = self.access_token_table
        stored = self._stored(cast(Any, access_token).token)
        async with self._runner.write(_TOKEN_ERRORS, table=self._table, one_statement=True):
            await self.session.execute(
                delete(table).where(table.token == stored),
                execution_options={"synchronize_session": False},
            )
            if access_token in self.session.sync_session:
                self.session.expunge(access_token)

    async def delete_for_user(self, user_id: Any) -> int:
        """Delete every token of one user; return how many."""
        kind, bounds = self._mapping.user_id_rule
        key = coerce_id(user_id, kind, int_range=bounds)
        if key is None:
            return 0
        table: Any = self.access_token_table
        return await self._delete_where(table.user_id == key)

    async def delete_expired(self, older_than: dt.datetime, *, limit: int | None = None) -> int:
        """Delete the tokens created strictly before ``older_than`` (one DELETE); return how many.

        With ``limit``, delete at most that many, the oldest first: the DELETE picks
        its rows through a derived table (``token IN (SELECT token FROM (SELECT ...
        ORDER BY created_at LIMIT n))``), a form every backend accepts, MySQL's
        rule against reading the table a DELETE writes included.
        """
        cutoff = check_aware_datetime("older_than", older_than)
        table: Any = self.access_token_table
        if limit is None:
            return await self._delete_where(table.created_at < cutoff)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidUserData("limit", "must be an int of at least 1")
        oldest = (
            select(table.token)
            .where(table.created_at < cutoff)
            .order_by(table.created_at)
            .limit(limit)
            .subquery()
        )
        return await self._delete_where(table.token.in_(select(oldest.c.token)))

    async def count_tokens(self, older_than: dt.datetime | None = None) -> int:
        """Return how many tokens are stored (created strictly before ``older_than``, if given)."""
        table: Any = self.access_token_table
        statement = select(func.count()).select_from(table)
        if older_than is not None:
            cutoff = check_aware_datetime("older_than", older_than)
            statement = statement.where(table.created_at < cutoff)
        async with self._runner.read():
            result = await self.session.execute(statement)
            return int(result.scalar_one())

    async def _delete_where(self, condition: Any) -> int:
        async with self._runner.write(_TOKEN_ERRORS, table=self._table, one_statement=True):
            result = await self.session.execute(
                delete(self.access_token_table).where(condition),
                execution_options={"synchronize_session": False},
            )
        return int(result.rowcount)  # type: ignore[attr-defined]
