"""SQLite storage: the single owner of the database connection, and its schema."""

from .db import Store, StoreError, StoreUnavailable
from .schema import SCHEMA_VERSION

__all__ = ["Store", "StoreError", "StoreUnavailable", "SCHEMA_VERSION"]
