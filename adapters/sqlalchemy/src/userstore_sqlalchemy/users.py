"""``SQLAlchemyUserDatabase``: users and their OAuth accounts on any supported backend."""

from __future__ import annotations

import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import Select, delete, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    Mapper,
    Session,
    aliased,
    attributes,
    class_mapper,
    contains_eager,
)

from userstore import (
    BaseUserDatabase,
    CommitOutcomeUnknown,
    InvalidUserData,
    OAuthAccountAlreadyLinked,
    UserAlreadyExists,
    UserNotFound,
    UserProtocol,
    UserStoreError,
    email_key,
)
from userstore.rules import coerce_id, lookup_email_key, lookup_string

from ._fresh import fresh
from ._runner import SessionRunner, retry_conflicts
from ._translate import ErrorMap
from ._user_mapping import UserMapping, primary_key, user_mapping

__all__ = ["ID", "SQLAlchemyUserDatabase", "UP"]


UP = TypeVar("UP", bound=UserProtocol[Any])
"""The application's user model (the mixins show mypy ``UserProtocol``'s attributes)."""

ID = TypeVar("ID")

if TYPE_CHECKING:
    # For mypy the class is also FastAPI Users' BaseUserDatabase, as
    # fastapi-users-db-sqlalchemy's is: BaseUserManager takes only that.  At run time
    # FastAPI Users needs no base class, and userstore does not import it.  (Where
    # FastAPI Users is not installed, mypy takes that base as Any.)
    from fastapi_users.db import BaseUserDatabase as _FastAPIUsersDatabase

    class _Database(BaseUserDatabase[UP, ID], _FastAPIUsersDatabase[UP, ID]):
        pass

else:
    _Database = BaseUserDatabase

_USER_ERRORS: ErrorMap = {"unique": UserAlreadyExists, "foreign_key": UserNotFound}

_ACCOUNT_ERRORS: ErrorMap = {"unique": OAuthAccountAlreadyLinked, "foreign_key": UserNotFound}

_DELETE_ERRORS: ErrorMap = {}

_ACCOUNT_DEFAULTS = {"expires_at": None, "refresh_token": None}


def _link_order(account: Any) -> Any:
    value = attributes.instance_state(account).identity
    key = value[0] if value else getattr(account, "id", 0)
    return key.int if isinstance(key, uuid.UUID) else key


class SQLAlchemyUserDatabase(_Database[UP, ID], Generic[UP, ID]):
    """Users (and OAuth accounts) in the application's own SQLAlchemy models and session.

    A drop-in for fastapi-users-db-sqlalchemy's class of the same name: give it
    the ``AsyncSession``, the user model and, for OAuth, the account model.  It
    behaves the same on SQLite, PostgreSQL and MySQL/MariaDB, whatever the
    session's ``expire_on_commit``: lookups are one statement and load
    ``oauth_accounts`` in link order; writes commit (or join the caller's
    transaction) and raise only userstore's typed errors.
    """

    def __init__(
        self,
        session: AsyncSession,
        user_table: type[UP],
        oauth_account_table: type[Any] | None = None,
    ) -> None:
        self.session = session
        self.user_table = user_table
        self.oauth_account_table = oauth_account_table
        self._mapping: UserMapping = user_mapping(user_table, oauth_account_table)
        self._runner = SessionRunner(session, class_mapper(user_table), (oauth_account_table,))
        self._user_mapper: Mapper[Any] = class_mapper(user_table)
        self._user_core_table = self._user_mapper.local_table
        self._account_core_table = (
            inspect(oauth_account_table).local_table if oauth_account_table is not None else None
        )

    # -- lookups -------------------------------------------------------------------------

    async def get(self, id: ID) -> UP | None:
        """Return the user with this id, or ``None`` (also for a value that is no valid id).

        Right after ``get_by_token`` found this user's token in the same session and
        transaction (FastAPI Users' database strategy), the user that lookup loaded
        is returned without a statement (``_fresh.py``).
        """
        key = coerce_id(id, self._mapping.id_type, int_range=self._mapping.id_range)
        if key is None:
            return None
        session = self.session.sync_session
        held = fresh(
            session,
            self._user_mapper.identity_key_from_primary_key((key,)),
            self._mapping.accounts_key,
        )
        if held is not None:  # the access token's lookup just loaded it (see _fresh.py)
            self._order_accounts(held)
            return cast(UP, held)
        return await self._fetch("by_id", self._mapping.by_id, {"id": key})

    async def get_by_email(self, email: str) -> UP | None:
        """Return the user whose email has the same key, or ``None``; uses the unique index."""
        key = lookup_email_key(email, self._mapping.user_schema.rules["email"])
        if key is None:
            return None
        return await self._fetch("by_email_key", self._mapping.by_email_key, {"key": key})

    async def get_by_oauth_account(self, oauth: str, account_id: str) -> UP | None:
        """Return the user linked to ``(oauth, account_id)``, compared exactly, or ``None``."""
        statement = self._mapping.by_account
        if statement is None:
            raise UserStoreError("this database was created without an OAuth account table")
        rules = self._mapping.account_schema.rules
        name = lookup_string(oauth, rules["oauth_name"])
        account = lookup_string(account_id, rules["account_id"])
        if name is None or account is None:
            return None
        return await self._fetch("by_account", statement, {"name": name, "account": account})

    async def list_users(self, *, after: Any = None, limit: int = 100) -> list[UP]:
        """Return at most ``limit`` users whose id comes after ``after``, in the database's order.

        Keyset paging, one statement per page: the page's users are chosen in a
        subquery (``WHERE id > :after ORDER BY id LIMIT :limit``) and joined to
        their OAuth accounts, so the order is the database's ``ORDER BY id``
        (MariaDB's native UUID order is not Python's) and ``oauth_accounts`` come
        loaded.  Pass the id of a page's last user to get the next page.
        ``InvalidUserData`` if ``after`` is not a valid id or ``limit`` is below 1.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidUserData("limit", "must be an int of at least 1")
        pk = primary_key(class_mapper(self.user_table))
        page = select(self.user_table).order_by(pk).limit(limit)
        if after is not None:
            start = coerce_id(after, self._mapping.id_type, int_range=self._mapping.id_range)
            if start is None:
                raise InvalidUserData("after", f"not a valid {self._mapping.id_type} id")
            page = page.where(pk > start)
        rows = page.subquery()
        user: Any = aliased(self.user_table, rows)
        statement = select(user)
        if self._mapping.accounts_key is not None:
            accounts = getattr(user, self._mapping.accounts_key)
            statement = statement.outerjoin(accounts).options(contains_eager(accounts))
        statement = statement.order_by(rows.c[pk.key]).execution_options(populate_existing=True)
        async with self._runner.read():
            result = await self.session.execute(statement)
            users: list[UP] = list(result.unique().scalars().all())
        for found in users:
            self._order_accounts(found)
        return users

    async def _fetch(self, name: str, statement: Select[Any], params: dict[str, Any]) -> UP | None:
        def run(session: Session) -> UP | None:
            found: UP | None = session.execute(statement, params).unique().scalar_one_or_none()
            return found

        plan = self._runner.direct_plan("user", name, statement)
        if plan is not None:
            user = await self._runner.direct_lookup(plan, params, run)
        else:
            user = await self._runner.lookup(run)
        if user is not None:
            self._order_accounts(user)
        return user

    def _order_accounts(self, user: Any) -> None:
        key = self._mapping.accounts_key
        if key is not None:
            accounts = attributes.instance_state(user).dict.get(key)
            if accounts is not None and len(accounts) > 1:
                accounts.sort(key=_link_order)

    # -- users ---------------------------------------------------------------------------

    @retry_conflicts
    async def create(self, create_dict: dict[str, Any]) -> UP:
        """Insert a user (one INSERT, then COMMIT); ``UserAlreadyExists`` if its key is taken."""
        data = self._mapping.user_schema.validate_create(create_dict)
        self._runner.refuse_held_key(self.user_table, data.get("id"), UserAlreadyExists)
        user = self.user_table(**data)
        key = user.email_key = email_key(data["email"])  # type: ignore[attr-defined]
        created = data.get("id")  # else known after the INSERT (not if it was lost)
        try:
            async with self._runner.write(
                _USER_ERRORS, keep=[user], table=self._user_core_table, one_statement=True
            ):
                self.session.add(user)
                await self.session.flush()
                created = self._identity(user)
                if self._mapping.accounts_key is not None:
                    attributes.set_committed_value(user, self._mapping.accounts_key, [])
        except CommitOutcomeUnknown as unknown:
            found = partial(self._created, created, key, data.get("hashed_password"))
            return await self._runner.resolve(unknown, found)
        return user

    async def _created(self, id: Any, key: str, password: Any) -> UP | None:
        """The user a lost COMMIT or INSERT was creating, if stored: its id, key and hash.

        ``id`` is ``None`` when the INSERT's answer was lost before the id was
        known; the user is then found by its email key (unique).
        """
        if id is None:
            found = await self._fetch("by_email_key", self._mapping.by_email_key, {"key": key})
        else:
            found = await self.get(id)
        if found is None or getattr(found, "email_key", None) != key:
            return None
        return found if getattr(found, "hashed_password", None) == password else None

    @retry_conflicts
    async def update(self, user: UP, update_dict: dict[str, Any]) -> UP:
        """Apply ``update_dict`` (one UPDATE, then COMMIT); ``UserNotFound`` if the user is gone."""
        data = self._mapping.user_schema.validate_update(update_dict)
        self._refuse_id_change(data, user)
        if "email" in data:
            data["email_key"] = email_key(data["email"])
        async with self._runner.write(
            _USER_ERRORS, keep=[user], table=self._user_core_table, one_statement=True
        ):
            await self._own(user)
            for name, value in data.items():
                setattr(user, name, value)
            if not self.session.is_modified(user):
                await self._require(user)
            await self.session.flush()
        return user

    async def delete(self, user: UP) -> None:
        """Delete the user, its OAuth accounts and access tokens in one transaction."""
        user_id = self._identity(user)
        try:
            await self._delete(user, user_id)
        except CommitOutcomeUnknown as unknown:
            # gone on a new connection: deleted, by this call or another one
            await self._runner.resolve(unknown, partial(self._gone, user_id))
            self._forget(user)

    async def _gone(self, user_id: Any) -> bool | None:
        return True if await self.get(user_id) is None else None

    async def _delete(self, user: Any, user_id: Any) -> None:
        async with self._runner.write(
            _DELETE_ERRORS,
            table=self._user_core_table,
            one_statement=not self._mapping.cleared_by_hand,
        ):
            for _, column in self._mapping.cleared_by_hand:
                await self.session.execute(
                    delete(column.class_).where(column == user_id),
                    execution_options={"synchronize_session": False},
                )
            (pk,) = class_mapper(self.user_table).primary_key
            result = await self.session.execute(
                delete(self.user_table).where(pk == user_id),
                execution_options={"synchronize_session": False},
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise UserNotFound("the user no longer exists")
            self._forget(user)

    def _forget(self, user: Any) -> None:
        session = self.session.sync_session
        state = attributes.instance_state(user)
        key = self._mapping.accounts_key
        if key is not None:
            for account in state.dict.get(key, ()):
                if account in session:
                    session.expunge(account)
        if user in session:
            session.expunge(user)

    # -- OAuth accounts ------------------------------------------------------------------

    @retry_conflicts
    async def add_oauth_account(self, user: UP, create_dict: dict[str, Any]) -> UP:
        """Link an account (one INSERT, then COMMIT); ``OAuthAccountAlreadyLinked`` if linked."""
        key = self._accounts_key()
        data = self._mapping.account_schema.validate_create(create_dict)
        self._runner.refuse_held_key(
            self.oauth_account_table, data.get("id"), OAuthAccountAlreadyLinked
        )
        link = (data["oauth_name"], data["account_id"])
        try:
            async with self._runner.write(
                _ACCOUNT_ERRORS, keep=[user], table=self._account_core_table, one_statement=True
            ):
                await self._own(user)
                # every field set, the optional ones too: one never set would be expired by
                # a later rollback and then load lazily (I/O) when read
                account = self.oauth_account_table(**{**_ACCOUNT_DEFAULTS, **data})  # type: ignore[misc]
                account.user_id = self._identity(user)
                self.session.add(account)
                await self.session.flush()
                accounts = list(attributes.instance_state(user).dict[key])
                attributes.set_committed_value(user, key, [*accounts, account])
        except CommitOutcomeUnknown as unknown:
            user_id = self._identity(user)
            return await self._runner.resolve(unknown, partial(self._linked, user_id, link))
        return user

    async def _linked(self, user_id: Any, link: tuple[str, str]) -> UP | None:
        """The user, reloaded, if the account a lost COMMIT was linking is linked to it.

        ``link`` is the account's ``(oauth_name, account_id)``, unique among accounts.
        """
        found = await self.get(user_id)
        accounts = getattr(found, self._accounts_key(), ()) if found is not None else ()
        return found if any((a.oauth_name, a.account_id) == link for a in accounts) else None

    @retry_conflicts
    async def update_oauth_account(
        self, user: UP, oauth_account: Any, update_dict: dict[str, Any]
    ) -> UP:
        """Update one account of ``user`` (one UPDATE, then COMMIT) and return the user."""
        self._accounts_key()
        data = self._mapping.account_schema.validate_update(update_dict)
        self._refuse_id_change(data, oauth_account)
        async with self._runner.write(
            _ACCOUNT_ERRORS,
            keep=[user, oauth_account],
            table=self._account_core_table,
            one_statement=True,
        ):
            await self._own(user)
            account = self._held_account(user, oauth_account)
            for name, value in data.items():
                setattr(account, name, value)
            if not self.session.is_modified(account):
                await self._require(user)
            await self.session.flush()
        return user

    async def remove_oauth_account(self, user: UP, oauth_account: Any) -> UP:
        """Unlink one account of ``user`` (a no-op if it is not linked) and return the user."""
        key = self._accounts_key()
        account_id = self._identity(oauth_account)
        table: Any = self.oauth_account_table
        (pk,) = inspect(table).primary_key
        state = attributes.instance_state(user)
        async with self._runner.write(
            _ACCOUNT_ERRORS, keep=[user], table=self._account_core_table, one_statement=True
        ):
            if not state.transient:
                # a user whose create was rolled back is left out of the session (a flush
                # would insert it); the DELETE by ids then unlinks nothing, as for a deleted user
                await self._own(user)
            await self.session.execute(
                delete(table).where(pk == account_id).where(table.user_id == self._identity(user)),
                execution_options={"synchronize_session": False},
            )
            accounts = state.dict.get(key, [])
            kept = [a for a in accounts if self._identity(a) != account_id]
            for gone in accounts:
                if gone not in kept and gone in self.session.sync_session:
                    self.session.expunge(gone)
            attributes.set_committed_value(user, key, kept)
        return user

    # -- helpers -------------------------------------------------------------------------

    def _accounts_key(self) -> str:
        if self._mapping.accounts_key is None:
            raise UserStoreError("this database was created without an OAuth account table")
        return self._mapping.accounts_key

    @staticmethod
    def _identity(obj: Any) -> Any:
        """The primary key of ``obj``, read without loading anything."""
        identity = attributes.instance_state(obj).identity
        if identity is not None:
            return identity[0]
        return obj.id

    @classmethod
    def _refuse_id_change(cls, data: dict[str, Any], obj: Any) -> None:
        if "id" in data:
            if data["id"] != cls._identity(obj):
                raise InvalidUserData("id", "cannot be changed")
            del data["id"]

    async def _own(self, user: Any) -> None:
        """Attach ``user`` to the session and make sure it is fully loaded (I/O only if not)."""
        state = attributes.instance_state(user)
        session = self.session.sync_session
        if state.transient or state.pending:
            raise UserNotFound("the user was never stored")
        if state.session_id is not None and state.session is not session:
            raise UserStoreError("the user belongs to another session")
        if state.detached:
            session.add(user)
        key = self._mapping.accounts_key
        if state.expired_attributes or (key is not None and key not in state.dict):
            await self._require(user)

    async def _require(self, user: Any) -> None:
        """Reload ``user`` by id; ``UserNotFound`` if it is gone."""
        result = await self.session.execute(self._mapping.by_id, {"id": self._identity(user)})
        if result.unique().scalar_one_or_none() is None:
            raise UserNotFound("the user no longer exists")
        self._order_accounts(user)

    def _held_account(self, user: Any, oauth_account: Any) -> Any:
        wanted = self._identity(oauth_account)
        for account in attributes.instance_state(user).dict[self._accounts_key()]:
            if self._identity(account) == wanted:
                return account
        raise UserNotFound("the OAuth account is no longer linked to this user")
