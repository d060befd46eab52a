"""One key written on several nodes of a Galera cluster at once, and nodes killed under load.

Galera checks unique keys when a transaction's write set is certified, at
COMMIT, not when the INSERT runs: two nodes each accept an INSERT of the same
email, and one of the COMMITs is refused (a certification failure, reported as
a deadlock, 1213).  The contract asks for what one server gives: one winner,
every other writer ``UserAlreadyExists`` (``OAuthAccountAlreadyLinked``,
``AccessTokenAlreadyExists``), no other error.  Through ``userstore.connect()``
and through the drop-in ``SQLAlchemyUserDatabase`` on a plain engine.

Rounds: ``USERSTORE_SCALEOUT_ROUNDS`` (default 10).  What is stored is read on
node 1 with ``wsrep_sync_wait=1`` (a causal read: every write the cluster
committed before it is applied there first).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

import userstore
from userstore_sqlalchemy import SQLAlchemyUserDatabase

from ..dropin.client import case_variants
from ..fastapi_users.app import Base, OAuthAccount, User
from .servers import GaleraCluster, GaleraNode

pytestmark = pytest.mark.backend("galera")

ROUNDS = int(os.environ.get("USERSTORE_SCALEOUT_ROUNDS", "10"))
CROWD = 50
CROWD_ROUNDS = 3
WRITERS = 8


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def _kind(result: Any, expected: type[BaseException]) -> str:
    """``stored``, ``taken`` (the contract's duplicate error), or the error's class and text."""
    if not isinstance(result, BaseException):
        return "stored"
    if isinstance(result, expected):
        return "taken"
    return f"{type(result).__name__}: {str(result).splitlines()[0][:120]}"


def _database_url(node: GaleraNode, database: str) -> str:
    return make_url(node.url).set(database=database).render_as_string(hide_password=False)


async def _admin(node: GaleraNode, statement: str) -> None:
    engine = create_async_engine(node.url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _database(cluster: GaleraCluster) -> AsyncIterator[list[str]]:
    """A new database (made on node 1, so on every node): its URL on each node."""
    name = f"t_{secrets.token_hex(4)}"
    await _admin(cluster.nodes[0], f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield [_database_url(node, name) for node in cluster.nodes]
    finally:
        running = [node for node in cluster.nodes if node.running]
        if running:
            with contextlib.suppress(Exception):  # a cluster without quorum
                await _admin(running[0], f"DROP DATABASE IF EXISTS {name}")


@contextlib.asynccontextmanager
async def _stores(
    cluster: GaleraCluster, **options: Any
) -> AsyncIterator[tuple[list[userstore.Store], Counter[str]]]:
    """A ``userstore.connect()`` store per node, on a new database, schema made on node 1.

    With them the count of the driver errors they saw (see :func:`_driver_errors`).
    """
    async with _database(cluster) as urls:
        stores = [userstore.connect(url, **options) for url in urls]
        try:
            await stores[0].create_schema()
            # DDL runs on every node in total order, but node 1's answer does not wait for
            # the others: a store there reads the tables as missing (SchemaOutdated) until
            for store in stores:
                await _causal_count(_url(store), _table(store, "access_token"))
            with _driver_errors(_engines(stores)) as errors:
                yield stores, errors
        finally:
            for store in stores:
                await store.close()


async def _causal_count(url: str, table: Any, **where: Any) -> int:
    """Rows of ``table`` matching ``where`` at ``url``, after every write committed before."""
    statement = select(func.count()).select_from(table)
    for column, value in where.items():
        statement = statement.where(table.c[column] == value)
    return int((await _causal_read(url, statement))[0][0])


async def _causal_read(url: str, statement: Any) -> list[Any]:
    """The rows of ``statement`` at ``url``, read after every write committed before it."""
    engine = create_async_engine(url)
    # the survivors may take more than one view change to form a primary component
    # again when a loaded machine delays their keepalives past evs.suspect_timeout;
    # and Galera's EVS can leave every survivor of an ungraceful kill non-Primary for
    # good (MDEV-38920): after 20 s the node read from is bootstrapped, the manual
    # step Galera documents for that state.  Every write the cluster committed
    # reached it, a member of the last primary component, so the read still sees them.
    began = time.monotonic()
    bootstrapped = False
    try:
        while True:
            try:
                async with engine.connect() as connection:
                    await connection.exec_driver_sql("SET SESSION wsrep_sync_wait = 1")
                    return list(await connection.execute(statement))
            except DBAPIError as error:
                # 1047: the node is between views (a node was just killed); it will be back
                waited = time.monotonic() - began
                if _code(error) != 1047 or waited > 60:
                    raise
                if waited > 20 and not bootstrapped:
                    bootstrapped = await _bootstrap(engine)
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def _bootstrap(engine: Any) -> bool:
    """Make the non-Primary component of ``engine``'s node a primary one; whether it took."""
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(
                "SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'"
            )
    except DBAPIError:
        return False
    print("the survivors stayed non-Primary for 20 s: node bootstrapped")
    return True


def _code(error: DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _url(store: userstore.Store) -> str:
    """The URL the store is on (node and database), to read what it stored causally."""
    return store.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]


def _table(store: userstore.Store, kind: str) -> Any:
    return getattr(store.models, kind).__table__  # type: ignore[attr-defined]


async def _create_user(store: userstore.Store, email: str) -> Any:
    async with store.session() as s:
        return await s.users.create({"email": email, "hashed_password": "h"})


async def _visible_everywhere(stores: list[userstore.Store], user_id: Any) -> None:
    """Wait until every node has applied the user's row (Galera applies asynchronously)."""
    for store in stores:
        for _ in range(100):
            async with store.session() as s:
                if await s.users.get(user_id) is not None:
                    break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(f"user {user_id} not replicated in 2 s")


@contextlib.contextmanager
def _driver_errors(engines: list[AsyncEngine]) -> Iterator[Counter[str]]:
    """Count the driver errors the engines see, by MySQL code and where: at COMMIT or a statement.

    Printed by the tests (``-s``): a certification failure is 1213 at COMMIT.
    """
    seen: Counter[str] = Counter()

    def record(context: Any) -> None:
        orig = getattr(context.original_exception, "args", ())
        code = orig[0] if orig and isinstance(orig[0], int) else type(context.original_exception)
        statement = (context.statement or "COMMIT").split()[0].upper()
        seen[f"{code} at {statement}"] += 1

    for engine in engines:
        event.listen(engine.sync_engine, "handle_error", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "handle_error", record)


def _engines(stores: list[userstore.Store]) -> list[AsyncEngine]:
    return [store.engine for store in stores]  # type: ignore[attr-defined]


def _verdict(rounds: list[tuple[list[str], int]]) -> tuple[Counter[str], list[str]]:
    """The outcomes over all rounds, and what each bad round was (outcomes, rows stored)."""
    outcomes: Counter[str] = Counter()
    bad = []
    for n, (kinds, stored) in enumerate(rounds):
        outcomes.update(kinds)
        if kinds.count("stored") != 1 or stored != 1 or set(kinds) - {"stored", "taken"}:
            bad.append(f"round {n}: {sorted(Counter(kinds).items())}, {stored} stored")
    return outcomes, bad


def _assert_one_winner(
    rounds: list[tuple[list[str], int]], what: str, errors: Counter[str]
) -> None:
    outcomes, bad = _verdict(rounds)
    print(f"{what}, {len(rounds)} rounds: {dict(outcomes)}; driver errors {dict(errors)}")
    assert not bad, (
        f"{what}: {len(bad)} of {len(rounds)} rounds did not end with one winner and the "
        f"rest taken; all outcomes: {dict(outcomes)}; driver errors {dict(errors)}; "
        f"first: {bad[:3]}"
    )


# ---------------------------------------------------------------- userstore.connect()


async def test_same_email_on_two_nodes_at_once(galera: GaleraCluster) -> None:
    async with _stores(galera) as (stores, errors):
        users = _table(stores[0], "user")
        rounds = []
        for _ in range(ROUNDS):
            email = _email("race")
            results = await asyncio.gather(
                _create_user(stores[0], email),
                _create_user(stores[1], email.upper()),
                return_exceptions=True,
            )
            kinds = [_kind(r, userstore.UserAlreadyExists) for r in results]
            key = userstore.email_key(email)
            rounds.append((kinds, await _causal_count(_url(stores[0]), users, email_key=key)))
        _assert_one_winner(rounds, "2 writers on 2 nodes", errors)


async def test_fifty_callers_over_three_nodes(galera: GaleraCluster) -> None:
    async with _stores(galera) as (stores, errors):
        users = _table(stores[0], "user")
        rounds = []
        for _ in range(CROWD_ROUNDS):
            email = _email("crowd")
            spellings = case_variants(email, CROWD)
            results = await asyncio.gather(
                *(_create_user(stores[i % 3], e) for i, e in enumerate(spellings)),
                return_exceptions=True,
            )
            kinds = [_kind(r, userstore.UserAlreadyExists) for r in results]
            key = userstore.email_key(email)
            rounds.append((kinds, await _causal_count(_url(stores[0]), users, email_key=key)))
        _assert_one_winner(rounds, f"{CROWD} writers on 3 nodes", errors)


async def test_one_oauth_account_linked_on_three_nodes_at_once(galera: GaleraCluster) -> None:
    async with _stores(galera) as (stores, errors):
        accounts = _table(stores[0], "oauth_account")
        rounds = []
        for _ in range(ROUNDS):
            owners = [await _create_user(stores[i], _email(f"owner{i}")) for i in range(3)]
            for owner in owners:
                await _visible_everywhere(stores, owner.id)
            account_id = uuid.uuid4().hex

            async def link(i: int, account_id: str = account_id, owners: Any = owners) -> Any:
                async with stores[i].session() as s:
                    owner = await s.users.get(owners[i].id)
                    account = {
                        "oauth_name": "github",
                        "account_id": account_id,
                        "account_email": "a@x.io",
                    }
                    return await s.users.add_oauth_account(owner, {**account, "access_token": "t"})

            results = await asyncio.gather(*(link(i) for i in range(3)), return_exceptions=True)
            kinds = [_kind(r, userstore.OAuthAccountAlreadyLinked) for r in results]
            stored = await _causal_count(_url(stores[0]), accounts, account_id=account_id)
            rounds.append((kinds, stored))
        _assert_one_winner(rounds, "3 links on 3 nodes", errors)


async def test_same_access_token_on_three_nodes_at_once(galera: GaleraCluster) -> None:
    async with _stores(galera) as (stores, errors):
        tokens = _table(stores[0], "access_token")
        owner = await _create_user(stores[0], _email("owner"))
        await _visible_everywhere(stores, owner.id)
        rounds = []
        for _ in range(ROUNDS):
            token = secrets.token_urlsafe(32)

            async def create(i: int, token: str = token) -> Any:
                async with stores[i].session() as s:
                    return await s.tokens.create({"token": token, "user_id": owner.id})

            results = await asyncio.gather(*(create(i) for i in range(3)), return_exceptions=True)
            kinds = [_kind(r, userstore.AccessTokenAlreadyExists) for r in results]
            rounds.append((kinds, await _causal_count(_url(stores[0]), tokens, token=token)))
        _assert_one_winner(rounds, "3 tokens on 3 nodes", errors)


async def test_integer_ids_are_what_the_cluster_hands_out(galera: GaleraCluster) -> None:
    """Galera sets auto_increment_increment to the cluster size: ids are 1, 4, 7... per node."""
    async with _stores(galera, id_type="int") as (stores, _):
        one_by_one = [await _create_user(stores[i % 3], _email(f"seq{i}")) for i in range(9)]
        at_once = await asyncio.gather(
            *(_create_user(stores[i % 3], _email(f"par{i}")) for i in range(30))
        )
        created = [*one_by_one, *at_once]
        ids = [user.id for user in created]
        assert all(isinstance(i, int) for i in ids)
        assert len(set(ids)) == len(ids), ids
        # each node hands out its own residue modulo the cluster size: 1, 4, 7... on one
        by_node = [{u.id % 3 for u in created[i::3]} for i in range(3)]
        assert all(len(r) == 1 for r in by_node), (
            f"ids per node {[created[i::3] for i in range(3)]}"
        )
        assert len(set().union(*by_node)) == 3, f"residues per node {by_node}: ids {sorted(ids)}"
        node1 = sorted(u.id for u in created[0::3])
        assert {b - a for a, b in itertools.pairwise(node1)} == {3}, node1
        for user in created:  # every id returned is the stored row's, on every node
            await _visible_everywhere(stores, user.id)
            async with stores[2].session() as s:
                found = await s.users.get_by_email(user.email)
                assert found is not None
                assert found.id == user.id


# ---------------------------------------------------------------- the drop-in face


@contextlib.asynccontextmanager
async def _dropin_engines(
    cluster: GaleraCluster,
) -> AsyncIterator[tuple[list[AsyncEngine], Counter[str]]]:
    """A plain ``create_async_engine()`` per node (FastAPI Users' tutorial), tables made."""
    async with _database(cluster) as urls:
        engines = [create_async_engine(url) for url in urls]
        try:
            async with engines[0].begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            for engine in engines:  # applied on every node (see _stores)
                await _causal_count(
                    engine.url.render_as_string(hide_password=False), User.__table__
                )
            with _driver_errors(engines) as errors:
                yield engines, errors
        finally:
            for engine in engines:
                await engine.dispose()


async def _dropin(engine: AsyncEngine, write: Callable[[Any], Awaitable[Any]]) -> Any:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        return await write(SQLAlchemyUserDatabase(session, User, OAuthAccount))


async def test_dropin_same_email_on_two_nodes_at_once(galera: GaleraCluster) -> None:
    async with _dropin_engines(galera) as (engines, errors):
        rounds = []
        for _ in range(ROUNDS):
            email = _email("dropin")
            spellings = [email, email.upper()]
            results = await asyncio.gather(
                *(
                    _dropin(
                        engines[i], lambda db, e=e: db.create({"email": e, "hashed_password": "h"})
                    )
                    for i, e in enumerate(spellings)
                ),
                return_exceptions=True,
            )
            kinds = [_kind(r, userstore.UserAlreadyExists) for r in results]
            key = userstore.email_key(email)
            stored = await _causal_count(
                engines[0].url.render_as_string(hide_password=False), User.__table__, email_key=key
            )
            rounds.append((kinds, stored))
        _assert_one_winner(rounds, "2 drop-in writers on 2 nodes", errors)


# ---------------------------------------------------------------- nodes killed


async def test_node_killed_under_writers(fresh_galera: GaleraCluster) -> None:
    """SIGKILL node 3 while ``WRITERS`` callers create users on it.

    Every answer must match what the two survivors store: a returned user is
    stored; ``StoreUnavailable`` means not stored, unless it is the "outcome
    unknown" subclass (``userstore.CommitOutcomeUnknown``), which may be either.
    """
    async with _stores(fresh_galera) as (stores, errors):
        victim = stores[2]
        users = _table(victim, "user")
        answers: list[tuple[str, Any]] = []
        stop = asyncio.Event()

        async def writer(w: int) -> None:
            for n in itertools.count():
                email = f"w{w}-{n}@example.com"
                try:
                    answers.append((email, await _create_user(victim, email)))
                except Exception as error:
                    answers.append((email, error))
                    return  # its connection is gone: one answer after the kill is enough
                if stop.is_set():
                    return

        tasks = [asyncio.create_task(writer(w)) for w in range(WRITERS)]
        await asyncio.sleep(0.5)
        fresh_galera.nodes[2].kill()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)

        mismatches: Counter[str] = Counter()
        unexpected: Counter[str] = Counter()
        outcomes: Counter[str] = Counter()
        keys = [userstore.email_key(email) for email, _ in answers]
        rows = await _causal_read(
            _url(stores[0]), select(users.c.email_key).where(users.c.email_key.in_(keys))
        )
        stored_keys = {row[0] for row in rows}
        for email, answer in answers:
            stored = int(userstore.email_key(email) in stored_keys)
            if not isinstance(answer, BaseException):
                outcomes["returned"] += 1
                if stored != 1:
                    mismatches["returned a user, not stored"] += 1
            elif isinstance(answer, userstore.CommitOutcomeUnknown):
                outcomes["CommitOutcomeUnknown"] += 1
            elif isinstance(answer, userstore.StoreUnavailable):
                outcomes["StoreUnavailable"] += 1
                if stored:
                    mismatches["StoreUnavailable, yet stored"] += 1
            else:
                outcomes[type(answer).__name__] += 1
                unexpected[f"{type(answer).__name__}: {answer}"[:160]] += 1
        figures = f"{len(answers)} calls: {dict(outcomes)}; mismatches {dict(mismatches)}"
        figures += f"; driver errors {dict(errors)}"
        print(figures)
        assert not unexpected, f"errors other than StoreUnavailable: {dict(unexpected)}; {figures}"
        assert not mismatches, figures


async def test_quorum_lost(fresh_galera: GaleraCluster) -> None:
    """With 2 of 3 nodes killed the survivor refuses reads and writes: ``StoreUnavailable``."""
    async with _stores(fresh_galera) as (stores, errors):
        survivor = stores[0]
        alice = await _create_user(survivor, _email("alice"))
        fresh_galera.nodes[1].kill()
        fresh_galera.nodes[2].kill()
        answers: list[BaseException | None] = []
        # the first write waits for the dead nodes to be suspected, then fails at COMMIT
        began = time.monotonic()
        try:
            await _create_user(survivor, _email("during"))
        except Exception as error:
            answers.append(error)
        else:
            answers.append(None)
        # by now the survivor knows it is a non-Primary component
        async with survivor.session() as s:
            for call in (
                lambda: s.users.get(alice.id),
                lambda: s.users.create({"email": _email("after"), "hashed_password": "h"}),
            ):
                try:
                    await call()
                except Exception as error:
                    answers.append(error)
                else:
                    answers.append(None)
        seen = [
            f"{type(e).__name__}: {str(e).splitlines()[0][:100]}" if e else "answered"
            for e in answers
        ]
        took = time.monotonic() - began
        print(f"quorum lost: {seen} in {took:.1f} s; driver errors {dict(errors)}")
        assert all(isinstance(e, userstore.StoreUnavailable) for e in answers), (seen, took)
