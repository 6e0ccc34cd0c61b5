"""The admin report: one dict built from SQL, which the admin renders as HTML tables + SVG
charts, CSV and JSON (`/api/report`). Definitions are those of docs/architecture.md; per-ad
delivery comes from `delivery` (the project's one implementation of those metrics) and this
module adds what the admin pages need beside it: per day, per hour, per segment (age group,
gender, mood), pacing (`signage.ads.selection.planned_spend`, the plan the decision paces
against), and proof of play.

Wording: reach counts anonymous *sessions* (face tracks), not people; impressions are OTS.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ..ads.selection import AdState, Viewer, match_probability, planned_spend
from ..vocabulary import AGE_GROUPS, GENDERS, MOODS
from . import delivery

__all__ = ["Period", "build_report", "plays_page", "json_dumps", "on_target", "SEGMENTS", "CSV_TABLES"]

SEGMENTS = {"age_group": AGE_GROUPS, "gender": GENDERS, "mood": MOODS}
DEFAULT_DAYS = 7


def json_dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


#: the years a report period may cover
FIRST_YEAR, LAST_YEAR = 2000, 2999


@dataclass(frozen=True)
class Period:
    """Whole local days, `first` to `last` inclusive."""

    first: date
    last: date

    @property
    def since(self) -> float:
        return datetime.combine(self.first, datetime.min.time()).timestamp()

    @property
    def until(self) -> float:
        return datetime.combine(self.last + timedelta(days=1), datetime.min.time()).timestamp()

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def query(self) -> str:
        return f"since={self.first.isoformat()}&until={self.last.isoformat()}"

    @classmethod
    def from_query(cls, q: Mapping[str, str], today: date | None = None) -> Period:
        today = today or date.today()

        def day(key: str, default: date) -> date:
            raw = (q.get(key) or "").strip()
            if not raw:
                return default
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r}: not a date; use YYYY-MM-DD, e.g. {today.isoformat()}") from None
            # years far out (0001, 9999) have no Unix time and no plays
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise ValueError(f"{key}={raw!r}: choose a date between {FIRST_YEAR} and {LAST_YEAR}")
            return day

        last = day("until", today)
        first = day("since", last - timedelta(days=DEFAULT_DAYS - 1))
        if first > last:
            raise ValueError(f"since={first.isoformat()} is after until={last.isoformat()}")
        if (last - first).days > 3660:
            raise ValueError("the period is longer than ten years; choose a shorter one")
        return cls(first, last)


def _ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def _json_obj(text: Any) -> dict[str, Any]:
    try:
        v = json.loads(text or "{}")
        return v if isinstance(v, dict) else {}
    except (TypeError, ValueError):
        return {}


# --- SQL the per-ad report does not have ---------------------------------------------------------

_EXPOSURES = """
SELECT p.id AS play_id, p.ad_id, p.started_at, x.session_id, x.present_s, x.watching_s
FROM plays p JOIN exposures x ON x.play_id = p.id
WHERE p.kind = 'ad' AND p.started_at >= :since AND p.started_at < :until AND x.present_s >= :min_exposure
"""

DAILY_SQL = f"""
WITH e AS ({_EXPOSURES}),
p AS (SELECT date(started_at, 'unixepoch', 'localtime') AS day, COUNT(*) AS plays, SUM(spend) AS spend
      FROM plays WHERE kind = 'ad' AND started_at >= :since AND started_at < :until GROUP BY day),
i AS (SELECT date(started_at, 'unixepoch', 'localtime') AS day, COUNT(*) AS impressions,
             SUM(CASE WHEN watching_s >= :watcher_s THEN 1 ELSE 0 END) AS watchers,
             COUNT(DISTINCT session_id) AS reach
      FROM e GROUP BY day)
SELECT p.day, p.plays, COALESCE(i.impressions, 0) AS impressions, COALESCE(i.watchers, 0) AS watchers,
       COALESCE(i.reach, 0) AS reach, COALESCE(p.spend, 0) AS spend
FROM p LEFT JOIN i ON i.day = p.day ORDER BY p.day
"""

AD_DAILY_SQL = f"""
WITH e AS ({_EXPOSURES}),
p AS (SELECT id, ad_id, date(started_at, 'unixepoch', 'localtime') AS day, completed, spend
      FROM plays WHERE kind = 'ad' AND started_at >= :since AND started_at < :until),
pd AS (SELECT ad_id, day, COUNT(*) AS plays, SUM(completed) AS completed, SUM(spend) AS spend
       FROM p GROUP BY ad_id, day),
ed AS (SELECT ad_id, date(started_at, 'unixepoch', 'localtime') AS day, COUNT(*) AS impressions,
              SUM(CASE WHEN watching_s >= :watcher_s THEN 1 ELSE 0 END) AS watchers,
              COUNT(DISTINCT session_id) AS reach, SUM(present_s) AS dwell_total_s,
              SUM(watching_s) AS attention_total_s
       FROM e GROUP BY ad_id, day),
rd AS (SELECT p.ad_id, p.day, SUM(CASE WHEN r.value > 0 THEN 1 ELSE 0 END) AS likes,
              SUM(CASE WHEN r.value < 0 THEN 1 ELSE 0 END) AS dislikes
       FROM ratings r JOIN p ON p.id = r.play_id GROUP BY p.ad_id, p.day),
vd AS (SELECT p.ad_id, p.day, COUNT(*) AS qr_scans FROM mobile_visits v JOIN p ON p.id = v.play_id
       GROUP BY p.ad_id, p.day)
SELECT pd.ad_id, a.slug, a.title, pd.day, pd.plays, COALESCE(pd.completed, 0) AS completed,
       COALESCE(ed.impressions, 0) AS impressions, COALESCE(ed.watchers, 0) AS watchers,
       COALESCE(ed.reach, 0) AS reach, COALESCE(ed.dwell_total_s, 0) AS dwell_total_s,
       COALESCE(ed.attention_total_s, 0) AS attention_total_s, COALESCE(pd.spend, 0) AS spend,
       COALESCE(rd.likes, 0) AS likes, COALESCE(rd.dislikes, 0) AS dislikes, COALESCE(vd.qr_scans, 0) AS qr_scans
FROM pd JOIN ads a ON a.id = pd.ad_id
LEFT JOIN ed ON ed.ad_id = pd.ad_id AND ed.day = pd.day
LEFT JOIN rd ON rd.ad_id = pd.ad_id AND rd.day = pd.day
LEFT JOIN vd ON vd.ad_id = pd.ad_id AND vd.day = pd.day
ORDER BY a.slug, pd.day
"""

HOURLY_SQL = f"""
WITH e AS ({_EXPOSURES})
SELECT CAST(strftime('%H', started_at, 'unixepoch', 'localtime') AS INTEGER) AS hour,
       COUNT(*) AS impressions, SUM(CASE WHEN watching_s >= :watcher_s THEN 1 ELSE 0 END) AS watchers
FROM e GROUP BY hour ORDER BY hour
"""

SEGMENT_SQL = """
WITH e AS ({exposures})
SELECT e.ad_id, COALESCE(s.{col}, 'unknown') AS segment, COUNT(*) AS impressions,
       SUM(CASE WHEN e.watching_s >= :watcher_s THEN 1 ELSE 0 END) AS watchers,
       COUNT(DISTINCT e.session_id) AS reach, SUM(e.present_s) AS dwell_total_s,
       SUM(e.watching_s) AS attention_total_s
FROM e LEFT JOIN sessions s ON s.id = e.session_id
GROUP BY e.ad_id, segment
"""

TOTAL_REACH_SQL = f"WITH e AS ({_EXPOSURES}) SELECT COUNT(DISTINCT session_id) FROM e"

PACING_SQL = """
SELECT a.id AS ad_id, a.slug, a.title, a.status, a.cpm, a.budget, a.start_date, a.end_date,
       COALESCE(SUM(p.spend), 0) AS spent, COALESCE(SUM(p.impressions), 0) AS impressions
FROM ads a LEFT JOIN plays p ON p.ad_id = a.id AND p.kind = 'ad'
WHERE a.status != 'deleted' OR p.id IS NOT NULL
GROUP BY a.id ORDER BY a.slug
"""


def pacing(row: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """Delivery at `at` against an even plan over the flight (the plan the decision paces
    against). `reference_figure` is the reference system's
    `(budget / flight days) / impressions so far x 1000` (high = under-delivered)."""
    out = {
        "ad_id": row["ad_id"],
        "slug": row["slug"],
        "title": row["title"],
        "status": row["status"],
        "cpm": row["cpm"],
        "budget": row["budget"],
        "spent": round(row["spent"], 4),
        "impressions_to_date": row["impressions"],
        "budget_left": round(max(0.0, row["budget"] - row["spent"]), 4),
        "flight": f"{row['start_date'] or '…'} – {row['end_date'] or '…'}",
        "planned_to_date": None,
        "pace": None,
        "pacing": "no flight",
        "reference_figure": None,
    }
    try:
        start = date.fromisoformat(row["start_date"]) if row["start_date"] else None
        end = date.fromisoformat(row["end_date"]) if row["end_date"] else None
    except ValueError:
        return out
    plan = planned_spend(row["budget"], start, end, at)
    if plan is None:
        out["pacing"] = "house ad" if row["cpm"] == 0 else "no flight"
        return out
    planned, flight_days = plan
    assert start is not None and end is not None  # a plan needs both
    today = at.date()
    daily = row["budget"] / flight_days
    if row["impressions"]:
        out["reference_figure"] = round(daily / row["impressions"] * 1000, 4)
    out["planned_to_date"] = round(planned, 4)
    if today < start or planned <= 0:
        out["pacing"] = "not started"
    elif row["spent"] >= row["budget"] - 1e-9:
        out["pacing"] = "budget spent"
    else:
        pace = row["spent"] / planned
        out["pace"] = round(pace, 3)
        out["pacing"] = "behind" if pace < 0.9 else "ahead" if pace > 1.1 else "on track"
        if today > end:
            out["pacing"] = "flight ended"
    return out


async def build_report(store: Any, config: Any, period: Period, *, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    await store.flush()
    aud_cfg = config.audience
    params = {
        "since": period.since,
        "until": period.until,
        "min_exposure": aud_cfg.min_exposure_s - 1e-9,
        "watcher_s": aud_cfg.watcher_s - 1e-9,
    }
    ads = await delivery.ad_report(
        store, period.since, period.until, min_exposure_s=aud_cfg.min_exposure_s, watcher_s=aud_cfg.watcher_s
    )
    audience = await delivery.audience_report(store, period.since, period.until, watcher_s=aud_cfg.watcher_s)
    _, target_by_ad = await on_target(store, period.since, period.until, aud_cfg.min_exposure_s)
    for a in ads:
        a["likes"], a["dislikes"], a["qr_scans"] = a["rating_up"], a["rating_down"], a["mobile_visits"]
        a["watcher_conversion"] = a["conversion"]
        a.update(target_by_ad.get(a["slug"], {"expected_targeted": 0.0, "estimated_impressions": 0, "on_target": None}))

    impressions = sum(a["impressions"] for a in ads)
    spend = round(sum(a["spend"] for a in ads), 4)
    total_reach = int(await store.scalar(TOTAL_REACH_SQL, params) or 0)
    totals = {
        "plays": sum(a["plays"] for a in ads),
        "completed": sum(a["completed"] for a in ads),
        "impressions": impressions,
        "watchers": sum(a["watchers"] for a in ads),
        "reach": total_reach,
        "frequency": _ratio(impressions, total_reach),
        "conversion": _ratio(sum(a["watchers"] for a in ads), impressions),
        "avg_dwell_s": _ratio(sum(a["dwell_total_s"] for a in ads), impressions, 2),
        "avg_attention_s": _ratio(sum(a["attention_total_s"] for a in ads), impressions, 2),
        "attraction": _ratio(sum(a["attention_total_s"] for a in ads), sum(a["dwell_total_s"] for a in ads)),
        "spend": spend,
        "effective_cpm": _ratio(spend * 1000, impressions, 4),
        "expected_targeted": round(sum(a["expected_targeted"] for a in ads), 2),
        "on_target": _ratio(sum(a["expected_targeted"] for a in ads), sum(a["estimated_impressions"] for a in ads)),
        "likes": sum(a["likes"] for a in ads),
        "dislikes": sum(a["dislikes"] for a in ads),
        "qr_scans": sum(a["qr_scans"] for a in ads),
    }

    days_rows = {r["day"]: r for r in await store.fetchall(DAILY_SQL, params)}
    per_day = []
    for d in period.days:
        r = days_rows.get(d.isoformat(), {})
        per_day.append(
            {
                "day": d.isoformat(),
                "plays": r.get("plays", 0),
                "impressions": r.get("impressions", 0),
                "watchers": r.get("watchers", 0),
                "reach": r.get("reach", 0),
                "spend": round(r.get("spend", 0.0) or 0.0, 4),
            }
        )
    ad_days = []
    for r in await store.fetchall(AD_DAILY_SQL, params):
        imp = r["impressions"]
        spend_d = round(r["spend"] or 0.0, 4)
        ad_days.append(
            {
                "ad_id": r["ad_id"],
                "slug": r["slug"],
                "title": r["title"],
                "day": r["day"],
                "plays": r["plays"],
                "completed": r["completed"],
                "impressions": imp,
                "watchers": r["watchers"],
                "conversion": _ratio(r["watchers"], imp),
                "reach": r["reach"],
                "frequency": _ratio(imp, r["reach"]),
                "avg_dwell_s": _ratio(r["dwell_total_s"], imp, 2),
                "avg_attention_s": _ratio(r["attention_total_s"], imp, 2),
                "attraction": _ratio(r["attention_total_s"], r["dwell_total_s"]),
                "spend": spend_d,
                "effective_cpm": _ratio(spend_d * 1000, imp, 4),
                "likes": r["likes"],
                "dislikes": r["dislikes"],
                "qr_scans": r["qr_scans"],
            }
        )
    hours = {r["hour"]: r for r in await store.fetchall(HOURLY_SQL, params)}
    per_hour = [
        {
            "hour": h,
            "impressions": hours.get(h, {}).get("impressions", 0),
            "watchers": hours.get(h, {}).get("watchers", 0),
        }
        for h in range(24)
    ]

    slug_of = {a["ad_id"]: a["slug"] for a in ads}
    segments: dict[str, list[dict[str, Any]]] = {}
    for col, labels in SEGMENTS.items():
        rows = await store.fetchall(SEGMENT_SQL.format(exposures=_EXPOSURES, col=col), params)
        out = []
        for r in rows:
            imp = r["impressions"]
            out.append(
                {
                    "ad_id": r["ad_id"],
                    "slug": slug_of.get(r["ad_id"], str(r["ad_id"])),
                    "segment": r["segment"],
                    "impressions": imp,
                    "watchers": r["watchers"],
                    "reach": r["reach"],
                    "conversion": _ratio(r["watchers"], imp),
                    "avg_dwell_s": _ratio(r["dwell_total_s"], imp, 2),
                    "avg_attention_s": _ratio(r["attention_total_s"], imp, 2),
                }
            )
        order = {v: i for i, v in enumerate(labels + ("unknown",))}
        out.sort(key=lambda x: (x["slug"], order.get(x["segment"], 99)))
        segments[col] = out

    at = datetime.fromtimestamp(now)
    pace = [pacing(r, at) for r in await store.fetchall(PACING_SQL)]

    cutoff = now - config.privacy.retention_days * 86400
    notes = [
        "Impressions are OTS: sessions present for at least "
        f"{aud_cfg.min_exposure_s:g} s during a play. Watchers: of those, facing the screen for at least "
        f"{aud_cfg.watcher_s:g} s.",
        "Reach counts anonymous sessions (face tracks), not people: a person who comes back is a new "
        "session. Frequency = impressions ÷ reach.",
        "Dwell and attention are average seconds per impression; attraction = attention ÷ dwell.",
    ]
    if period.since < cutoff:
        notes.append(
            f"Per-session records are kept {config.privacy.retention_days} days (privacy.retention_days): "
            f"before {datetime.fromtimestamp(cutoff):%Y-%m-%d %H:%M} only plays, spend and the plays' stored "
            f"totals remain, so impressions, reach and segments above cover only the days since."
        )
    return {
        "device": {"id": config.device.id, "location": config.device.location},
        "period": {
            "since": period.first.isoformat(),
            "until": period.last.isoformat(),
            "since_ts": period.since,
            "until_ts": period.until,
        },
        "generated_at": now,
        "definitions": notes,
        "totals": totals,
        "ads": ads,
        "per_day": per_day,
        "ad_days": ad_days,
        "per_hour": per_hour,
        "segments": segments,
        "pacing": pace,
        "audience": audience,
    }


# --- on-target share ------------------------------------------------------------------------------

ON_TARGET_SQL = """
SELECT p.id AS play_id, a.slug, a.moods, a.age_groups, a.genders, s.mood_p, s.age_group_p, s.gender_p
FROM plays p JOIN ads a ON a.id = p.ad_id JOIN exposures x ON x.play_id = p.id
JOIN sessions s ON s.id = x.session_id
WHERE p.kind = 'ad' AND p.started_at >= :since AND p.started_at < :until AND x.present_s >= :min_exposure {ids}
"""


def _on_target_sums(rows: list[Mapping[str, Any]]) -> tuple[dict[int, list[float]], dict[str, list[float]]]:
    """Sum of P(session matches the ad's targeting) and the count, per play and per ad: the same
    `match_probability` the decision scores with, over the sessions each play reached."""
    targets: dict[str, AdState] = {}
    per_play: dict[int, list[float]] = {}
    per_ad: dict[str, list[float]] = {}
    for r in rows:
        ad = targets.get(r["slug"])
        if ad is None:
            ad = targets[r["slug"]] = AdState(
                slug=r["slug"],
                moods=tuple(json.loads(r["moods"] or "[]")),
                age_groups=tuple(json.loads(r["age_groups"] or "[]")),
                genders=tuple(json.loads(r["genders"] or "[]")),
            )
        p = match_probability(
            ad,
            Viewer(
                session_id="",
                mood_p=_json_obj(r["mood_p"]),
                age_p=_json_obj(r["age_group_p"]),
                gender_p=_json_obj(r["gender_p"]),
            ),
        )
        for acc in (per_play.setdefault(r["play_id"], [0.0, 0]), per_ad.setdefault(r["slug"], [0.0, 0])):
            acc[0] += p
            acc[1] += 1
    return per_play, per_ad


async def on_target(
    store: Any, since: float, until: float, min_exposure_s: float, play_ids: list[int] | None = None
) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    """On-target share = expected targeted impressions / impressions, per play and per ad.

    Expected targeted impressions: for each impression (a session present >= the minimum
    exposure), the probability that this session matches the ad's targeting (mood x age group
    x gender, from the session's estimates), summed. Sessions still in front of the screen have
    no stored estimates yet and are left out of both sums."""
    ids = ""
    params: dict[str, Any] = {"since": since, "until": until, "min_exposure": min_exposure_s - 1e-9}
    if play_ids is not None:
        if not play_ids:
            return {}, {}
        ids = "AND p.id IN (" + ",".join(str(int(i)) for i in play_ids) + ")"
    rows = await store.fetchall(ON_TARGET_SQL.format(ids=ids), params)
    import asyncio

    per_play, per_ad = await asyncio.to_thread(_on_target_sums, rows)  # JSON for every impression: off the loop

    def shape(acc: list[float]) -> dict[str, Any]:
        return {
            "expected_targeted": round(acc[0], 2),
            "estimated_impressions": int(acc[1]),
            "on_target": _ratio(acc[0], acc[1]),
        }

    return {k: shape(v) for k, v in per_play.items()}, {k: shape(v) for k, v in per_ad.items()}


# --- proof of play -------------------------------------------------------------------------------

PLAYS_SQL = """
SELECT p.id, p.kind, p.started_at, p.ended_at, p.completed, p.impressions, p.watchers, p.spend,
       p.audience, a.slug, a.title, a.advertiser,
       (SELECT COUNT(*) FROM ratings r WHERE r.play_id = p.id AND r.value > 0) AS likes,
       (SELECT COUNT(*) FROM ratings r WHERE r.play_id = p.id AND r.value < 0) AS dislikes,
       (SELECT COUNT(*) FROM mobile_visits v WHERE v.play_id = p.id) AS qr_scans
FROM plays p LEFT JOIN ads a ON a.id = p.ad_id
WHERE p.started_at >= :since AND p.started_at < :until {kind}
ORDER BY p.started_at DESC, p.id DESC LIMIT :limit OFFSET :offset
"""


def _top(mix: Any) -> str:
    if not isinstance(mix, dict) or not mix:
        return ""
    items = sorted(((k, v) for k, v in mix.items() if isinstance(v, (int, float)) and v > 0), key=lambda kv: -kv[1])[:3]
    return ", ".join(f"{k} {round(100 * v)}%" for k, v in items)


async def plays_page(
    store: Any, period: Period, *, page: int = 1, per_page: int = 50, kind: str = "ad", min_exposure_s: float = 1.0
) -> dict[str, Any]:
    await store.flush()
    kind_sql = "AND p.kind = :kindv" if kind in ("ad", "healing") else ""
    params = {"since": period.since, "until": period.until, "kindv": kind}
    total = int(
        await store.scalar(
            f"SELECT COUNT(*) FROM plays p WHERE p.started_at >= :since AND p.started_at < :until {kind_sql}", params
        )
        or 0
    )
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = await store.fetchall(
        PLAYS_SQL.format(kind=kind_sql), {**params, "limit": per_page, "offset": (page - 1) * per_page}
    )
    for r in rows:
        aud = _json_obj(r.pop("audience"))
        r["duration_s"] = round(r["ended_at"] - r["started_at"], 1) if r["ended_at"] else None
        r["present_at_start"] = aud.get("present_at_start")
        r["mood_mix"] = _top(aud.get("mood_mix"))
        r["age_group_mix"] = _top(aud.get("age_group_mix"))
        r["gender_mix"] = _top(aud.get("gender_mix"))
        r["spend"] = round(r["spend"] or 0.0, 4)
    by_play, _ = await on_target(
        store, period.since, period.until, min_exposure_s, play_ids=[r["id"] for r in rows if r["kind"] == "ad"]
    )
    for r in rows:
        r.update(by_play.get(r["id"], {"expected_targeted": None, "estimated_impressions": 0, "on_target": None}))
    return {"rows": rows, "page": page, "pages": pages, "total": total, "per_page": per_page, "kind": kind}


CSV_TABLES = {
    "ads": (
        "slug",
        "title",
        "advertiser",
        "status",
        "plays",
        "completed",
        "impressions",
        "watchers",
        "conversion",
        "reach",
        "frequency",
        "avg_dwell_s",
        "avg_attention_s",
        "attraction",
        "spend",
        "effective_cpm",
        "price_cpm",
        "budget",
        "budget_left",
        "currency",
        "expected_targeted",
        "on_target",
        "likes",
        "dislikes",
        "qr_scans",
    ),
    "days": ("day", "plays", "impressions", "watchers", "reach", "spend", "currency"),
    "ad_days": (
        "slug",
        "title",
        "day",
        "plays",
        "completed",
        "impressions",
        "watchers",
        "conversion",
        "reach",
        "frequency",
        "avg_dwell_s",
        "avg_attention_s",
        "attraction",
        "spend",
        "effective_cpm",
        "currency",
        "likes",
        "dislikes",
        "qr_scans",
    ),
    "hours": ("hour", "impressions", "watchers"),
    "age_group": (
        "slug",
        "segment",
        "impressions",
        "watchers",
        "conversion",
        "reach",
        "avg_dwell_s",
        "avg_attention_s",
    ),
    "gender": ("slug", "segment", "impressions", "watchers", "conversion", "reach", "avg_dwell_s", "avg_attention_s"),
    "mood": ("slug", "segment", "impressions", "watchers", "conversion", "reach", "avg_dwell_s", "avg_attention_s"),
    "pacing": (
        "slug",
        "title",
        "status",
        "cpm",
        "budget",
        "spent",
        "budget_left",
        "currency",
        "flight",
        "planned_to_date",
        "pace",
        "pacing",
        "impressions_to_date",
        "reference_figure",
    ),
    "plays": (
        "id",
        "kind",
        "slug",
        "title",
        "started_at",
        "ended_at",
        "duration_s",
        "completed",
        "impressions",
        "watchers",
        "spend",
        "currency",
        "expected_targeted",
        "on_target",
        "present_at_start",
        "mood_mix",
        "age_group_mix",
        "gender_mix",
        "likes",
        "dislikes",
        "qr_scans",
    ),
}


def table_rows(report: Mapping[str, Any], table: str) -> list[Mapping[str, Any]]:
    """The rows of one CSV table (a key of CSV_TABLES) of a report from `build_report`."""
    rows: list[Mapping[str, Any]]
    if table == "ads":
        rows = report["ads"]
    elif table == "days":
        rows = report["per_day"]
    elif table == "ad_days":
        rows = report["ad_days"]
    elif table == "hours":
        rows = report["per_hour"]
    elif table in SEGMENTS:
        rows = report["segments"][table]
    elif table == "pacing":
        rows = report["pacing"]
    else:
        raise KeyError(table)
    return rows
