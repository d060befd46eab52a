"""Fixtures of the scale-out tests: a throwaway Galera cluster, primaries with a replica.

``galera``, ``pg_replica`` and ``mariadb_replica`` last the session; ``fresh_galera``
is a cluster of its own for a test that kills nodes (about 3 s to start once the first one made
the installed data directory).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .servers import (
    GaleraCluster,
    PrimaryReplica,
    galera_cluster,
    mariadb_primary_replica,
    postgres_primary_replica,
)


@pytest.fixture(scope="session")
def galera() -> Iterator[GaleraCluster]:
    """A 3-node Galera cluster shared by the session's tests; each uses databases of its own."""
    with galera_cluster() as cluster:
        yield cluster


@pytest.fixture
def fresh_galera() -> Iterator[GaleraCluster]:
    """A 3-node Galera cluster of this test alone (it may kill nodes)."""
    with galera_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_replica() -> Iterator[PrimaryReplica]:
    """A PostgreSQL primary and its hot standby, shared by the session's tests."""
    with postgres_primary_replica() as pair:
        yield pair


@pytest.fixture(scope="session")
def mariadb_replica() -> Iterator[PrimaryReplica]:
    """A MariaDB primary and its read-only GTID replica, shared by the session's tests."""
    with mariadb_primary_replica() as pair:
        yield pair
