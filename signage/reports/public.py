"""The SQL behind the public pages (panel, phone pages), `/metrics` and the admin's ad list,
through the Store (the one DB owner).

Reads only, except `record_visit` (a counter an advertiser is shown). Ratings are written by
the player (`Player.record_rating`), which owns plays; `rating_of_device` only reads them back.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from typing import Any

from ..store import Store
from ..vocabulary import MOODS, normalise_mood

__all__ = [
    "MIN_VOTES",
    "play_by_token",
    "ad_play_started_at",
    "record_visit",
    "rating_of_device",
    "ad_votes",
    "wilson_lower",
    "rankings",
    "today",
    "play_mood",
    "proof_of_play",
    "ad_delivery_by_slug",
]

#: an ad needs at least this many votes (likes + dislikes, panel and phones) to be ranked
MIN_VOTES = 3


async def play_by_token(store: Store, token: str, retention_days: int) -> dict[str, Any] | None:
    """The ad play behind a QR token, with its ad, or None when unknown or expired
    (older than the audience-record retention)."""
    since = time.time() - retention_days * 86400
    row = await store.fetchone(
        "SELECT p.id AS play_id, p.token, p.started_at, p.ended_at, p.audience, "
        "a.id AS ad_id, a.slug, a.title, a.advertiser, a.details, a.media, a.media_type "
        "FROM plays p JOIN ads a ON a.id = p.ad_id "
        "WHERE p.token = ? AND p.kind = 'ad' AND p.started_at >= ? AND a.status != 'deleted'",
        (token, since),
    )
    if row is None:
        return None
    row["details"] = _json_obj(row.get("details"))
    row["audience"] = _json_obj(row.get("audience"))
    return row


async def ad_play_started_at(store: Store, play_id: int) -> float | None:
    """When the ad play `play_id` started, or None when there is no such ad play (a play just
    started may still be in the Store's batch: it is flushed first when not found)."""
    sql = "SELECT started_at FROM plays WHERE id = ? AND kind = 'ad'"
    started = await store.scalar(sql, (play_id,))
    if started is None:
        # in the batch, or in the flush running now (pending is 0 then): flush() waits for it
        await store.flush()
        started = await store.scalar(sql, (play_id,))
    return None if started is None else float(started)


async def proof_of_play(store: Store) -> dict[str, dict[str, Any]]:
    """Finished plays by kind ("ad", "healing"): plays, completed, impressions, watchers, spend."""
    rows = await store.fetchall(
        "SELECT kind, COUNT(*) AS plays, COALESCE(SUM(completed), 0) AS completed, "
        "COALESCE(SUM(impressions), 0) AS impressions, COALESCE(SUM(watchers), 0) AS watchers, "
        "COALESCE(SUM(spend), 0) AS spend FROM plays WHERE ended_at IS NOT NULL GROUP BY kind"
    )
    return {r["kind"]: r for r in rows}


async def ad_delivery_by_slug(store: Store) -> dict[str, dict[str, Any]]:
    """Every ad's plays and impressions since it was added (the admin's ad list)."""
    rows = await store.fetchall(
        "SELECT a.slug, COUNT(p.id) AS plays, COALESCE(SUM(p.impressions), 0) AS impressions "
        "FROM ads a LEFT JOIN plays p ON p.ad_id = a.id AND p.kind = 'ad' GROUP BY a.slug"
    )
    return {r["slug"]: r for r in rows}


async def recent_visitors(store: Store, since: float) -> list[dict[str, Any]]:
    """Visitors whose session ended since `since`: their mood/age/gender probabilities only
    (the admin's "matching audience in the last hour"; nothing identifying)."""
    rows = await store.fetchall("SELECT id, mood_p, age_group_p, gender_p FROM sessions WHERE ended_at >= ?", (since,))
    return [
        {
            "id": r["id"],
            "mood_p": json.loads(r["mood_p"] or "{}"),
            "age_p": json.loads(r["age_group_p"] or "{}"),
            "gender_p": json.loads(r["gender_p"] or "{}"),
        }
        for r in rows
    ]


async def record_visit(store: Store, play_id: int) -> None:
    store.enqueue("INSERT INTO mobile_visits (play_id, created_at) VALUES (?, ?)", (play_id, time.time()))


async def rating_of_device(store: Store, play_id: int, source: str, device: str) -> int | None:
    value = await store.scalar(
        "SELECT value FROM ratings WHERE play_id = ? AND source = ? AND device = ?", (play_id, source, device)
    )
    return None if value is None else int(value)


async def ad_votes(store: Store, ad_id: int) -> dict[str, int]:
    row = await store.fetchone(
        "SELECT COALESCE(SUM(r.value = 1), 0) AS likes, COALESCE(SUM(r.value = -1), 0) AS dislikes "
        "FROM ratings r JOIN plays p ON p.id = r.play_id WHERE p.ad_id = ?",
        (ad_id,),
    )
    assert row is not None  # an aggregate always has a row
    return {"likes": int(row["likes"]), "dislikes": int(row["dislikes"])}


def wilson_lower(likes: int, n: int, z: float = 1.96) -> float:
    """Lower bound of the 95 % Wilson interval of the like share: a fair order for ads with
    few and many votes (3 of 3 likes does not beat 95 of 100)."""
    if n <= 0:
        return 0.0
    p = likes / n
    d = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / d


async def rankings(store: Store, min_votes: int = MIN_VOTES) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ranked ads best first, ads with too few votes yet)."""
    rows = await store.fetchall(
        "SELECT a.id, a.slug, a.title, a.advertiser, "
        "COALESCE(SUM(r.value = 1), 0) AS likes, COALESCE(SUM(r.value = -1), 0) AS dislikes "
        "FROM ads a LEFT JOIN plays p ON p.ad_id = a.id LEFT JOIN ratings r ON r.play_id = p.id "
        "WHERE a.status = 'active' GROUP BY a.id"
    )
    ranked: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for r in rows:
        n = r["likes"] + r["dislikes"]
        r["votes"] = n
        r["liked_pct"] = round(100 * r["likes"] / n) if n else None
        r["score"] = wilson_lower(r["likes"], n)
        (ranked if n >= min_votes else pending).append(r)
    ranked.sort(key=lambda r: (-r["score"], -r["votes"], r["title"]))
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    pending.sort(key=lambda r: (-r["votes"], r["title"]))
    return ranked, pending


def _day_bounds(now: float | None = None) -> tuple[float, float]:
    d = dt.datetime.fromtimestamp(now if now is not None else time.time()).astimezone()
    start = d.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


async def today(store: Store, now: float | None = None) -> dict[str, Any]:
    """Today's audience at this screen (local time): mood mix and sessions by hour.
    From closed sessions only: counts and coarse labels, nothing about a person."""
    start, end = _day_bounds(now)
    rows = await store.fetchall(
        "SELECT started_at, mood FROM sessions WHERE started_at >= ? AND started_at < ?", (start, end)
    )
    moods = {m: 0 for m in MOODS}
    hours = [0] * 24
    for r in rows:
        if r["mood"]:
            moods[normalise_mood(r["mood"])] += 1
        hours[dt.datetime.fromtimestamp(r["started_at"]).hour] += 1
    total = len(rows)
    with_mood = sum(moods.values())
    plays = await store.scalar(
        "SELECT COUNT(*) FROM plays WHERE kind = 'ad' AND started_at >= ? AND started_at < ?", (start, end)
    )
    return {
        "date": dt.date.fromtimestamp(start),
        "people": total,
        "plays": plays or 0,
        "moods": moods,
        "with_mood": with_mood,
        "hours": hours,
    }


def _json_obj(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        v = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return v if isinstance(v, dict) else {}


def play_mood(audience: dict[str, Any]) -> tuple[str | None, bool]:
    """The dominant mood of a play's audience and whether most of it wore a mask, from the
    audience record the player stores with the play (`mood`: a label or None when nobody was
    counted; `mask`: True / False, None without mask estimates)."""
    mood = audience.get("mood")
    return (normalise_mood(mood) if mood else None), audience.get("mask") is True
