"""Ships the outbox to the central PostgreSQL: batches of at most `fleet.batch_rows` rows, one
central transaction each, idempotent (`INSERT ... ON CONFLICT DO NOTHING` on fleet-wide keys),
and the outbox rows are deleted only after the central COMMIT. A crash between the two re-sends
the batch and the centre ignores what it already has. While the centre is unreachable the
outbox stays on disk and the shipper retries with a doubling, jittered back-off.

Uses psycopg 3's asyncio API (the optional `signage[fleet]` extra), so shipping never blocks the
event loop. The password in `fleet.database_url` is scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import defaultdict
from typing import Any

from ..config import FleetConfig
from ..tasks import cancel_and_wait
from . import outbox
from .urls import redact, scrub

log = logging.getLogger(__name__)

__all__ = ["Shipper", "ShipError", "INSERTS"]

# One statement per kind: the batch's rows of that kind travel as one JSON array.
_SYNCED = "CASE WHEN r.clock_synced IS NULL THEN NULL ELSE r.clock_synced <> 0 END"
INSERTS: dict[str, str] = {
    "play": f"""
INSERT INTO fleet.plays (device_id, uuid, kind, ad_slug, ad_sha256, started_at, ended_at, completed,
                         impressions, watchers, spend, audience, clock_synced)
SELECT r.device_id, r.uuid, r.kind, r.ad_slug, r.ad_sha256, to_timestamp(r.started_at),
       to_timestamp(r.ended_at), r.completed <> 0, r.impressions, r.watchers, r.spend,
       COALESCE(r.audience, '{{}}'), {_SYNCED}
FROM jsonb_to_recordset(%s::jsonb) AS r(device_id text, uuid uuid, kind text, ad_slug text,
     ad_sha256 text, started_at float8, ended_at float8, completed int, impressions int, watchers int,
     spend float8, audience jsonb, clock_synced int)
ON CONFLICT DO NOTHING""",
    "exposure": f"""
INSERT INTO fleet.exposures (device_id, play_uuid, session_id, play_started_at, present_s, watching_s,
                             clock_synced)
SELECT r.device_id, r.play_uuid, r.session_id, to_timestamp(r.play_started_at), r.present_s,
       r.watching_s, {_SYNCED}
FROM jsonb_to_recordset(%s::jsonb) AS r(device_id text, play_uuid uuid, session_id text,
     play_started_at float8, present_s float8, watching_s float8, clock_synced int)
ON CONFLICT DO NOTHING""",
    "session": f"""
INSERT INTO fleet.sessions (device_id, session_id, started_at, ended_at, dwell_s, attention_s, age_group,
                            gender, mood, age_group_p, gender_p, mood_p, mask_p, clock_synced)
SELECT r.device_id, r.session_id, to_timestamp(r.started_at), to_timestamp(r.ended_at), r.dwell_s,
       r.attention_s, r.age_group, r.gender, r.mood, COALESCE(r.age_group_p, '{{}}'),
       COALESCE(r.gender_p, '{{}}'), COALESCE(r.mood_p, '{{}}'), r.mask_p, {_SYNCED}
FROM jsonb_to_recordset(%s::jsonb) AS r(device_id text, session_id text, started_at float8,
     ended_at float8, dwell_s float8, attention_s float8, age_group text, gender text, mood text,
     age_group_p jsonb, gender_p jsonb, mood_p jsonb, mask_p float8, clock_synced int)
ON CONFLICT DO NOTHING""",
    "rating": f"""
INSERT INTO fleet.ratings (device_id, uuid, play_uuid, value, source, created_at, clock_synced)
SELECT r.device_id, r.uuid, r.play_uuid, r.value, r.source, to_timestamp(r.created_at), {_SYNCED}
FROM jsonb_to_recordset(%s::jsonb) AS r(device_id text, uuid uuid, play_uuid uuid, value int,
     source text, created_at float8, clock_synced int)
ON CONFLICT DO NOTHING""",
    "mobile_visit": f"""
INSERT INTO fleet.mobile_visits (device_id, uuid, play_uuid, created_at, clock_synced)
SELECT r.device_id, r.uuid, r.play_uuid, to_timestamp(r.created_at), {_SYNCED}
FROM jsonb_to_recordset(%s::jsonb) AS r(device_id text, uuid uuid, play_uuid uuid,
     created_at float8, clock_synced int)
ON CONFLICT DO NOTHING""",
}


class ShipError(RuntimeError):
    """Shipping failed (the centre unreachable, or it refused the rows); the outbox is intact."""


class _Refused(Exception):
    """The centre refused the batch's data (SQLSTATE class 22 or 23), not the connection or the
    login: retrying the same batch cannot help, and one bad row must not hold back the others."""


def _is_data_refusal(exc: Exception) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in ("22", "23")


def _explain(exc: Exception, url: str) -> str:
    text = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
    if "row-level security" in text:
        text += (
            " (the centre refused rows for this screen: [device].id must be the DEVICE_ID given to "
            "`fleet add-screen` for this database_url)"
        )
    return text


class Shipper:
    """Ships the store's outbox; `run` in the background or `ship_pending` once (`fleet ship`)."""

    def __init__(self, store: Any, config: FleetConfig) -> None:
        self.store = store
        self.config = config
        self._conn: Any = None
        self._task: asyncio.Task | None = None
        self.last_ship_at: float | None = None
        self.last_attempt_at: float | None = None
        self.last_error: str | None = None
        self.shipped_rows = 0
        self.next_attempt_in_s: float | None = None

    # --- one shipment -------------------------------------------------------------------

    async def ship_pending(self, max_batches: int | None = None) -> int:
        """Ship batches until the outbox is empty (or `max_batches`); returns rows shipped.
        Raises ShipError (with the password scrubbed) when the centre cannot take them."""
        total = 0
        batches = 0
        self.last_attempt_at = time.time()
        try:
            while max_batches is None or batches < max_batches:
                rows = await outbox.read_batch(self.store, self.config.batch_rows)
                if not rows:
                    break
                try:
                    await self._send(rows)
                    await outbox.delete_through(self.store, rows[0]["seq"], rows[-1]["seq"])
                    shipped = len(rows)
                except _Refused as exc:
                    log.error("fleet: the centre refused a batch (%s); sending its %d rows one by one", exc, len(rows))
                    shipped = await self._send_one_by_one(rows)
                total += shipped
                batches += 1
                self.shipped_rows += shipped
        except ShipError as exc:
            self.last_error = str(exc)
            await self._remember()
            raise
        self.last_error = None
        self.last_ship_at = time.time()  # nothing to ship still counts as a successful contact
        await self._remember()
        return total

    async def _send(self, rows: list[dict[str, Any]]) -> None:
        import psycopg

        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            try:
                record = json.loads(r["payload"])
            except ValueError:
                raise _Refused(f"outbox row {r['seq']}: payload is not JSON") from None
            record["device_id"] = r["device_id"]
            record["clock_synced"] = r["clock_synced"]
            by_kind[r["kind"]].append(record)
        url = self.config.database_url
        try:
            conn = await self._connection()
            async with conn.transaction():
                for kind in outbox.KINDS:  # plays first: the others refer to them
                    if by_kind.get(kind):
                        await conn.execute(INSERTS[kind], (json.dumps(by_kind[kind]),))
        except psycopg.Error as exc:
            if _is_data_refusal(exc):
                raise _Refused(_explain(exc, url)) from None
            await self._drop_connection()
            raise ShipError(_explain(exc, url)) from None
        except (TimeoutError, OSError) as exc:
            await self._drop_connection()
            raise ShipError(_explain(exc, url)) from None

    async def _send_one_by_one(self, rows: list[dict[str, Any]]) -> int:
        """Ship what the centre takes; set the refused rows aside in the outbox, loudly."""
        shipped: list[int] = []
        refused: list[tuple[int, str]] = []
        try:
            for r in rows:
                try:
                    await self._send([r])
                    shipped.append(r["seq"])
                except _Refused as exc:
                    refused.append((r["seq"], str(exc)))
                    log.error(
                        "fleet: the centre refused outbox row %d (%s): %s; kept aside, not resent",
                        r["seq"],
                        r["kind"],
                        exc,
                    )
        finally:  # also after a ShipError midway: what was committed is not sent again
            await outbox.settle(self.store, shipped, refused)
        return len(shipped)

    async def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            timeout = max(1, int(self.config.connect_timeout_s))
            self._conn = await psycopg.AsyncConnection.connect(
                self.config.database_url,
                connect_timeout=timeout,
                autocommit=True,
                options=f"-c statement_timeout={timeout * 1000}",
                application_name="signage-shipper",
            )
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken: nothing more to do
                pass

    async def _remember(self) -> None:
        """Keep the last outcome in the database, for `fleet status` in another process."""
        try:
            await outbox.set_meta(
                self.store,
                {
                    "fleet.last_ship_at": self.last_ship_at or "",
                    "fleet.last_error": self.last_error or "",
                    "fleet.last_attempt_at": self.last_attempt_at or "",
                },
            )
        except Exception as exc:  # the store reports its own trouble
            log.warning("fleet: could not record the shipping state: %s", exc)

    # --- background loop ----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="fleet-shipper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._drop_connection()

    async def _loop(self) -> None:
        interval = self.config.ship_interval_s
        delay = min(2.0, interval)  # first shipment soon after start: drain what a restart left
        backoff = min(5.0, interval)
        while True:
            self.next_attempt_in_s = delay
            await asyncio.sleep(delay)
            try:
                shipped = await self.ship_pending()
                if shipped:
                    log.info("fleet: shipped %d rows to %s", shipped, redact(self.config.database_url))
                delay, backoff = interval, min(5.0, interval)
            except ShipError as exc:
                # Jitter spreads a fleet's retries when the centre comes back.
                delay = backoff * random.uniform(0.8, 1.2)
                backoff = min(backoff * 2, self.config.retry_max_s)
                log.warning("fleet: shipping failed, retrying in %.0f s: %s", delay, exc)
            except Exception:  # never let the shipper die; the store says what is wrong
                log.exception("fleet: unexpected error while shipping")
                delay = backoff

    async def status(self) -> dict[str, Any]:
        meta = await outbox.meta_values(self.store)
        d = await outbox.depth(self.store)
        dropped = int(meta.get("fleet.outbox_dropped") or 0)
        full = d["rows"] >= self.config.outbox_max_rows
        return {
            "database": redact(self.config.database_url),
            "outbox_rows": d["rows"],
            "outbox_max_rows": self.config.outbox_max_rows,
            "outbox_oldest_at": d["oldest_created_at"],
            "outbox_full": full,
            "outbox_dropped": dropped,
            "outbox_refused": d["refused"],
            "shipped_rows": self.shipped_rows,
            "last_ship_at": self.last_ship_at,
            "last_attempt_at": self.last_attempt_at,
            "last_error": self.last_error,
            "state": ("full" if full else "error" if self.last_error else "ok" if self.last_ship_at else "starting"),
        }
