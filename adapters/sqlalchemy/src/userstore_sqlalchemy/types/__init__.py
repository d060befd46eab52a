"""Portable column types, one per module."""

from .datetime import TIMESTAMPAware, UTCDateTime, now_utc
from .guid import GUID, UUID_ID, uuid7
from .text import ExactString

__all__ = ["GUID", "TIMESTAMPAware", "UUID_ID", "ExactString", "UTCDateTime", "now_utc", "uuid7"]
