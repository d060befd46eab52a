"""The conformance cases, one module per section of the contract (docs/contract.md).

Importing this package registers every case with :mod:`userstore.testing._suite`,
section by section, whatever the import order; they are then put in the contract's order
(by section, each section's cases in the order they are written).
"""

from .._suite import CASES
from . import (  # noqa: F401  (imported for the cases they register)
    access_tokens,
    bad_input,
    deletion,
    emails,
    ids,
    oauth_accounts,
    objects,
    round_trips,
    sessions,
    transactions,
)

CASES.sort(key=lambda c: c.section)
