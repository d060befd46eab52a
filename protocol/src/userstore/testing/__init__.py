"""The userstore conformance suite: the contract (docs/contract.md) as cases any adapter runs.

An adapter proves itself by supplying one :class:`Harness` and running the
suite, either from pytest (``userstore.testing.pytest_plugin.ContractSuite``) or
from plain asyncio code with :func:`run_suite`, which returns one
:class:`CaseResult` per case with what was observed.
"""

from . import suite as suite
from ._discovery import HARNESS_ENTRY_POINT_GROUP, harness_for
from ._harness import Harness, MemoryHarness, StatementCount
from ._suite import CASES, Case, CaseContext, CaseResult, ContractViolation, run_case, run_suite

__all__ = [
    "CASES",
    "HARNESS_ENTRY_POINT_GROUP",
    "Case",
    "CaseContext",
    "CaseResult",
    "ContractViolation",
    "Harness",
    "MemoryHarness",
    "StatementCount",
    "harness_for",
    "run_case",
    "run_suite",
]
