"""Finding the conformance harness for a URL: the ``userstore.testing`` entry-point group.

An adapter distribution that wants ``userstore check`` to run the suite on its
stores declares, beside its ``userstore.adapters`` entry points, one entry point
per URL scheme in this group, naming a callable that takes the URL and returns a
:class:`~userstore.testing.Harness` (a harness class whose constructor takes the
URL will do)::

    [project.entry-points."userstore.testing"]
    myscheme = "my_adapter.testing:MyHarness"

The adapter's runtime modules never import their test support: only this lookup
does, when a conformance run asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from .._errors import AdapterNotFound
from .._registry import load_adapter, url_scheme
from ._harness import Harness

__all__ = ["TESTING_ENTRY_POINT_GROUP", "harness_for"]

TESTING_ENTRY_POINT_GROUP = "userstore.testing"


def harness_for(url: str) -> Harness:
    """Return the conformance harness for the store at ``url``.

    Raises :class:`~userstore.AdapterNotFound` when no adapter serves the URL's
    scheme, or when no installed distribution declares a harness for it.
    """
    scheme = url_scheme(url)
    load_adapter(scheme)  # no adapter at all: the error names the package to install
    for ep in entry_points(group=TESTING_ENTRY_POINT_GROUP):
        if ep.name.lower() == scheme:
            make: Callable[[str], Harness] = ep.load()
            harness = make(url)
            if not isinstance(harness, Harness):
                raise AdapterNotFound(
                    f"entry point {ep.name!r} of {TESTING_ENTRY_POINT_GROUP} names {ep.value}, "
                    f"which returned {type(harness).__name__}, not a userstore.testing.Harness"
                )
            return harness
    raise AdapterNotFound(
        f"no conformance harness for {scheme!r}: the adapter declares none in the "
        f"{TESTING_ENTRY_POINT_GROUP} entry-point group"
    )
