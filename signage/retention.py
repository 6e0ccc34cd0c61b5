"""Retention of audience records (privacy rule 6): records about individual anonymous sessions
older than `privacy.retention_days` (default 30) are deleted, on a schedule (an hour after
start-up, then every six hours) and on demand (`run_once`).

Deleted once older than the retention:
* `sessions` (one row per anonymous face track: times, dwell, attention, estimates),
* `exposures` (which session saw which play), for plays that started before the cut-off
  and for any session already deleted,
* the phone-side identifier of `ratings` (the vote itself, an anonymous +1/-1, is kept).

Kept longer, because they are anonymous aggregates: `plays` (proof of play with its counts --
impressions, watchers, spend -- and its audience mix), `mobile_visits` (a timestamped counter),
the votes, and the ads. In fleet mode (docs/fleet.md) the outbox's session and exposure rows
older than the retention are deleted too (the centre would delete them on arrival anyway), and
that is never silent: they are counted in `unshipped_deleted` and logged as a warning. Unshipped
plays, votes and visits are never deleted. Consequence for reports: reach and frequency need per-session rows, so
for periods older than the retention they cannot be computed and reports say so; plays,
impressions, watchers and spend stay exact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

__all__ = ["Retention", "RetentionResult", "purge"]

FIRST_RUN_DELAY_S = 3600.0
INTERVAL_S = 6 * 3600.0


@dataclass(frozen=True)
class RetentionResult:
    cutoff: float
    sessions: int
    exposures: int
    ratings_anonymised: int
    unshipped_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "sessions_deleted": self.sessions,
            "exposures_deleted": self.exposures,
            "ratings_anonymised": self.ratings_anonymised,
            "unshipped_deleted": self.unshipped_deleted,
        }


async def purge(store: Any, retention_days: int, now: float | None = None) -> RetentionResult:
    """Delete audience records older than `retention_days`, in one transaction."""
    now = time.time() if now is None else now
    cutoff = now - retention_days * 86400.0
    await store.flush()  # the pending batch may hold rows this purge must see
    counts = {}
    counts["exposures"] = (
        await store.scalar(
            "SELECT COUNT(*) FROM exposures WHERE play_id IN (SELECT id FROM plays WHERE started_at < ?) "
            "OR session_id IN (SELECT id FROM sessions WHERE ended_at < ?)",
            (cutoff, cutoff),
        )
        or 0
    )
    counts["sessions"] = await store.scalar("SELECT COUNT(*) FROM sessions WHERE ended_at < ?", (cutoff,)) or 0
    counts["ratings"] = (
        await store.scalar(
            "SELECT COUNT(*) FROM ratings WHERE created_at < ? AND device != '' AND device NOT LIKE 'expired:%'",
            (cutoff,),
        )
        or 0
    )
    outbox_expired = "FROM outbox WHERE kind IN ('session', 'exposure') AND created_at < ?"
    counts["unshipped"] = await store.scalar(f"SELECT COUNT(*) {outbox_expired}", (cutoff,)) or 0
    await store.executemany_now(
        [
            (f"DELETE {outbox_expired}", (cutoff,)),
            (
                "DELETE FROM exposures WHERE play_id IN (SELECT id FROM plays WHERE started_at < ?) "
                "OR session_id IN (SELECT id FROM sessions WHERE ended_at < ?)",
                (cutoff, cutoff),
            ),
            ("DELETE FROM sessions WHERE ended_at < ?", (cutoff,)),
            # keep (play, source, device) unique without keeping the phone's identifier
            (
                "UPDATE ratings SET device = 'expired:' || id WHERE created_at < ? AND device != '' "
                "AND device NOT LIKE 'expired:%'",
                (cutoff,),
            ),
        ]
    )
    result = RetentionResult(
        cutoff, int(counts["sessions"]), int(counts["exposures"]), int(counts["ratings"]), int(counts["unshipped"])
    )
    if result.unshipped_deleted:
        log.warning(
            "retention (%d days): deleted %d session/exposure rows that were never shipped to the "
            "fleet's central database (older than the retention; the centre would delete them too)",
            retention_days,
            result.unshipped_deleted,
        )
    if result.sessions or result.exposures or result.ratings_anonymised:
        log.info(
            "retention (%d days): deleted %d sessions and %d exposures, anonymised %d ratings",
            retention_days,
            result.sessions,
            result.exposures,
            result.ratings_anonymised,
        )
    return result


class Retention:
    """Runs `purge` on a schedule for as long as it is started."""

    def __init__(
        self,
        store: Any,
        retention_days: int,
        *,
        first_delay_s: float = FIRST_RUN_DELAY_S,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.store = store
        self.retention_days = retention_days
        self.first_delay_s = first_delay_s
        self.interval_s = interval_s
        self.last: RetentionResult | None = None
        self.last_run_at: float | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None

    async def run_once(self) -> RetentionResult:
        self.last = await purge(self.store, self.retention_days)
        self.last_run_at = time.time()
        self.last_error = None
        return self.last

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay_s)
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # a locked file: try again next time, never die
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("retention run failed, will retry: %s", self.last_error)
            await asyncio.sleep(self.interval_s)

    def status(self) -> dict[str, Any]:
        return {
            "retention_days": self.retention_days,
            "last_run_at": self.last_run_at,
            "last": self.last.as_dict() if self.last else None,
            "error": self.last_error,
        }
