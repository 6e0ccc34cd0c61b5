"""The one owner of the SQLite database.

Only this class holds a connection. Everything else asks it to read, to write now
(`execute`, for changes a person waits on: a rating, an admin edit), or to write
later (`enqueue`, for the steady stream of audience and play records, flushed in
one transaction every `flush_seconds` and at shutdown). A failed flush (e.g. the
file is locked by a backup tool) keeps its batch and tries again: nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from ..tasks import cancel_and_wait
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

__all__ = ["Store", "StoreError"]


class StoreError(RuntimeError):
    """A database problem, worded for the technician."""


class Store:
    def __init__(self, path: Path, flush_seconds: float = 2.0) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self._db: aiosqlite.Connection | None = None
        self._pending: list[tuple[str, Sequence[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.last_error: str | None = None
        self.last_flush_at: float | None = None
        self.flushed_rows = 0
        self.refused_writes = 0

    # --- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(self.path, timeout=5.0)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open database ({exc})") from None
        db.row_factory = aiosqlite.Row
        try:
            version = await self._scalar(db, "PRAGMA user_version")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: database schema version {version} is newer than this "
                    f"signage release knows ({SCHEMA_VERSION}); upgrade signage or point "
                    f"storage.data_dir at another folder. The file was not changed.")
            ok = await self._scalar(db, "PRAGMA quick_check")
            if ok != "ok":
                raise StoreError(f"{self.path}: database failed its integrity check ({ok}); "
                                 f"move the file away to start a new one")
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await self._migrate(db, version)
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StoreError(f"{self.path}: not a usable SQLite database ({exc})") from None
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._flusher = asyncio.create_task(self._flush_loop(), name="store-flush")

    async def close(self) -> None:
        await cancel_and_wait(self._flusher)
        self._flusher = None
        if self._db is not None:
            await self.flush()
            await self._db.close()
            self._db = None

    @staticmethod
    async def _scalar(db: aiosqlite.Connection, sql: str) -> Any:
        async with db.execute(sql) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def _migrate(self, db: aiosqlite.Connection, version: int) -> None:
        for target, script in MIGRATIONS:
            if target <= version:
                continue
            log.info("migrating database %s to schema version %d", self.path, target)
            # One transaction per step: a failed step leaves the file at the previous version.
            await db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={target};\nCOMMIT;")
            version = target

    # --- reads ----------------------------------------------------------------------

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("database is not open")
        return self._db

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        async with self.db.execute(sql, params) as cur:
            return [dict(r) for r in await cur.fetchall()]

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return dict(row) if row else None

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    # --- writes ---------------------------------------------------------------------

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Write now, in its own transaction (after any pending batch). Returns lastrowid."""
        async with self._lock:
            await self._flush_locked()
            cur = await self.db.execute(sql, params)
            await self.db.commit()
            return cur.lastrowid or 0  # 0: the statement inserted no row

    async def executemany_now(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Several writes in one transaction, now."""
        async with self._lock:
            await self._flush_locked()
            try:
                for sql, params in statements:
                    await self.db.execute(sql, params)
                await self.db.commit()
            except BaseException:
                await self.db.rollback()
                raise

    def enqueue(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a write for the next flush (at most `flush_seconds` away)."""
        self._pending.append((sql, params))

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        async with self._lock:
            return await self._flush_locked()

    async def _flush_locked(self) -> int:
        if not self._pending or self._db is None:
            return 0
        batch, self._pending = self._pending, []
        try:
            await self._write_batch(batch)
        except sqlite3.OperationalError as exc:
            # Locked or busy (a backup, another process): transient. Keep the batch, in order
            # and before anything queued since, and retry at the next flush.
            self._pending = batch + self._pending
            self.last_error = f"flush failed, will retry: {exc}"
            log.warning("database %s: %s (%d writes kept)", self.path, self.last_error, len(self._pending))
            return 0
        except sqlite3.DatabaseError as exc:
            # A statement the database refuses (a constraint, a bug): retrying cannot help,
            # and it must not hold back the good writes queued with it. Write them one by one
            # and drop only the refused ones, loudly.
            log.error("database %s: batch refused (%s); writing its %d statements one by one",
                      self.path, exc, len(batch))
            written = await self._write_one_by_one(batch)
            self.flushed_rows += written
            self.last_flush_at = time.time()
            return written
        except BaseException:
            # Cancelled mid-write (shutdown cancels the background flusher while it writes):
            # the transaction was rolled back; keep the batch for the final flush in close()
            # instead of losing it (it holds e.g. the sessions ended at shutdown).
            self._pending = batch + self._pending
            raise
        self.last_error = None
        self.last_flush_at = time.time()
        self.flushed_rows += len(batch)
        return len(batch)

    async def _write_batch(self, batch: list[tuple[str, Sequence[Any]]]) -> None:
        assert self._db is not None
        try:
            await self._db.execute("BEGIN")
            for sql, params in batch:
                await self._db.execute(sql, params)
            await self._db.commit()
        except BaseException:
            try:
                await self._db.rollback()
            except sqlite3.Error:
                pass
            raise

    async def _write_one_by_one(self, batch: list[tuple[str, Sequence[Any]]]) -> int:
        assert self._db is not None
        written = 0
        for sql, params in batch:
            try:
                await self._db.execute(sql, params)
                await self._db.commit()
                written += 1
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:
                await self._db.rollback()
                self.refused_writes += 1
                self.last_error = f"a write was refused and dropped: {exc}"
                log.error("database %s: dropped a refused write (%s): %s %r", self.path, exc,
                          sql.split("(")[0].strip(), params)
        return written

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:  # never let the flusher die; the error is in last_error/log
                log.exception("unexpected error while flushing the database")

    # --- status ---------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.exists())
        return {
            "state": "open" if self._db is not None else "closed",
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "size_bytes": size,
            "pending_writes": len(self._pending),
            "flushed_rows": self.flushed_rows,
            "refused_writes": self.refused_writes,
            "last_flush_at": self.last_flush_at,
            "error": self.last_error,
        }
