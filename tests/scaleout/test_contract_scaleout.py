"""docs/contract.md on the scale-out setups: a Galera node, primaries routed with their replica.

The same conformance suite as tests/test_contract.py, unchanged: what holds on one
server holds on a node of a multi-primary cluster (whose integer ids step by the
cluster's size) and on a store whose reads go to a hot standby or a MariaDB replica.
"""

from __future__ import annotations

import pytest

from userstore.testing import Harness
from userstore.testing.pytest_plugin import ContractSuite
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .servers import GaleraCluster, PrimaryReplica


def _database(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/userstore"


@pytest.mark.backend("galera")
class TestContractOnAGaleraNode(ContractSuite):
    @pytest.fixture
    def userstore_harness(self, galera: GaleraCluster) -> Harness:
        return SQLAlchemyHarness(galera.nodes[1].url)


@pytest.mark.backend("postgres-replica")
class TestContractWithReadsOnAReplica(ContractSuite):
    @pytest.fixture
    def userstore_harness(self, pg_replica: PrimaryReplica) -> Harness:
        return SQLAlchemyHarness(
            _database(pg_replica.primary.url), replicas=[_database(pg_replica.replica.url)]
        )


@pytest.mark.backend("mariadb-replica")
class TestContractWithReadsOnAMariaDBReplica(ContractSuite):
    @pytest.fixture
    def userstore_harness(self, mariadb_replica: PrimaryReplica) -> Harness:
        pair = mariadb_replica
        return SQLAlchemyHarness(pair.primary.url, replicas=[pair.replica.url])
