"""The one owner of the SQLite database.

Only this class holds a connection. Everything else asks it to read, to write now
(`execute`, for changes a person waits on: a rating, an admin edit), or to write
later (`enqueue`, for the steady stream of audience and play records, flushed in
one transaction every `flush_seconds` and at shutdown).

What happens when writing fails (docs/architecture.md, "What a crash can lose"):

* A *transient* failure -- SQLite says BUSY, LOCKED, FULL or IOERR (a backup tool holds the
  file, the disk is full, the card hiccups) -- keeps the batch and retries with a growing
  back-off (up to `MAX_BACKOFF_S`), so a long outage does not rewrite a growing batch every
  two seconds. While it lasts, the unwritten batch is appended to a *spill file* (JSON lines,
  fsynced: next to the database, else in `storage.spill_dir`), replayed into the database at
  the next start. A kill -9 or a power cut during an outage therefore loses nothing that
  reached the spill file.
* Any other failure is a statement the database refuses for good (a constraint, a missing
  column): retrying cannot help, so it is dropped alone, counted and logged, and the rest of
  its batch is written.
* Pending writes are bounded (`max_pending`): beyond the bound, new audience records are shed
  and counted (loud in the log and `/api/status`); proof of play (the `plays` and `exposures`
  tables: what advertisers pay for) is never shed.
* A database that cannot be used never stops the screen: a corrupt file is moved aside and a
  new one started; an unwritable one (read-only folder or file system) is copied into memory
  and the appliance runs on that, journalling proof of play to the spill file. Either way the
  problem is in the log and in `status()["problem"]`.

Components that hold state which is only written when it ends (open sessions, the running
play) register a *checkpoint*: the statements that would record that state now, kept in `meta`
at every timed flush and applied at the next start after a crash, so a kill -9 loses at most
one flush window of it. (The rows themselves are written once, when they end: the fleet
outbox ships a play or session when it is written as ended.)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from ..tasks import cancel_and_wait
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

__all__ = ["Store", "StoreError", "StoreUnavailable", "is_transient", "is_proof_of_play"]

#: SQLite primary result codes that say "try again later" (extended codes such as
#: SQLITE_IOERR_WRITE or SQLITE_BUSY_SNAPSHOT belong to their primary code).
TRANSIENT_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR")
#: errors that mean the file is damaged: it is moved aside at start-up
CORRUPT_ERRORS = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
#: errors that mean the file cannot be written here: the appliance runs on a copy in memory
UNWRITABLE_ERRORS = TRANSIENT_ERRORS + ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")
#: tables that hold proof of play: never shed, always spilled
PROOF_TABLES = frozenset({"plays", "exposures"})
#: the `meta` keys checkpoints are kept under (`checkpoint.<name>`)
CHECKPOINT_KEY = "checkpoint."
#: longest wait between two retries of a failing flush
MAX_BACKOFF_S = 30.0

_TARGET_TABLE = re.compile(
    r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"
    r"[\"`\[]?(\w+)",
    re.IGNORECASE,
)


class StoreError(RuntimeError):
    """A database problem, worded for the technician."""


class StoreUnavailable(StoreError):
    """The database cannot take writes right now (disk full, locked): try again later."""


class _Corrupt(Exception):
    pass


class _Unwritable(Exception):
    pass


def error_name(exc: BaseException) -> str:
    """SQLite's name for an error (`SQLITE_FULL`, `SQLITE_CONSTRAINT_UNIQUE`...), or "".

    The sqlite3 module sets `sqlite_errorname` only on errors that come from the library;
    errors raised by the module itself (e.g. a closed connection) have none."""
    return getattr(exc, "sqlite_errorname", None) or ""


def _is_a(exc: BaseException, names: Iterable[str]) -> bool:
    name = error_name(exc)
    return any(name == n or name.startswith(n + "_") for n in names)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later: busy, locked, disk full, I/O error."""
    return _is_a(exc, TRANSIENT_ERRORS)


def is_proof_of_play(sql: str) -> bool:
    m = _TARGET_TABLE.match(sql)
    return m is not None and m.group(1).lower() in PROOF_TABLES


class _Write:
    __slots__ = ("sql", "params", "spilled")

    def __init__(self, sql: str, params: Sequence[Any] | dict[str, Any], spilled: bool = False) -> None:
        self.sql = sql
        self.params = params
        self.spilled = spilled  # already appended to a spill file


class Store:
    def __init__(
        self, path: Path, flush_seconds: float = 2.0, *, max_pending: int = 20000, spill_dir: Path | str | None = None
    ) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        # A second spill location for when the data folder cannot take it; named after the
        # database so two appliances sharing a temporary folder do not mix their spills.
        tag = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        fallback = Path(spill_dir) if spill_dir else Path(tempfile.gettempdir())
        self.spill_paths = [self.path.with_name(self.path.name + ".spill"), fallback / f"signage-{tag}.spill"]
        self._db: aiosqlite.Connection | None = None
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._checkpoints: dict[str, Callable[[], list[tuple[str, tuple[Any, ...]]]]] = {}
        self.recovered_checkpoints = 0
        self.mode = "closed"  # "file", "memory" (degraded) or "closed"
        #: a standing problem with the database file (moved aside, read-only...): shown in status
        self.problem: str | None = None
        self.moved_aside: Path | None = None
        self.last_error: str | None = None
        self.last_flush_at: float | None = None
        self.flushed_rows = 0
        self.refused_writes = 0
        self.shed_writes = 0
        self.failed_flushes = 0
        self.replayed_writes = 0
        self.spill_error: str | None = None
        #: writes that reached neither the database nor a spill file at close (should stay 0)
        self.lost_at_close = 0
        #: writes that are only in a spill file at close (replayed at the next start)
        self.spilled_at_close = 0
        self._backoff = 0.0
        self._retry_at = 0.0
        self._last_shed_log = 0.0
        #: proof of play written to the in-memory database and journalled to the spill file
        self._journalled_in_memory_mode = 0

    # --- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        """Open the database. A corrupt file is moved aside and replaced; an unwritable one
        is run in memory. Only a file from a newer release stops start-up (StoreError)."""
        try:
            db = await self._open_file()
        except _Corrupt as exc:
            db = None
            try:
                self.moved_aside = self._move_aside()
                self.problem = (
                    f"the database was unusable ({exc}); it was moved aside to "
                    f"{self.moved_aside.name} and a new one started"
                )
                log.error("database %s: %s", self.path, self.problem)
                db = await self._open_file()
            except (OSError, _Corrupt, _Unwritable) as again:
                self.problem = f"the database is unusable ({exc}) and could not be replaced ({again})"
        except _Unwritable as exc:
            db = None
            self.problem = str(exc)
        if db is None:
            log.error(
                "database %s: %s; running on a copy in memory (reports since start-up only, "
                "proof of play is journalled to a spill file)",
                self.path,
                self.problem,
            )
            db = await self._open_memory()
            self.mode = "memory"
        else:
            self.mode = "file"
        self._db = db
        if self.mode == "file":
            await self._replay_spills()
        await self._recover_checkpoints()
        self._flusher = asyncio.create_task(self._flush_loop(), name="store-flush")

    async def close(self) -> None:
        await cancel_and_wait(self._flusher)
        self._flusher = None
        if self._db is None:
            return
        if self._checkpoints:
            # A clean stop: everything ended and is in the batch, so the checkpoints are void.
            self.enqueue("DELETE FROM meta WHERE key LIKE ?", (CHECKPOINT_KEY + "%",))
        try:
            await self.flush()
        except Exception:  # never lose the batch over an unexpected error: it is spilled below
            log.exception("database %s: final flush failed", self.path)
        unwritten = list(self._pending)
        if unwritten:
            self._spill(unwritten)
            spilled = sum(1 for w in unwritten if w.spilled)
            self.spilled_at_close = spilled
            self.lost_at_close = len(unwritten) - spilled
            if self.lost_at_close:
                log.critical(
                    "database %s: %d writes could not be saved anywhere and are LOST (%s)",
                    self.path,
                    self.lost_at_close,
                    self.spill_error,
                )
            log.error(
                "database %s: %d writes are not in the database; they are kept in the spill "
                "file and written at the next start",
                self.path,
                spilled,
            )
        if self.mode == "memory":
            self.spilled_at_close += self._journalled_in_memory_mode
        self._pending = []
        try:
            await self._db.close()
        except sqlite3.Error as exc:
            log.error("database %s: close failed (%s)", self.path, exc)
        self._db = None
        self.mode = "closed"

    @property
    def unsaved_at_close(self) -> int:
        """Writes that did not reach the database file at close (spilled or lost)."""
        return self.spilled_at_close + self.lost_at_close

    def add_checkpoint(self, name: str, statements: Callable[[], list[tuple[str, tuple[Any, ...]]]]) -> None:
        """Before every timed flush, keep `statements()` -- what would record the current state
        of something that is otherwise written only when it ends (the running play, open
        sessions) -- in the database, replacing the previous ones. A clean close forgets them;
        after a crash the next `open` applies them (they must be written so that they change
        nothing when the real end was written: `WHERE ended_at IS NULL`, `INSERT OR IGNORE`)."""
        self._checkpoints[name] = statements

    def _queue_checkpoints(self) -> None:
        for name, statements in self._checkpoints.items():
            stmts = statements()
            if stmts:
                self.enqueue(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (CHECKPOINT_KEY + name, json.dumps(stmts, separators=(",", ":"))),
                )
            else:
                self.enqueue("DELETE FROM meta WHERE key = ?", (CHECKPOINT_KEY + name,))

    async def _recover_checkpoints(self) -> None:
        """Apply what the last run kept at its last flush before it died (see add_checkpoint)."""
        rows = await self.fetchall("SELECT key, value FROM meta WHERE key LIKE ?", (CHECKPOINT_KEY + "%",))
        writes = []
        for row in rows:
            try:
                writes += [_Write(sql, params) for sql, params in json.loads(row["value"])]
            except (ValueError, TypeError):
                log.error("database %s: unreadable checkpoint %s dropped", self.path, row["key"])
        writes.append(_Write("DELETE FROM meta WHERE key LIKE ?", (CHECKPOINT_KEY + "%",)))
        if len(writes) > 1:
            log.warning(
                "database %s: the last run ended without a clean stop; recording what its last "
                "checkpoint held (the running play, open sessions)",
                self.path,
            )
        async with self._lock:
            self.recovered_checkpoints = await self._write_one_by_one(writes) - 1

    @staticmethod
    async def _scalar(db: aiosqlite.Connection, sql: str) -> Any:
        async with db.execute(sql) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def _open_file(self) -> aiosqlite.Connection:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _Unwritable(f"the data folder {folder} cannot be created ({exc.strerror})") from None
        if not os.access(folder, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            raise _Unwritable(
                f"the data folder {folder} is not writable (read-only file system or "
                f"permissions); the database cannot be written"
            )
        try:
            db = await aiosqlite.connect(self.path, timeout=5.0)
        except sqlite3.Error as exc:
            raise _Unwritable(f"{self.path}: cannot open database ({exc})") from None
        db.row_factory = aiosqlite.Row
        try:
            version = await self._scalar(db, "PRAGMA user_version")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: database schema version {version} is newer than this "
                    f"signage release knows ({SCHEMA_VERSION}); upgrade signage or point "
                    f"storage.data_dir at another folder. The file was not changed."
                )
            ok = await self._scalar(db, "PRAGMA quick_check")
            if ok != "ok":
                raise _Corrupt(f"failed its integrity check: {ok}")
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await self._migrate(db, version)
        except sqlite3.Error as exc:
            await db.close()
            if _is_a(exc, CORRUPT_ERRORS):
                raise _Corrupt(f"not a usable SQLite database: {exc}") from None
            if _is_a(exc, UNWRITABLE_ERRORS):
                raise _Unwritable(f"{self.path}: the database cannot be written ({exc})") from None
            # anything else is a bug in this release (e.g. a broken migration): stop, say so
            raise StoreError(
                f"{self.path}: cannot prepare the database ({exc}); the file was left at schema version {version}"
            ) from None
        except BaseException:
            await db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.rename(Path(str(target) + suffix))
        return target

    async def _open_memory(self) -> aiosqlite.Connection:
        """A database in memory: a copy of the file when it can still be read (so play ids go
        on from where they were and the spill replays cleanly later), else empty."""
        db = await aiosqlite.connect(":memory:")
        db.row_factory = aiosqlite.Row
        try:
            src = await aiosqlite.connect(f"file:{self.path}?mode=ro", uri=True, timeout=2.0)
            try:
                if await self._scalar(src, "PRAGMA user_version") <= SCHEMA_VERSION:
                    await src.backup(db)
            finally:
                await src.close()
        except (sqlite3.Error, OSError, ValueError) as exc:
            log.warning("database %s: cannot copy it into memory (%s); starting empty", self.path, exc)
        await db.execute("PRAGMA foreign_keys=ON")
        await self._migrate(db, await self._scalar(db, "PRAGMA user_version") or 0)
        return db

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
        """Write now, in its own transaction (after any pending batch). Returns lastrowid.
        Raises StoreUnavailable when the database cannot take writes right now."""
        async with self._lock:
            await self._flush_locked()
            try:
                cur = await self.db.execute(sql, params)
                await self.db.commit()
            except sqlite3.Error as exc:
                await self._rollback()
                if is_transient(exc):
                    raise StoreUnavailable(f"the database cannot be written right now ({exc})") from None
                raise
            return cur.lastrowid or 0  # 0: the statement inserted no row

    async def executemany_now(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Several writes in one transaction, now."""
        async with self._lock:
            await self._flush_locked()
            try:
                for sql, params in statements:
                    await self.db.execute(sql, params)
                await self.db.commit()
            except BaseException as exc:
                await self._rollback()
                if isinstance(exc, sqlite3.Error) and is_transient(exc):
                    raise StoreUnavailable(f"the database cannot be written right now ({exc})") from None
                raise

    def enqueue(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a write for the next flush (at most `flush_seconds` away). Beyond
        `max_pending` queued writes an audience record is shed (counted, logged); proof of
        play is always kept."""
        if len(self._pending) >= self.max_pending and not is_proof_of_play(sql):
            self.shed_writes += 1
            now = time.monotonic()
            if now - self._last_shed_log >= 60.0:
                self._last_shed_log = now
                log.error(
                    "database %s: %d writes are waiting (the database cannot be written: %s); "
                    "audience records are being shed (%d so far), proof of play is kept",
                    self.path,
                    len(self._pending),
                    self.last_error,
                    self.shed_writes,
                )
            return
        self._pending.append(_Write(sql, params))

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def writable(self) -> bool:
        """False while flushes fail (disk full, locked) or the database runs in memory."""
        return self.mode == "file" and self._backoff == 0.0

    async def flush(self) -> int:
        async with self._lock:
            return await self._flush_locked()

    async def _rollback(self) -> None:
        try:
            await self.db.rollback()
        except sqlite3.Error:
            pass

    async def _flush_locked(self) -> int:
        if not self._pending or self._db is None:
            return 0
        batch, self._pending = self._pending, []
        try:
            await self._write_batch(batch)
        except sqlite3.Error as exc:
            if is_transient(exc):
                # Keep the batch, in order and before anything queued since; retry later.
                self._pending = batch + self._pending
                self._transient_failure(exc)
                return 0
            # A statement the database refuses for good: retrying cannot help, and it must
            # not hold back the good writes queued with it. Write them one by one and drop
            # only the refused ones, loudly.
            log.error(
                "database %s: batch refused (%s); writing its %d statements one by one", self.path, exc, len(batch)
            )
            written = await self._write_one_by_one(batch)
            self.flushed_rows += written
            if not self._pending:
                self._flushed_ok()
            return written
        except BaseException:
            # Cancelled mid-write (shutdown cancels the background flusher while it writes):
            # the transaction was rolled back; keep the batch for the final flush in close()
            # instead of losing it (it holds e.g. the sessions ended at shutdown).
            self._pending = batch + self._pending
            raise
        self.flushed_rows += len(batch)
        self._flushed_ok()
        if self.mode == "memory":
            self._journal_memory_batch(batch)
        else:
            self.last_error = None
        return len(batch)

    def _flushed_ok(self) -> None:
        self.last_flush_at = time.time()
        if self._backoff:
            log.warning("database %s: writes work again", self.path)
        self._backoff = 0.0
        self._retry_at = 0.0
        if self.mode == "file" and not self._pending:
            self._remove_spills()

    def _transient_failure(self, exc: BaseException) -> None:
        self.failed_flushes += 1
        first = self._backoff == 0.0
        self._backoff = min(MAX_BACKOFF_S, max(self.flush_seconds, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff
        self.last_error = f"writes fail, will retry: {exc} ({error_name(exc)})"
        if first or self._backoff >= MAX_BACKOFF_S and self.failed_flushes % 20 == 0:
            log.warning(
                "database %s: %s (%d writes kept, next try in %.0f s)",
                self.path,
                self.last_error,
                len(self._pending),
                self._backoff,
            )
        self._spill(self._pending)

    async def _write_batch(self, batch: list[_Write]) -> None:
        assert self._db is not None
        try:
            await self._db.execute("BEGIN")
            for w in batch:
                await self._db.execute(w.sql, w.params)
            await self._db.commit()
        except BaseException:
            try:
                await self._db.rollback()
            except sqlite3.Error:
                pass
            raise

    async def _write_one_by_one(self, batch: list[_Write]) -> int:
        """Write each statement alone; drop the refused ones. Stops at a transient failure
        and keeps that statement and the rest for the next flush."""
        assert self._db is not None
        written = 0
        for i, w in enumerate(batch):
            try:
                await self._db.execute(w.sql, w.params)
                await self._db.commit()
                written += 1
            except sqlite3.Error as exc:
                await self._rollback()
                if is_transient(exc):
                    self._pending = batch[i:] + self._pending
                    self._transient_failure(exc)
                    break
                self.refused_writes += 1
                self.last_error = f"a write was refused and dropped: {exc} ({error_name(exc)})"
                log.error(
                    "database %s: dropped a refused write (%s): %s %r",
                    self.path,
                    exc,
                    w.sql.split("(")[0].strip(),
                    w.params,
                )
        return written

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            if time.monotonic() < self._retry_at:
                # Backing off after a failed flush; what was queued meanwhile still goes to the
                # spill file every flush window, so a kill -9 loses no more than one window.
                self._spill(self._pending)
                continue
            try:
                if not self._backoff:
                    # Not while writes fail: each checkpoint would queue one more copy.
                    self._queue_checkpoints()
                await self.flush()
            except Exception:  # never let the flusher die; the error is in last_error/log
                log.exception("unexpected error while flushing the database")

    # --- spill file -------------------------------------------------------------------

    def _spill(self, writes: list[_Write]) -> None:
        """Append the writes not yet spilled to the first spill file that takes them."""
        todo = [w for w in writes if not w.spilled]
        if not todo:
            return
        text = "".join(json.dumps([w.sql, w.params], separators=(",", ":")) + "\n" for w in todo)
        errors = []
        for path in self.spill_paths:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "a", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
                continue
            for w in todo:
                w.spilled = True
            self.spill_error = None
            return
        self.spill_error = "cannot write a spill file: " + "; ".join(errors)
        log.error("database %s: %s", self.path, self.spill_error)

    def _journal_memory_batch(self, batch: list[_Write]) -> None:
        """In memory mode the database file never sees these writes: journal proof of play."""
        proof = [w for w in batch if is_proof_of_play(w.sql)]
        self._spill(proof)
        self._journalled_in_memory_mode += sum(1 for w in proof if w.spilled)

    def _remove_spills(self) -> None:
        for path in self.spill_paths:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove the spill file %s (%s)", path, exc.strerror)

    async def _replay_spills(self) -> None:
        """Write what an earlier run spilled. Idempotent: rows already there are refused
        (plays) or replaced (exposures, sessions)."""
        writes: list[_Write] = []
        for path in self.spill_paths:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("cannot read the spill file %s (%s)", path, exc.strerror)
                continue
            for line in lines:
                try:
                    sql, params = json.loads(line)
                except (ValueError, TypeError):
                    continue  # a line cut short by a full disk or a power cut
                writes.append(_Write(sql, params, spilled=True))
        if not writes:
            return
        log.warning("database %s: writing %d records kept in spill files by an earlier run", self.path, len(writes))
        async with self._lock:
            written = await self._write_one_by_one(writes)
        self.replayed_writes += written
        self.flushed_rows += written
        if not self._pending:
            self._remove_spills()

    # --- status ---------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        try:
            size = sum(
                p.stat().st_size
                for p in self.path.parent.glob(self.path.name + "*")
                if p.exists() and ".corrupt-" not in p.name
            )
        except OSError:
            size = 0
        if self.mode == "closed":
            state = "closed"
        elif self.mode == "memory":
            state = "memory"
        elif self._backoff:
            state = "failing"
        else:
            state = "open"
        error = self.last_error
        return {
            "state": state,
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "size_bytes": size,
            "pending_writes": len(self._pending),
            "spilled_writes": sum(1 for w in self._pending if w.spilled) + self._journalled_in_memory_mode,
            "flushed_rows": self.flushed_rows,
            "refused_writes": self.refused_writes,
            "shed_writes": self.shed_writes,
            "failed_flushes": self.failed_flushes,
            "replayed_writes": self.replayed_writes,
            "last_flush_at": self.last_flush_at,
            "error": error,
            "problem": self.problem,
            "spill_error": self.spill_error,
        }
