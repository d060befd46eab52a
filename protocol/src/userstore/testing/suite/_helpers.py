"""What several contract sections' cases share."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

__all__ = ["TOKEN", "UTC", "T"]

UTC = dt.UTC
TOKEN = "tok_" + "A" * 39  # 43 characters, the size of a FastAPI Users token
T = TypeVar("T")
