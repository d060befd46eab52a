"""docs/contract.md on all four adapters: the conformance suite, once per backend and driver."""

from __future__ import annotations

import pytest

from userstore.testing import Harness, MemoryHarness
from userstore.testing.pytest_plugin import ContractSuite
from userstore_sqlalchemy.testing import SQLAlchemyHarness

from .backends import Backend
from .conftest import BACKEND_PARAMS, DRIVER_PARAMS, backend_url


class TestContract(ContractSuite):
    @pytest.fixture(
        params=[
            pytest.param("memory", marks=pytest.mark.backend("memory")),
            *BACKEND_PARAMS,
            *DRIVER_PARAMS,
        ]
    )
    def userstore_harness(
        self, request: pytest.FixtureRequest, backend_registry: dict[str, Backend]
    ) -> Harness:
        if request.param == "memory":
            return MemoryHarness()
        return SQLAlchemyHarness(backend_url(backend_registry, request.param))
