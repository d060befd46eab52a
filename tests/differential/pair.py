"""Run each operation on the memory reference store and on a real one; require the same outcome.

:class:`Pair` holds one session on each store and, for every user, OAuth
account and token the sequence created, the object each store returned (the
object an application would pass back).  :meth:`Pair.apply` runs an
:class:`~.ops.Op` on both and compares the outcomes: the return value with ids
replaced by creation order (the two stores generate ids independently), or the
exception's type (and, for ``InvalidUserData``, its field and reason).
:meth:`Pair.check_state` compares everything stored, read back through fresh
sessions.  Any difference raises :class:`Divergence` naming the operation.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import delete, select

from userstore import InvalidUserData, Store, StoreSession, UserStoreError
from userstore.memory import MemoryStore
from userstore_sqlalchemy import SQLAlchemyStore

from .ops import Account, MissingId, Op, Raw, Token, User, UserId, UserIdText

__all__ = ["Divergence", "Pair", "real_store"]


class Divergence(AssertionError):
    """The real store did not do what the reference did."""


class _Rollback(Exception):
    """Raised at the end of a transaction block to roll it back."""


@dataclasses.dataclass
class Side:
    """One store, its open session, and the ids it generated mapped to creation order."""

    name: str
    store: Store
    session: StoreSession | None = None
    session_cm: AbstractAsyncContextManager[StoreSession] | None = None
    user_ids: dict[Any, int] = dataclasses.field(default_factory=dict)
    account_ids: dict[Any, int] = dataclasses.field(default_factory=dict)

    def logical_user(self, value: Any) -> Any:
        return ("user", self.user_ids[value]) if value in self.user_ids else ("unknown", value)


def real_store(url: str, *, id_type: str, token_digest: bool, prefix: str) -> SQLAlchemyStore:
    """A store on scratch tables named ``{prefix}user``... in the database at ``url``."""
    return SQLAlchemyStore(url, id_type=id_type, token_digest=token_digest, table_prefix=prefix)  # type: ignore[arg-type]


async def clear(store: SQLAlchemyStore) -> None:
    """Delete every row of the store's tables (children first); cheaper than recreating them."""
    models = store.models
    async with store.engine.begin() as connection:
        for model in (models.access_token, models.oauth_account, models.user):
            await connection.execute(delete(model.__table__))  # type: ignore[union-attr]


@dataclasses.dataclass
class Outcome:
    """What a call did: returned ``value`` or raised ``error``."""

    value: Any = None
    error: BaseException | None = None


class Pair:
    """The memory reference and a real store, driven in lock step."""

    def __init__(self, real: SQLAlchemyStore) -> None:
        self.real = real
        self.id_type = real.id_type
        self.sides: list[Side] = []
        self.users: list[list[Any]] = []  # per user: [memory object, real object]
        self.tokens: list[list[Any]] = []  # per token: [memory object, real object]
        self.log: list[str] = []
        self.stats: collections.Counter[tuple[str, str]] = collections.Counter()
        """How often each method returned (``ok``) or raised each error, over all examples."""

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Empty both stores and open a session on each."""
        await clear(self.real)
        memory = MemoryStore(id_type=self.id_type, token_digest=self.real.token_digest)
        self.sides = [Side("memory", memory), Side(self.real.url.partition("+")[0], self.real)]
        self.users, self.tokens, self.log = [], [], []
        await self.open_sessions()

    async def open_sessions(self) -> None:
        """Open a new session on each store (objects held so far become detached)."""
        for side in self.sides:
            side.session_cm = side.store.session()
            side.session = await side.session_cm.__aenter__()

    async def close_sessions(self) -> None:
        """Close each store's session."""
        for side in self.sides:
            if side.session_cm is not None:
                cm, side.session_cm, side.session = side.session_cm, None, None
                await cm.__aexit__(None, None, None)

    async def new_sessions(self) -> None:
        """Close the sessions and open fresh ones, as a new request would."""
        self.log.append("new_sessions()")
        await self.close_sessions()
        await self.open_sessions()

    # -- operations ----------------------------------------------------------------------

    async def apply(self, op: Op) -> None:
        """Run ``op`` on both stores; raise :class:`Divergence` if the outcomes differ."""
        if self._dangling(op.args):
            self.log.append(f"# skipped, nothing to refer to: {op!r}")
            return
        self.log.append(repr(op))
        outcomes = [await self._run(i, op) for i in range(2)]
        for outcome in outcomes:
            error = outcome.error
            if error is not None and not isinstance(error, UserStoreError):
                raise Divergence(
                    f"{op!r}: an untyped exception escaped: {type(error).__name__}: {error}"
                ) from error
        self._check_new_ids(op, outcomes)
        self._learn(op, outcomes)
        error = outcomes[0].error
        self.stats[(op.method, "ok" if error is None else _describe(error))] += 1
        try:
            seen = [self._normal(i, o) for i, o in enumerate(outcomes)]
        except Exception as error:
            raise self._divergence(
                f"{op!r}: reading what it returned raised {error!r}", []
            ) from error
        if seen[0] != seen[1]:
            raise self._divergence(f"{op!r} answered differently", seen)

    async def _run(self, i: int, op: Op) -> Outcome:
        try:
            return Outcome(value=await self._call(i, op))
        except Exception as error:
            return Outcome(error=error)

    async def _call(self, i: int, op: Op) -> Any:
        side = self.sides[i]
        assert side.session is not None
        kind, name = op.method.split(".")
        database = getattr(side.session, kind)
        args = [self._resolve(i, a) for a in op.args]
        return await getattr(database, name)(*args)

    def _dangling(self, args: Any) -> bool:
        """Whether an argument refers to a user, account or token when there is none."""
        for arg in args:
            if isinstance(arg, dict) and self._dangling(arg.values()):
                return True
            if isinstance(arg, (User, UserId, UserIdText, Account)) and not self.users:
                return True
            if isinstance(arg, Account) and not self._user(0, arg.n).oauth_accounts:
                return True
            if isinstance(arg, Token) and not self.tokens:
                return True
        return False

    def _resolve(self, i: int, arg: Any) -> Any:
        if isinstance(arg, dict):
            return {k: self._resolve(i, x) for k, x in arg.items()}
        if isinstance(arg, User):
            return self._user(i, arg.n)
        if isinstance(arg, UserId):
            return self._user(i, arg.n).id
        if isinstance(arg, UserIdText):
            return str(self._user(i, arg.n).id)
        if isinstance(arg, MissingId):
            return uuid.UUID(int=0xDEAD) if self.id_type == "uuid" else 2**62
        if isinstance(arg, Raw):
            return arg.value
        if isinstance(arg, Account):
            accounts = self._user(i, arg.n).oauth_accounts
            return accounts[arg.k % len(accounts)]
        if isinstance(arg, Token):
            return self.tokens[arg.n % len(self.tokens)][i]
        return arg

    def _user(self, i: int, n: int) -> Any:
        return self.users[n % len(self.users)][i]

    def _check_new_ids(self, op: Op, outcomes: list[Outcome]) -> None:
        """Require each generated integer id to exceed every id the side handed out before.

        Rolled-back and deleted ones included: an id is never handed out twice.
        """
        if self.id_type != "int":
            return
        for side, outcome in zip(self.sides, outcomes, strict=True):
            if outcome.error is not None:
                continue
            if op.method == "users.create":
                new, earlier = outcome.value.id, side.user_ids
            elif op.method == "users.add_oauth_account":
                new, earlier = outcome.value.oauth_accounts[-1].id, side.account_ids
            else:
                return
            if earlier and new <= max(earlier):
                raise self._divergence(
                    f"{op!r}: {side.name} handed out id {new} after {max(earlier)}", []
                )

    def _learn(self, op: Op, outcomes: list[Outcome]) -> None:
        """Remember the objects both stores returned, and pair the ids they generated."""
        if any(o.error is not None for o in outcomes):
            return
        values = [o.value for o in outcomes]
        if op.method == "users.create":
            number = len(self.users)
            for side, user in zip(self.sides, values, strict=True):
                side.user_ids[user.id] = number
            self.users.append(values)
        elif op.method in ("users.get", "users.get_by_email", "users.get_by_oauth_account"):
            if all(v is not None for v in values):
                self._hold(values)
        elif op.method.startswith("users.") and op.method != "users.delete":
            self._hold(values)
        elif op.method == "tokens.create":
            self.tokens.append(values)
        if op.method == "users.add_oauth_account":
            for side, user in zip(self.sides, values, strict=True):
                fresh = [a for a in user.oauth_accounts if a.id not in side.account_ids]
                if len(fresh) == 1:
                    side.account_ids[fresh[0].id] = len(side.account_ids)

    def _hold(self, values: list[Any]) -> None:
        """Make the returned users the objects later operations pass."""
        number = self.sides[0].user_ids.get(values[0].id)
        if number is not None and self.sides[1].user_ids.get(values[1].id) == number:
            self.users[number] = list(values)

    async def transaction(self, ops: list[Op], rollback: bool) -> None:
        """Run ``ops`` inside a transaction on each store; end it with a rollback or a commit."""
        self.log.append(f"transaction(rollback={rollback}):")
        blocks = []
        for side in self.sides:
            assert side.session is not None
            block = side.session.transaction()
            await block.__aenter__()
            blocks.append(block)
        for op in ops:
            await self.apply(op)
        self.log.append("end of transaction")
        ends = []
        for block in blocks:
            try:
                if rollback:
                    await block.__aexit__(_Rollback, _Rollback(), None)
                else:
                    await block.__aexit__(None, None, None)
                ends.append(Outcome())
            except Exception as error:
                ends.append(Outcome(error=error))
        seen = [self._normal(i, o) for i, o in enumerate(ends)]
        self.stats[("transaction", "rolled back" if rollback else "committed")] += 1
        if seen[0] != seen[1]:
            raise self._divergence("the end of the transaction differed", seen)
        if rollback:
            # Objects created in the rolled-back block stay held: later steps pass them
            # back, and both stores must answer alike (their ids are never handed out
            # again, so they name no user on either side).
            await self.refetch()

    async def refetch(self) -> None:
        """Replace every held user by a fresh lookup (after a rollback left copies stale)."""
        for number, pair in enumerate(self.users):
            found = []
            for i, side in enumerate(self.sides):
                assert side.session is not None
                try:
                    found.append(await side.session.users.get(pair[i].id))
                except Exception as error:
                    raise Divergence(f"get after a rollback raised on {side.name}") from error
            if (found[0] is None) != (found[1] is None):
                raise self._divergence(f"user {number} after the rollback", found)
            if found[0] is not None:
                self.users[number] = found

    # -- state ---------------------------------------------------------------------------

    async def check_state(self) -> None:
        """Read every user (with accounts) and token back from each store; require equality."""
        states = [await self._state(i) for i in range(2)]
        if states[0] != states[1]:
            raise self._divergence("the stored state differs", states)

    async def _state(self, i: int) -> Any:
        side = self.sides[i]
        async with side.store.session() as session:
            users, after = [], None
            while page := await session.list_users(after=after, limit=50):
                users.extend(page)
                after = page[-1].id
            normal_users = sorted((self._user_value(side, u) for u in users), key=repr)
            tokens = await self._stored_tokens(side, session)
        return {"users": normal_users, "tokens": sorted(tokens, key=repr)}

    async def _stored_tokens(self, side: Side, session: StoreSession) -> list[Any]:
        """(token as stored, owner, created_at) of every token in the store."""
        if isinstance(side.store, MemoryStore):
            rows = [(k, r["user_id"], r["created_at"]) for k, r in side.store._state.tokens.items()]
        else:
            assert isinstance(side.store, SQLAlchemyStore)
            model: Any = side.store.models.access_token
            result = await session.session.execute(  # type: ignore[attr-defined]
                select(model.token, model.user_id, model.created_at)
            )
            rows = [tuple(r) for r in result]
        return [(t, side.logical_user(u), _when(c)) for t, u, c in rows]

    # -- normal forms --------------------------------------------------------------------

    def _normal(self, i: int, outcome: Outcome) -> Any:
        if outcome.error is not None:
            error = outcome.error
            if isinstance(error, InvalidUserData):
                return ("raised", "InvalidUserData", error.field, error.reason)
            return ("raised", type(error).__name__)
        return ("returned", self._value(self.sides[i], outcome.value))

    def _value(self, side: Side, value: Any) -> Any:
        if value is None or isinstance(value, int):
            return value
        if hasattr(value, "hashed_password"):
            return self._user_value(side, value)
        if hasattr(value, "created_at"):
            return ("token", value.token, side.logical_user(value.user_id), _when(value.created_at))
        return ("object", type(value).__name__)

    def _user_value(self, side: Side, user: Any) -> Any:
        accounts = [
            (
                ("account", side.account_ids.get(a.id, a.id)),
                a.oauth_name,
                a.account_id,
                a.account_email,
                a.access_token,
                a.expires_at,
                a.refresh_token,
            )
            for a in user.oauth_accounts
        ]
        return (
            side.logical_user(user.id),
            _typed(user.id),
            user.email,
            user.hashed_password,
            user.is_active,
            user.is_superuser,
            user.is_verified,
            accounts,
        )

    def _divergence(self, what: str, seen: list[Any]) -> Divergence:
        steps = "\n    ".join(self.log)
        shown = "".join(f"\n  {s.name}: {v!r}" for s, v in zip(self.sides, seen, strict=False))
        return Divergence(f"{what}{shown}\n  steps:\n    {steps}")


def _describe(error: BaseException) -> str:
    if isinstance(error, InvalidUserData):
        return f"InvalidUserData({error.field})"
    return type(error).__name__


def _typed(value: Any) -> str:
    return type(value).__name__


def _when(value: Any) -> Any:
    """A datetime as (naive UTC, offset, is UTC); a wall-clock default as ``"now"``."""
    if not isinstance(value, dt.datetime):
        return ("not a datetime", repr(value))
    if value.tzinfo is None:
        return ("naive", value.isoformat())
    if abs((value - dt.datetime.now(dt.UTC)).total_seconds()) < 600:
        return ("now", value.utcoffset())
    return (value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(), value.utcoffset())
