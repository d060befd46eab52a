"""The conformance cases, one module per section of the contract, in its order.

Importing this package registers every case in ``userstore.testing.CASES``.
"""

from __future__ import annotations

from . import s01_objects as s01_objects
from . import s02_ids as s02_ids
from . import s03_emails as s03_emails
from . import s04_oauth_accounts as s04_oauth_accounts
from . import s05_deletion as s05_deletion
from . import s06_access_tokens as s06_access_tokens
from . import s07_bad_input as s07_bad_input
from . import s08_errors_and_sessions as s08_errors_and_sessions
from . import s09_transactions as s09_transactions
from . import s10_round_trips as s10_round_trips

__all__: list[str] = []
