"""The conformance suite on the in-memory reference adapter."""

import pytest

from userstore.testing import Harness, MemoryHarness
from userstore.testing.pytest_plugin import ContractSuite


class TestMemoryContract(ContractSuite):
    @pytest.fixture
    def userstore_harness(self) -> Harness:
        return MemoryHarness()
