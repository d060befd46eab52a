"""fastapi-users-db-sqlalchemy's ``generics`` names, for imports that used them."""

from .types import GUID, UUID_ID, TIMESTAMPAware, now_utc

__all__ = ["GUID", "TIMESTAMPAware", "UUID_ID", "now_utc"]
