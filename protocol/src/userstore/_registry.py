"""Adapters by URL scheme: the ``userstore.adapters`` entry-point group and ``connect()``.

An entry point's name is the URL scheme it serves (``sqlite``, ``postgresql``,
``memory``...) and its value the adapter class, so a scheme is resolved without
importing any adapter; only the one chosen is loaded.  Built-in adapters register
through the same group as third-party ones.  :func:`register` adds one in-process.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

from ._errors import AdapterNotFound
from ._store import Store

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "available_adapters",
    "connect",
    "default_url",
    "register",
]

ENTRY_POINT_GROUP = "userstore.adapters"

_SCHEME_ALIASES = {"postgres": "postgresql"}
"""Other spellings of a scheme: ``postgres://`` (what many hosts hand out) is ``postgresql://``."""

_registered: dict[str, type[Adapter]] = {}
_loaded: dict[str, type[Adapter]] = {}


class Adapter(Protocol):
    """What an entry point of ``userstore.adapters`` names.

    Optional: a class attribute ``default_url: ClassVar[str]``, the store tools
    use when they are given no URL (the ``userstore`` command, when neither
    ``--url`` nor ``$USERSTORE_URL``/``$DATABASE_URL`` names one; see
    :func:`default_url`).  An adapter without it offers no default.
    """

    schemes: ClassVar[tuple[str, ...]]
    """The URL schemes served, without ``+driver`` (``("postgresql",)``, say)."""

    @classmethod
    def connect(cls, url: str, **options: Any) -> Store:
        """Return a store for ``url``; options are adapter-specific."""
        ...


_KNOWN_PACKAGES = dict.fromkeys(
    ("sqlite", "postgresql", "mysql", "mariadb"), "userstore-sqlalchemy"
)
"""Schemes the project's own adapters serve, and the distribution to install for each."""


def url_scheme(url: str) -> str:
    """Return the scheme of ``url`` without any ``+driver`` suffix, lower-cased.

    An alias is resolved (``postgres`` gives ``postgresql``).
    """
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise AdapterNotFound(f"not a store URL (expected scheme://...): {url.split('@')[-1]!r}")
    name = scheme.partition("+")[0].lower()
    return _SCHEME_ALIASES.get(name, name)


def register(scheme: str, adapter: type[Adapter]) -> None:
    """Serve ``scheme`` with ``adapter`` in this process, ahead of any entry point."""
    _registered[scheme.lower()] = adapter


def available_adapters() -> dict[str, str]:
    """Map every scheme served to its adapter (``module:Class``), loading none of them."""
    found = {ep.name.lower(): ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    found.update({s: f"{a.__module__}:{a.__qualname__}" for s, a in _registered.items()})
    return dict(sorted(found.items()))


def load_adapter(scheme: str) -> type[Adapter]:
    """Return the adapter class for ``scheme``, importing it on first use."""
    if scheme in _registered:
        return _registered[scheme]
    if scheme in _loaded:
        return _loaded[scheme]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name.lower() == scheme:
            adapter: type[Adapter] = ep.load()
            if scheme not in adapter.schemes:
                raise AdapterNotFound(
                    f"entry point {ep.name!r} names {ep.value}, which does not serve {scheme!r}"
                )
            _loaded[scheme] = adapter
            return adapter
    installed = ", ".join(f"{s} ({v})" for s, v in available_adapters().items()) or "none"
    hint = _KNOWN_PACKAGES.get(scheme)
    install = f" (the {hint} package serves it: install it)" if hint else ""
    raise AdapterNotFound(f"no adapter serves {scheme!r}{install}; installed: {installed}")


def connect(url: str, **options: Any) -> Store:
    """Return a store for ``url``, chosen by its scheme.

    ``memory://`` is always there; ``sqlite://``, ``postgresql://`` (or
    ``postgres://``), ``mysql://`` and ``mariadb://`` (with any ``+driver``) come
    with userstore-sqlalchemy.
    Common options: ``id_type="uuid" | "int"`` and ``token_digest=True``;
    ``models=`` hands the application's own models to an adapter that has models
    (SQLAlchemy: the declarative base; see :class:`~userstore.Store`).
    Raises :class:`~userstore.AdapterNotFound` listing the installed adapters if
    no adapter serves the scheme, and :class:`~userstore.InvalidURL` naming the
    part that is wrong for a URL or option the adapter cannot use.
    """
    return load_adapter(url_scheme(url)).connect(url, **options)


def default_url() -> str | None:
    """The ``default_url`` of the first installed adapter that declares one, or None.

    Adapters are tried in the order of :func:`available_adapters` (by scheme);
    each one tried is imported.
    """
    for scheme in available_adapters():
        found: object = getattr(load_adapter(scheme), "default_url", None)
        if isinstance(found, str) and found:
            return found
    return None
