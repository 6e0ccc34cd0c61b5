"""SQLite storage: the single owner of the database connection, and its schema."""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from .db import Store, StoreError, StoreUnavailable
from .schema import SCHEMA_VERSION

__all__ = ["Store", "StoreError", "StoreUnavailable", "SCHEMA_VERSION", "with_store"]

T = TypeVar("T")


async def with_store(db_path: Path, flush_seconds: float, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run `fn(store)`, close it (flushing): what a one-shot command needs."""
    store = Store(db_path, flush_seconds)
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()
