"""Run the conformance suite from pytest.

A third-party adapter needs two things in its tests::

    # test_contract.py
    import pytest
    from userstore.testing.pytest_plugin import ContractSuite

    class TestMyAdapter(ContractSuite):
        @pytest.fixture
        def userstore_harness(self):
            return MyHarness()   # a userstore.testing.Harness

Every case becomes one test item (``test_contract[s3-email-unique]``...), run in
its own event loop, so no asyncio plugin is needed.  A failing case reports what
it observed.  There is no skip list: a harness method the adapter cannot provide
makes the cases that need it fail.
"""

from __future__ import annotations

import asyncio

import pytest

from ._harness import Harness
from ._suite import CASES, Case, run_case

__all__ = ["ContractSuite"]


class ContractSuite:
    """Subclass this in a test module and provide a ``userstore_harness`` fixture."""

    @pytest.mark.parametrize("contract_case", CASES, ids=[c.id for c in CASES])
    def test_contract(self, userstore_harness: Harness, contract_case: Case) -> None:
        """Run one case of the contract (docs/contract.md) against the harness's adapter."""
        result = asyncio.run(run_case(userstore_harness, contract_case))
        if not result.passed:
            pytest.fail(result.report(), pytrace=False)
