"""Finding the conformance harness of the adapter that serves a URL.

An adapter's distribution declares its harness as an entry point of the group
``userstore.testing``: the name is a URL scheme, the value a callable that takes
the store URL and returns a :class:`Harness` (``module:function`` or
``module:Class``).  The adapter itself never imports its test support.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from .._errors import AdapterNotFound
from .._registry import load_adapter, url_scheme
from ._harness import Harness

__all__ = ["HARNESS_ENTRY_POINT_GROUP", "harness_for"]

HARNESS_ENTRY_POINT_GROUP = "userstore.testing"
"""The entry-point group that maps a URL scheme to its conformance harness."""


def harness_for(url: str) -> Harness:
    """Return the conformance harness for the store at ``url``.

    The harness is the one the scheme's ``userstore.testing`` entry point names,
    called with ``url``.  Raises :class:`~userstore.AdapterNotFound` when no
    adapter serves the URL's scheme, or when none declares a harness for it.
    """
    scheme = url_scheme(url)
    for ep in entry_points(group=HARNESS_ENTRY_POINT_GROUP):
        if ep.name.lower() == scheme:
            harness: Harness = ep.load()(url)
            return harness
    load_adapter(scheme)  # no adapter at all: say that first
    raise AdapterNotFound(
        f"the adapter for {scheme!r} declares no conformance harness "
        f"(an entry point {scheme!r} in the group {HARNESS_ENTRY_POINT_GROUP!r})"
    )
