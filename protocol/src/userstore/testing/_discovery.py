"""Finding the conformance harness of the adapter that serves a URL."""

from __future__ import annotations

from typing import Any

from .._errors import AdapterNotFound
from .._registry import load_adapter, url_scheme
from ._harness import Harness

__all__ = ["harness_for"]


def harness_for(url: str) -> Harness:
    """Return the conformance harness for the store at ``url``.

    Raises :class:`~userstore.AdapterNotFound` when no adapter serves the URL's
    scheme, or when its adapter supplies no harness.
    """
    scheme = url_scheme(url)
    adapter: Any = load_adapter(scheme)
    make = getattr(adapter, "harness", None)
    if make is None:
        raise AdapterNotFound(f"the adapter for {scheme!r} provides no conformance harness")
    harness: Harness = make(url)
    return harness
