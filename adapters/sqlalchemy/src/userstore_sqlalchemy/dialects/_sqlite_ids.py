"""Integer ids SQLite never hands out again: the shim's savepoint and counter keeping.

SQLite's ``sqlite_sequence`` counters are transactional: a rollback would let
the next insert get a rolled-back id.  Every writing transaction begins with
the shim's savepoint; a rollback of one that inserted rolls back to it, raises
the counters back to what was handed out, and commits only that (the SQLite
shim's module docstring tells the whole story).  :func:`keep_ids` installs it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

__all__ = ["is_closed", "keep_ids"]


def _in_transaction(driver: Any) -> bool:
    """Whether the driver connection (aiosqlite or sqlite3) is in a transaction; not if closed."""
    try:
        return bool(driver.in_transaction)
    except (ValueError, sqlite3.ProgrammingError):  # aiosqlite's, sqlite3's "closed"
        return False


def is_closed(driver: Any) -> bool:
    """Whether the aiosqlite (or sqlite3) connection ``driver`` has been closed."""
    try:
        driver.in_transaction  # noqa: B018  # raises once the connection is closed
    except (ValueError, sqlite3.ProgrammingError):
        return True
    return False


_IDS = "userstore.sqlite_ids"

_BASE = "userstore_ids"  # the savepoint every writing transaction begins with

_WRITES = frozenset({"INSERT", "REPLACE", "UPDATE", "DELETE", "SAVEPOINT"})

_INSERTS = frozenset({"INSERT", "REPLACE"})


@dataclasses.dataclass
class _Transaction:
    """What the shim knows of the transaction open on one connection."""

    based: bool = False
    """The transaction began with the shim's savepoint."""

    inserted: bool = False
    """An INSERT ran in it (only then can ids have been handed out)."""

    handed_out: dict[str, int] = dataclasses.field(default_factory=dict)
    """Counters as rolled-back savepoints left them, not yet raised again."""


def _verb(statement: str) -> str:
    head = statement.lstrip()[:10].split(None, 1)
    return head[0].upper() if head else ""


def _driver(connection: Connection) -> Any:
    """The open driver connection, or ``None``."""
    if connection.closed or connection.invalidated:
        return None
    driver = connection.connection.driver_connection
    if driver is None or is_closed(driver):
        return None
    return driver


def _transaction(connection: Connection) -> _Transaction:
    state: _Transaction | None = connection.info.get(_IDS)
    if state is None:
        state = connection.info[_IDS] = _Transaction()
    return state


def _known(connection: Connection) -> _Transaction | None:
    """The connection's transaction state, if it has one and is still usable."""
    if connection.closed or connection.invalidated:
        return None  # (``info`` is out of reach then)
    state: _Transaction | None = connection.info.get(_IDS)
    return state


def _run(connection: Connection, statement: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement, parameters)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def _begin_with_savepoint(connection: Connection, state: _Transaction) -> None:
    _run(connection, f"SAVEPOINT {_BASE}")
    state.based, state.inserted, state.handed_out = True, False, {}


def _before_write(connection: Connection, cursor: Any, statement: str, *args: Any) -> None:
    # the driver opens a transaction for these (its legacy mode); open it first, with
    # the savepoint a rollback returns to; and before an insert, raise the counters
    # a rolled-back savepoint of this transaction lowered
    verb = _verb(statement)
    if verb not in _WRITES:
        return
    driver = _driver(connection)
    if driver is None:
        return
    state = _transaction(connection)
    if not _in_transaction(driver):
        if driver.isolation_level is None:
            return  # autocommit: the driver opens no transaction, the statement commits
        _begin_with_savepoint(connection, state)
    elif verb in _INSERTS and state.handed_out:
        _raise_counters(connection, state.handed_out)
        state.handed_out = {}
    if verb in _INSERTS:
        state.inserted = True


def _after_begin(connection: Connection, cursor: Any, statement: str, *args: Any) -> None:
    # a transaction opened with an explicit BEGIN (the application's, or ours before a
    # SAVEPOINT) gets the savepoint at once, before anything is written
    if _verb(statement) != "BEGIN":
        return
    driver = _driver(connection)
    if driver is not None and _in_transaction(driver):
        _begin_with_savepoint(connection, _transaction(connection))


def _counters(connection: Connection) -> dict[str, int]:
    """``sqlite_sequence`` as this connection sees it (empty if no table has AUTOINCREMENT)."""
    try:
        rows = _run(connection, "SELECT name, seq FROM sqlite_sequence")
    except sqlite3.OperationalError:  # no such table
        return {}
    return {str(name): int(seq) for name, seq in rows}


def _highest(*counters: dict[str, int]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for each in counters:
        for name, seq in each.items():
            merged[name] = max(seq, merged.get(name, seq))
    return merged


def _raise_counters(connection: Connection, handed_out: dict[str, int]) -> bool:
    """Raise ``sqlite_sequence`` to ``handed_out`` where it is lower; say if anything changed."""
    now = _counters(connection)
    changed = False
    for name, seq in handed_out.items():
        if name not in now:
            _run(connection, "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq))
        elif now[name] < seq:
            _run(connection, "UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (seq, name))
        else:
            continue
        changed = True
    return changed


def _note_ids_of_savepoint(connection: Connection, name: str, context: Any) -> None:
    # runs just before ROLLBACK TO: read what the savepoint handed out
    state = _known(connection)
    if state is None or not state.inserted or _driver(connection) is None:
        return
    try:
        state.handed_out = _highest(state.handed_out, _counters(connection))
    except sqlite3.Error:
        return  # the ROLLBACK TO itself reports a broken connection


def _raise_counters_before_commit(connection: Connection) -> None:
    state = _known(connection)
    if state is None or not state.handed_out:
        return
    handed_out, state.handed_out = state.handed_out, {}
    if _driver(connection) is None:
        return  # the COMMIT reports the lost connection
    with contextlib.suppress(sqlite3.Error):  # a broken connection: the COMMIT reports it
        _raise_counters(connection, handed_out)


def _keep_ids_of_rollback(connection: Connection) -> None:
    # runs just before the driver's ROLLBACK: if the transaction inserted, undo its work
    # by returning to the savepoint it began with, raise the counters back to what it
    # handed out and commit that alone; the driver's ROLLBACK then has nothing to do
    state = _known(connection)
    if state is None:
        return
    based, inserted, handed_out = state.based, state.inserted, state.handed_out
    state.based, state.inserted, state.handed_out = False, False, {}
    driver = _driver(connection) if based and inserted else None
    if driver is None or not _in_transaction(driver):
        return
    try:
        handed_out = _highest(handed_out, _counters(connection))
        _run(connection, f"ROLLBACK TO {_BASE}")
        if _raise_counters(connection, handed_out):
            _run(connection, "COMMIT")
    except sqlite3.Error:
        return  # the driver's ROLLBACK follows, as it would have without the shim


def keep_ids(engine: Engine) -> None:
    """Have ``engine``'s transactions keep handed-out integer ids across rollbacks."""
    event.listen(engine, "before_cursor_execute", _before_write)
    event.listen(engine, "after_cursor_execute", _after_begin)
    event.listen(engine, "rollback_savepoint", _note_ids_of_savepoint)
    event.listen(engine, "commit", _raise_counters_before_commit)
    event.listen(engine, "rollback", _keep_ids_of_rollback)
