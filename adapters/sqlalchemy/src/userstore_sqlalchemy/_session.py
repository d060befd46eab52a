"""The session of a ``connect()`` store.

Its user and token databases share one ``AsyncSession``; ``transaction()``
blocks nest as savepoints.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, NoReturn

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import attributes
from sqlalchemy.orm.base import NO_VALUE

from userstore import (
    StoreSession,
    StoreUnavailable,
    UserStoreError,
)

from ._autocommit import Autocommit
from ._direct import DirectLookups
from ._no_tokens import NoAccessTokenModel
from ._runner import SessionRunner
from ._snapshots import Snapshot, clean_objects, restore, snapshot
from ._store_models import StoreModels
from ._translate import raise_translated
from .access_token import SQLAlchemyAccessTokenDatabase
from .users import SQLAlchemyUserDatabase

__all__ = ["SQLAlchemyStoreSession"]


_DOOMED = "an inner transaction block could not be released or rolled back; nothing committed"


class SQLAlchemyStoreSession(StoreSession):
    """A store session: one ``AsyncSession`` shared by ``users`` and ``tokens``."""

    def __init__(
        self,
        session: AsyncSession,
        models: StoreModels,
        *,
        token_digest: bool,
        autocommit: Autocommit | None = None,
        direct: DirectLookups | None = None,
    ) -> None:
        """Wrap ``session``; its lookups and one-statement writes autocommit when it can.

        ``autocommit`` is the autocommit view of the session's engine, which
        ``SQLAlchemyStore`` makes on PostgreSQL (:mod:`._autocommit`): lookups and
        one-statement writes outside a transaction block then run there alone,
        with no ``BEGIN``, ``ROLLBACK`` or ``COMMIT``, and leave the session
        holding no connection.  ``direct``: the store's user lookups
        sent through the driver (:mod:`._direct`), outside transaction blocks.
        """
        self.session = session
        self._doomed: type[UserStoreError] | None = None
        self.users: SQLAlchemyUserDatabase[Any, Any] = SQLAlchemyUserDatabase(
            session, models.user, models.oauth_account
        )
        self.users._runner.autocommit = autocommit
        self.users._runner.direct = direct
        self.tokens: SQLAlchemyAccessTokenDatabase[Any] | NoAccessTokenModel
        if models.access_token is None:
            self.tokens = NoAccessTokenModel(models.source)
        else:
            self.tokens = SQLAlchemyAccessTokenDatabase(
                session, models.access_token, token_digest=token_digest
            )
            self.tokens._runner.autocommit = autocommit
            self.tokens._runner.direct = direct

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
        connection lost at the end of the block raises ``StoreUnavailable``
        (``CommitOutcomeUnknown`` if it was lost during the COMMIT).  If a
        SAVEPOINT cannot be released or rolled back because the connection is gone
        (or the rollback fails), the outermost block raises that error at its end
        instead of committing.  After a rollback every object the block touched
        stays readable without I/O and holds its committed values: those it had
        before the block, or when the block first loaded it (for a SAVEPOINT, the
        values of the enclosing block at that point).
        """
        runner = self.users._runner
        nested = runner.in_caller_transaction()
        try:
            if nested:
                # SQLite: the real BEGIN first, so releasing the SAVEPOINT commits nothing
                await runner.shim.before_savepoint(await runner.connection())
            elif self.session.in_transaction():
                await self.session.commit()
        except Exception as error:
            await self._fail(runner, error, rollback=not nested, doom=nested)
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
                at_commit = block_done and not nested
                await self._fail(
                    runner, error, rollback=not nested, doom=nested, at_commit=at_commit
                )
            raise
        finally:
            event.remove(sync_session, "before_flush", before_flush)

    def _drop_undone_accounts(self, also: Iterable[Any]) -> None:
        """Take the OAuth accounts a rollback undid out of the users' loaded lists.

        An account linked in the rolled-back block is transient again; a user the
        block linked it to holds it in a list no snapshot had before the link.
        """
        key = self.users._mapping.accounts_key
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
        self,
        runner: SessionRunner,
        error: Exception,
        *,
        rollback: bool = True,
        doom: bool = False,
        at_commit: bool = False,
    ) -> NoReturn:
        """Raise the contract's error for ``error``, after rolling the session back.

        ``doom``: ``error`` ended a SAVEPOINT block; if it means the connection is
        lost, the outermost block will not commit.  ``at_commit``: ``error`` came
        from the block's COMMIT, so a lost connection leaves the outcome unknown.
        """
        mapped = runner.translate(error, {})
        if at_commit and mapped is not None:
            mapped = runner.outcome_of_commit(mapped)
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
