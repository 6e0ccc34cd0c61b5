"""Per-ad delivery and audience totals, as SQL (definitions: docs/architecture.md): the
project's one implementation of those metrics, shared by `signage ads report` and the admin
report.

Per ad, over plays that *started* in [since, until):
- plays, completed plays
- impressions (OTS): exposure records of >= min_exposure_s (one session x one play)
- watchers: those impressions whose session was frontal for >= watcher_s during the play
  (the watcher-based count reported beside OTS); conversion = watchers / impressions
- reach: unique anonymous *sessions* with >= 1 impression (sessions, not people: a
  returning person is a new session); frequency = impressions / reach
- dwell / attention: mean seconds present / frontal per impression; attraction = attention / dwell
- spend: sum of the plays' spend (cpm x impressions / 1000); effective CPM = spend / impressions x 1000
- ratings up/down and mobile-page visits

Audience totals: sessions that started in the period, their dwell and attention
(attention <= dwell), watchers (attention >= watcher_s) and the mood / age / gender mix.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

from ..vocabulary import AGE_GROUPS, GENDERS, MOODS

__all__ = ["ad_report", "audience_report", "totals", "parse_since", "format_ad_report"]

AD_REPORT_SQL = """
WITH p AS (
    SELECT id, ad_id, completed, spend FROM plays
    WHERE kind = 'ad' AND started_at >= :since AND started_at < :until
),
e AS (
    SELECT p.ad_id, x.session_id, x.present_s, x.watching_s
    FROM exposures x JOIN p ON p.id = x.play_id
    WHERE x.present_s >= :min_exposure
),
pa AS (
    SELECT ad_id, COUNT(*) AS plays, SUM(completed) AS completed, SUM(spend) AS spend
    FROM p GROUP BY ad_id
),
ea AS (
    SELECT ad_id, COUNT(*) AS impressions,
           SUM(CASE WHEN watching_s >= :watcher_s THEN 1 ELSE 0 END) AS watchers,
           COUNT(DISTINCT session_id) AS reach,
           SUM(present_s) AS dwell_s, SUM(watching_s) AS attention_s
    FROM e GROUP BY ad_id
),
ra AS (
    SELECT p.ad_id, SUM(CASE WHEN r.value > 0 THEN 1 ELSE 0 END) AS up,
           SUM(CASE WHEN r.value < 0 THEN 1 ELSE 0 END) AS down
    FROM ratings r JOIN p ON p.id = r.play_id GROUP BY p.ad_id
),
mv AS (
    SELECT p.ad_id, COUNT(*) AS visits FROM mobile_visits v JOIN p ON p.id = v.play_id GROUP BY p.ad_id
)
SELECT a.id AS ad_id, a.slug, a.title, a.advertiser, a.cpm AS price_cpm, a.budget, a.status,
       pa.plays, COALESCE(pa.completed, 0) AS completed, COALESCE(pa.spend, 0) AS spend,
       COALESCE(ea.impressions, 0) AS impressions, COALESCE(ea.watchers, 0) AS watchers,
       COALESCE(ea.reach, 0) AS reach, COALESCE(ea.dwell_s, 0) AS dwell_total_s,
       COALESCE(ea.attention_s, 0) AS attention_total_s,
       COALESCE(ra.up, 0) AS rating_up, COALESCE(ra.down, 0) AS rating_down,
       COALESCE(mv.visits, 0) AS mobile_visits
FROM pa JOIN ads a ON a.id = pa.ad_id
LEFT JOIN ea ON ea.ad_id = pa.ad_id
LEFT JOIN ra ON ra.ad_id = pa.ad_id
LEFT JOIN mv ON mv.ad_id = pa.ad_id
ORDER BY spend DESC, impressions DESC, a.slug
"""

SPENT_TOTAL_SQL = """
SELECT ad_id, SUM(spend) AS spent_total FROM plays WHERE kind = 'ad' GROUP BY ad_id
"""


def _ratio(a: float, b: float, digits: int = 3) -> float | None:
    return round(a / b, digits) if b else None


async def ad_report(
    store: Any, since: float, until: float | None = None, *, min_exposure_s: float = 1.0, watcher_s: float = 1.0
) -> list[dict[str, Any]]:
    """One row per ad that played in [since, until)."""
    until = time.time() + 1e9 if until is None else until
    rows = await store.fetchall(
        AD_REPORT_SQL,
        {"since": since, "until": until, "min_exposure": min_exposure_s - 1e-9, "watcher_s": watcher_s - 1e-9},
    )
    spent = {r["ad_id"]: r["spent_total"] for r in await store.fetchall(SPENT_TOTAL_SQL)}
    out = []
    for r in rows:
        imp = r["impressions"]
        r["spend"] = round(r["spend"], 4)
        r["conversion"] = _ratio(r["watchers"], imp)
        r["frequency"] = _ratio(imp, r["reach"])
        r["avg_dwell_s"] = _ratio(r["dwell_total_s"], imp, 2)
        r["avg_attention_s"] = _ratio(r["attention_total_s"], imp, 2)
        r["attraction"] = _ratio(r["attention_total_s"], r["dwell_total_s"])
        r["effective_cpm"] = _ratio(r["spend"] * 1000, imp, 4)
        r["budget_left"] = round(max(0.0, r["budget"] - (spent.get(r["ad_id"]) or 0.0)), 4)
        r["dwell_total_s"] = round(r["dwell_total_s"], 3)
        r["attention_total_s"] = round(r["attention_total_s"], 3)
        out.append(r)
    return out


async def audience_report(
    store: Any, since: float, until: float | None = None, *, watcher_s: float = 1.0
) -> dict[str, Any]:
    """Sessions that started in [since, until): counts, dwell, attention and the mixes."""
    until = time.time() + 1e9 if until is None else until
    params = {"since": since, "until": until, "watcher_s": watcher_s - 1e-9}
    row = await store.fetchone(
        "SELECT COUNT(*) AS sessions, COALESCE(SUM(dwell_s), 0) AS dwell_total_s, "
        "COALESCE(SUM(attention_s), 0) AS attention_total_s, "
        "COALESCE(SUM(CASE WHEN attention_s >= :watcher_s THEN 1 ELSE 0 END), 0) AS watchers "
        "FROM sessions WHERE started_at >= :since AND started_at < :until",
        params,
    )
    out: dict[str, Any] = dict(row or {})
    n = out.get("sessions", 0)
    out["avg_dwell_s"] = _ratio(out["dwell_total_s"], n, 2)
    out["avg_attention_s"] = _ratio(out["attention_total_s"], n, 2)
    out["attraction"] = _ratio(out["attention_total_s"], out["dwell_total_s"])
    out["conversion"] = _ratio(out["watchers"], n)
    for col, labels, key in (
        ("mood", MOODS, "mood_mix"),
        ("age_group", AGE_GROUPS, "age_group_mix"),
        ("gender", GENDERS, "gender_mix"),
    ):
        counts = {
            r["v"]: r["n"]
            for r in await store.fetchall(
                f"SELECT {col} AS v, COUNT(*) AS n FROM sessions WHERE started_at >= :since "
                f"AND started_at < :until GROUP BY {col}",
                params,
            )
        }
        out[key] = {k: counts.get(k, 0) for k in labels}
        if counts.get(None):
            out[key]["unknown"] = counts[None]
    return out


async def totals(store: Any, since: float, until: float | None = None, **kw: Any) -> dict[str, Any]:
    ads = await ad_report(store, since, until, **kw)
    imp = sum(a["impressions"] for a in ads)
    spend = round(sum(a["spend"] for a in ads), 4)
    return {
        "plays": sum(a["plays"] for a in ads),
        "impressions": imp,
        "watchers": sum(a["watchers"] for a in ads),
        "spend": spend,
        "effective_cpm": _ratio(spend * 1000, imp, 4),
    }


# --- CLI helpers ----------------------------------------------------------------------------------

_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """'24h', '7d', '30m', 'today', 'yesterday', '2026-11-01' or '2026-11-01T08:00' -> Unix time
    (local time for dates). Raises ValueError with a readable message."""
    now = time.time() if now is None else now
    t = text.strip().lower()
    m = _REL.match(t)
    if m:
        return now - float(m.group(1)) * _UNIT[m.group(2)]
    midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if t == "today":
        return midnight.timestamp()
    if t == "yesterday":
        return (midnight - timedelta(days=1)).timestamp()
    if t in ("all", "ever", "0"):
        return 0.0
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(f"{text!r}: not a time; use e.g. 24h, 7d, today, 2026-11-01 or 2026-11-01T08:00") from None


def format_ad_report(
    rows: list[dict[str, Any]], since: float, until: float | None, audience: dict[str, Any] | None = None
) -> str:
    def fmt(v: Any, spec: str = "") -> str:
        if v is None:
            return "-"
        return format(v, spec) if spec else str(v)

    head = (
        f"Ad delivery from {datetime.fromtimestamp(since):%Y-%m-%d %H:%M} to "
        f"{datetime.fromtimestamp(until):%Y-%m-%d %H:%M}"
        if until
        else f"Ad delivery since {datetime.fromtimestamp(since):%Y-%m-%d %H:%M}"
    )
    cols = (
        "ad",
        "plays",
        "impr(OTS)",
        "watchers",
        "reach(sess)",
        "freq",
        "dwell s",
        "attn s",
        "spend",
        "eff.CPM",
        "budget left",
    )
    lines = [head, "", "  ".join(f"{c:>11}" if i else f"{c:<24}" for i, c in enumerate(cols))]
    for r in rows:
        vals = [
            r["slug"][:24],
            fmt(r["plays"]),
            fmt(r["impressions"]),
            fmt(r["watchers"]),
            fmt(r["reach"]),
            fmt(r["frequency"], ".2f"),
            fmt(r["avg_dwell_s"], ".1f"),
            fmt(r["avg_attention_s"], ".1f"),
            fmt(r["spend"], ".2f"),
            fmt(r["effective_cpm"], ".2f"),
            fmt(r["budget_left"], ".2f"),
        ]
        lines.append("  ".join(f"{v:>11}" if i else f"{v:<24}" for i, v in enumerate(vals)))
    if not rows:
        lines.append("(no ad plays in this period)")
    lines += [
        "",
        "impressions (OTS) = sessions present >= 1 s during a play; watchers = of those, frontal >= 1 s;",
        "reach counts anonymous sessions (a returning person is a new "
        "session); dwell/attn = mean seconds per impression.",
    ]
    if audience:
        lines += [
            "",
            f"Audience: {audience['sessions']} sessions, {audience['watchers']} watchers "
            f"(conversion {fmt(audience['conversion'], '.2f')}), mean dwell "
            f"{fmt(audience['avg_dwell_s'], '.1f')} s, mean attention "
            f"{fmt(audience['avg_attention_s'], '.1f')} s",
        ]
    return "\n".join(lines)
