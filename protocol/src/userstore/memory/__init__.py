"""The in-memory reference adapter: the whole contract, no database.

Every other adapter is held to what this one does (the conformance suite runs on
it first).  State lives in plain dicts guarded by one ``asyncio.Lock``; each
method checks its input, then reads or mutates the state without awaiting in
between, so concurrent tasks see the same outcomes a database's unique indexes
would give.  A transaction works on a private copy of the state and holds the
write lock until it ends, so it is all or nothing.  Returned objects are copies:
changing them changes nothing stored until they are passed back to a method.
"""

from ._objects import MemoryAccessToken, MemoryOAuthAccount, MemoryUser
from ._store import MemoryAdapter, MemoryStore
from ._store import MemorySession as MemorySession
from ._tokens import MemoryAccessTokenDatabase
from ._users import MemoryUserDatabase

__all__ = [
    "MemoryAccessToken",
    "MemoryAccessTokenDatabase",
    "MemoryAdapter",
    "MemoryOAuthAccount",
    "MemoryStore",
    "MemoryUser",
    "MemoryUserDatabase",
]

# The classes are userstore.memory's, wherever their code lives (reprs, pickles, docs).
for _name in (*__all__, "MemorySession"):
    globals()[_name].__module__ = __name__
del _name
