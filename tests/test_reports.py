"""Report numbers on hand-made plays, exposures and sessions, checked against the metric
definitions and against direct SQL; the `report` CLI."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

import pytest

from signage.ads import cli
from signage.config import config_from_dict
from signage.reports.delivery import ad_report, audience_report, format_ad_report, parse_since, totals
from signage.reports.public import play_by_token
from signage.store import Store

T0 = 1_800_000_000.0


async def seed(store: Store) -> None:
    ad = (
        "INSERT INTO ads (id, slug, title, media, media_type, duration_s, cpm, budget, details, updated_at) "
        "VALUES (?, ?, ?, 'c.html', 'html', 10, ?, ?, '{\"phone\": \"1\"}', 0)"
    )
    play = (
        "INSERT INTO plays (id, ad_id, kind, token, started_at, ended_at, completed, impressions, "
        "watchers, spend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    exp = "INSERT INTO exposures (play_id, session_id, present_s, watching_s) VALUES (?, ?, ?, ?)"
    sess = (
        "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, age_group, gender, mood) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    await store.executemany_now(
        [
            (ad, (1, "alpha", "Alpha", 10.0, 100.0)),
            (ad, (2, "beta", "Beta", 20.0, 50.0)),
            # alpha: 3 plays in the period; sessions s1 (twice), s2, s3
            (play, (1, 1, "ad", "tok1", T0 + 0, T0 + 10, 1, 2, 1, 10.0 * 2 / 1000)),
            (play, (2, 1, "ad", "tok2", T0 + 100, T0 + 110, 1, 2, 2, 10.0 * 2 / 1000)),
            (play, (3, 1, "ad", "tok3", T0 + 200, T0 + 205, 0, 0, 0, 0.0)),
            # beta: 1 play in the period, 1 before it
            (play, (4, 2, "ad", "tok4", T0 + 300, T0 + 310, 1, 1, 0, 20.0 / 1000)),
            (play, (5, 2, "ad", "tok5", T0 - 5000, T0 - 4990, 1, 1, 1, 20.0 / 1000)),
            (play, (6, None, "healing", None, T0 + 400, T0 + 430, 1, 1, 1, 0.0)),
            (exp, (1, "s1", 8.0, 4.0)),
            (exp, (1, "s2", 3.0, 0.5)),
            (exp, (2, "s1", 10.0, 9.0)),
            (exp, (2, "s3", 2.0, 1.0)),
            (exp, (4, "s4", 6.0, 0.0)),
            (exp, (5, "s9", 6.0, 6.0)),
            (sess, ("s1", T0 - 1, T0 + 120, 121.0, 40.0, "20-39", "female", "happy")),
            (sess, ("s2", T0 + 1, T0 + 5, 4.0, 0.5, "60+", "male", "neutral")),
            (sess, ("s3", T0 + 101, T0 + 104, 3.0, 1.0, "20-39", "male", "happy")),
            (sess, ("s4", T0 + 300, T0 + 306, 6.0, 0.0, None, None, None)),
            ("INSERT INTO ratings (play_id, value, source, device, created_at) VALUES (1, 1, 'panel', 'p', ?)", (T0,)),
            (
                "INSERT INTO ratings (play_id, value, source, device, created_at) VALUES (1, -1, 'mobile', 'm', ?)",
                (T0,),
            ),
            ("INSERT INTO mobile_visits (play_id, created_at) VALUES (2, ?)", (T0,)),
        ]
    )


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "data" / "signage.db"


@pytest.mark.asyncio
async def test_ad_report_matches_the_definitions(db_path):
    store = Store(db_path, 60)
    await store.open()
    try:
        await seed(store)
        rows = {r["slug"]: r for r in await ad_report(store, T0 - 10, T0 + 1000)}
        a = rows["alpha"]
        assert a["plays"] == 3 and a["completed"] == 2
        assert a["impressions"] == 4  # OTS: (s1, s2) + (s1, s3)
        assert a["watchers"] == 3  # frontal >= 1 s: s1, s1, s3 (s2 only 0.5 s)
        assert a["reach"] == 3  # unique sessions s1, s2, s3
        assert a["frequency"] == pytest.approx(4 / 3, abs=1e-3)
        assert a["avg_dwell_s"] == pytest.approx((8 + 3 + 10 + 2) / 4, abs=0.01)
        assert a["avg_attention_s"] == pytest.approx((4 + 0.5 + 9 + 1) / 4, abs=0.01)
        assert a["attraction"] == pytest.approx(14.5 / 23, abs=1e-3)
        assert a["spend"] == pytest.approx(0.04)
        assert a["effective_cpm"] == pytest.approx(0.04 / 4 * 1000)  # = the price when every impression is paid
        assert a["conversion"] == pytest.approx(0.75)
        assert a["rating_up"] == 1 and a["rating_down"] == 1 and a["mobile_visits"] == 1
        assert a["budget_left"] == pytest.approx(100.0 - 0.04)
        b = rows["beta"]
        assert b["plays"] == 1 and b["impressions"] == 1 and b["watchers"] == 0 and b["reach"] == 1
        assert b["spend"] == pytest.approx(0.02) and b["budget_left"] == pytest.approx(50.0 - 0.04)
        assert set(rows) == {"alpha", "beta"}  # healing plays are not ads

        # the same numbers straight from SQL
        direct = await store.fetchone(
            "SELECT COUNT(*) AS imp, COUNT(DISTINCT session_id) AS reach, SUM(watching_s >= 1) AS w "
            "FROM exposures e JOIN plays p ON p.id = e.play_id WHERE p.ad_id = 1 AND e.present_s >= 1"
        )
        assert (direct["imp"], direct["reach"], direct["w"]) == (a["impressions"], a["reach"], a["watchers"])
        assert await store.scalar("SELECT SUM(impressions) FROM plays WHERE ad_id = 1") == a["impressions"]
        assert await store.scalar("SELECT SUM(spend) FROM plays WHERE ad_id = 1") == pytest.approx(a["spend"])

        # a stricter impression threshold and a narrower period
        strict = {r["slug"]: r for r in await ad_report(store, T0 - 10, T0 + 1000, min_exposure_s=5.0)}
        assert strict["alpha"]["impressions"] == 2 and strict["alpha"]["reach"] == 1
        early = {r["slug"]: r for r in await ad_report(store, T0 - 10, T0 + 50)}
        assert list(early) == ["alpha"] and early["alpha"]["plays"] == 1 and early["alpha"]["impressions"] == 2

        tot = await totals(store, T0 - 10, T0 + 1000)
        assert tot == {
            "plays": 4,
            "impressions": 5,
            "watchers": 3,
            "spend": pytest.approx(0.06),
            "effective_cpm": pytest.approx(12.0),
        }

        aud = await audience_report(store, T0 - 10, T0 + 1000)
        assert aud["sessions"] == 4 and aud["watchers"] == 2  # attention >= 1 s: s1, s3
        assert aud["avg_dwell_s"] == pytest.approx((121 + 4 + 3 + 6) / 4, abs=0.01)
        assert aud["attraction"] == pytest.approx(41.5 / 134, abs=1e-3)
        assert aud["mood_mix"]["happy"] == 2 and aud["mood_mix"]["unknown"] == 1
        assert aud["gender_mix"] == {"female": 1, "male": 2, "unknown": 1}

        info = await play_by_token(store, "tok2", retention_days=100_000)
        assert info["slug"] == "alpha" and info["details"] == {"phone": "1"} and info["media"] == "c.html"
        assert await play_by_token(store, "nope", retention_days=100_000) is None

        text = format_ad_report(list(rows.values()), T0 - 10, T0 + 1000, aud)
        assert "alpha" in text and "reach(sess)" in text and "sessions" in text
    finally:
        await store.close()


def test_parse_since():
    now = datetime(2026, 11, 18, 14, 30).timestamp()
    assert parse_since("24h", now) == now - 86400
    assert parse_since("90m", now) == now - 5400
    assert parse_since("today", now) == datetime(2026, 11, 18).timestamp()
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1).timestamp()
    assert parse_since("2026-11-01T08:00", now) == datetime(2026, 11, 1, 8).timestamp()
    with pytest.raises(ValueError, match="not a time"):
        parse_since("last tuesday", now)


def test_report_cli_json(tmp_path, db_path, capsys):
    import asyncio

    async def prepare():
        store = Store(db_path, 60)
        await store.open()
        await seed(store)
        await store.close()

    asyncio.run(prepare())
    config = config_from_dict({"storage": {"data_dir": str(db_path.parent)}})
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    since = datetime.fromtimestamp(T0 - 10).isoformat(timespec="seconds")
    args = parser.parse_args(["report", "--since", since, "--json"])
    assert args.func(args, config) == 0
    out = json.loads(capsys.readouterr().out)
    alpha = next(a for a in out["ads"] if a["slug"] == "alpha")
    assert alpha["impressions"] == 4 and alpha["reach"] == 3 and "sessions" in out["notes"]["reach"]
    args = parser.parse_args(["report", "--since", since])
    assert args.func(args, config) == 0
    assert "alpha" in capsys.readouterr().out
    args = parser.parse_args(["report", "--since", "whenever"])
    assert args.func(args, config) == 2
    assert "not a time" in capsys.readouterr().err
