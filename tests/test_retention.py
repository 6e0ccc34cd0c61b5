"""Retention: per-session audience records older than privacy.retention_days are deleted;
plays (anonymous aggregates) and votes stay."""

from __future__ import annotations

import asyncio
import time

from signage.retention import Retention, purge
from signage.store import Store

DAY = 86400.0


async def seed(store: Store, now: float) -> None:
    for pid, age_days in ((1, 40), (2, 2)):
        t = now - age_days * DAY
        await store.execute(
            "INSERT INTO plays (id, kind, started_at, ended_at, completed, impressions, watchers) "
            "VALUES (?, 'healing', ?, ?, 1, 2, 1)",
            (pid, t, t + 10),
        )
        for s in ("a", "b"):
            sid = f"{s}{pid}"
            await store.execute(
                "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, mood) "
                "VALUES (?, ?, ?, 5, 2, 'happy')",
                (sid, t, t + 5),
            )
            await store.execute("INSERT INTO exposures VALUES (?, ?, 5, 2)", (pid, sid))
        await store.execute(
            "INSERT INTO ratings (play_id, value, source, device, created_at) "
            "VALUES (?, 1, 'mobile', 'phone-cookie-123', ?)",
            (pid, t + 20),
        )


async def test_purge_deletes_only_old_audience_records(tmp_path):
    store = Store(tmp_path / "r.db", flush_seconds=60)
    await store.open()
    try:
        now = time.time()
        await seed(store, now)
        # a session still being written (pending batch) that is old must be purged too
        store.enqueue(
            "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s) VALUES ('late', ?, ?, 1, 0)",
            (now - 50 * DAY, now - 50 * DAY + 1),
        )
        result = await purge(store, 30, now=now)
        assert (result.sessions, result.exposures, result.ratings_anonymised) == (3, 2, 1)
        assert {r["id"] for r in await store.fetchall("SELECT id FROM sessions")} == {"a2", "b2"}
        assert {r["play_id"] for r in await store.fetchall("SELECT play_id FROM exposures")} == {2}
        # plays (aggregates) are kept, with their stored counts
        plays = await store.fetchall("SELECT id, impressions FROM plays ORDER BY id")
        assert [(p["id"], p["impressions"]) for p in plays] == [(1, 2), (2, 2)]
        ratings = await store.fetchall("SELECT play_id, value, device FROM ratings ORDER BY play_id")
        assert ratings[0]["value"] == 1 and ratings[0]["device"].startswith("expired:")
        assert ratings[1]["device"] == "phone-cookie-123"
        again = await purge(store, 30, now=now)
        assert (again.sessions, again.exposures, again.ratings_anonymised) == (0, 0, 0)
    finally:
        await store.close()


async def test_schedule_runs_and_stops(tmp_path):
    store = Store(tmp_path / "r.db", flush_seconds=60)
    await store.open()
    try:
        await seed(store, time.time())
        r = Retention(store, 30, first_delay_s=0.01, interval_s=3600)
        r.start()
        for _ in range(100):
            if r.last is not None:
                break
            await asyncio.sleep(0.02)
        await r.stop()
        assert r.last is not None and r.last.sessions == 2
        assert r.status()["last"]["sessions_deleted"] == 2
    finally:
        await store.close()
