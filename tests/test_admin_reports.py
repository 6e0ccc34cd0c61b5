"""Reports: the page, the JSON and the CSV agree with direct SQL on a hand-made database."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest

from signage.app import Appliance
from signage.reports.admin_report import Period, pacing
from test_admin_support import login, make_config, start, stop

TODAY = date.today()
NOON = datetime.combine(TODAY, datetime.min.time()).timestamp() + 12 * 3600


async def seed(store):
    ads = [(1, "sunny", "Sunny juice", 20.0, 100.0), (2, "bolt", "Bolt bikes", 10.0, 50.0)]
    for i, slug, title, cpm, budget in ads:
        await store.execute(
            "INSERT INTO ads (id, slug, title, advertiser, media, media_type, duration_s, cpm, budget, start_date, "
            "end_date, updated_at) VALUES (?, ?, ?, 'Adv', 'a.png', 'image', 10, ?, ?, ?, ?, 0)",
            (
                i,
                slug,
                title,
                cpm,
                budget,
                (TODAY - timedelta(days=4)).isoformat(),
                (TODAY + timedelta(days=5)).isoformat(),
            ),
        )
    sessions = {
        "s1": ("20-39", "female", "happy"),
        "s2": ("40-59", "male", "neutral"),
        "s3": ("child", "male", "happy"),
        "s4": ("20-39", "male", "sad"),
    }
    for sid, (age, gender, mood) in sessions.items():
        await store.execute(
            "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, age_group, gender, "
            "mood) VALUES (?, ?, ?, 20, 5, ?, ?, ?)",
            (sid, NOON - 60, NOON + 60, age, gender, mood),
        )
    # play id, ad, start offset (s), exposures (session, present, watching)
    plays = [
        (1, 1, 0, [("s1", 10, 8), ("s2", 10, 0.5)]),
        (2, 1, 3600, [("s1", 6, 6)]),
        (3, 2, -86400, [("s3", 9, 2), ("s4", 3, 0)]),
        (4, 2, -9 * 86400, [("s2", 10, 10)]),
    ]  # outside a 7-day period
    for pid, ad, off, exps in plays:
        t = NOON + off
        spend = [20.0, 10.0][ad - 1] * len(exps) / 1000
        await store.execute(
            "INSERT INTO plays (id, ad_id, kind, started_at, ended_at, completed, impressions, "
            "watchers, spend, audience) VALUES (?, ?, 'ad', ?, ?, 1, ?, ?, ?, ?)",
            (
                pid,
                ad,
                t,
                t + 10,
                len(exps),
                sum(1 for e in exps if e[2] >= 1),
                spend,
                '{"present_at_start": 2, "mood_mix": {"happy": 0.7, "neutral": 0.3}}',
            ),
        )
        for sid, present, watching in exps:
            await store.execute("INSERT INTO exposures VALUES (?, ?, ?, ?)", (pid, sid, present, watching))
    await store.execute(
        "INSERT INTO plays (id, kind, started_at, ended_at, completed) VALUES (5, 'healing', ?, ?, 1)",
        (NOON + 100, NOON + 130),
    )
    await store.execute(
        "INSERT INTO ratings (play_id, value, source, device, created_at) VALUES (1, 1, 'panel', '', ?)", (NOON,)
    )
    await store.execute(
        "INSERT INTO ratings (play_id, value, source, device, created_at) VALUES (1, -1, 'mobile', 'p', ?)", (NOON,)
    )
    await store.execute("INSERT INTO mobile_visits (play_id, created_at) VALUES (2, ?)", (NOON,))


@pytest.fixture
async def env(tmp_path):
    appliance = Appliance(make_config(tmp_path))
    client = await start(appliance)
    await seed(appliance.store)
    await login(client)
    yield client, appliance
    await stop(client, appliance)


def period_q(days=7):
    return f"since={(TODAY - timedelta(days=days - 1)).isoformat()}&until={TODAY.isoformat()}"


async def test_report_json_matches_direct_sql(env):
    client, appliance = env
    r = await client.get(f"/api/report?{period_q()}")
    assert r.status == 200
    rep = await r.json()
    p = Period.from_query({"since": rep["period"]["since"], "until": rep["period"]["until"]})
    direct = await appliance.store.fetchall(
        "SELECT p.ad_id, COUNT(DISTINCT p.id) AS plays, COUNT(x.session_id) AS impressions, "
        "COUNT(DISTINCT x.session_id) AS reach, SUM(CASE WHEN x.watching_s >= 1 THEN 1 ELSE 0 END) AS watchers "
        "FROM plays p JOIN exposures x ON x.play_id = p.id WHERE p.kind = 'ad' AND p.started_at >= ? "
        "AND p.started_at < ? GROUP BY p.ad_id ORDER BY p.ad_id",
        (p.since, p.until),
    )
    by_id = {a["ad_id"]: a for a in rep["ads"]}
    assert set(by_id) == {1, 2}
    for d in direct:
        a = by_id[d["ad_id"]]
        assert (a["plays"], a["impressions"], a["reach"], a["watchers"]) == (
            d["plays"],
            d["impressions"],
            d["reach"],
            d["watchers"],
        )
    sunny = by_id[1]
    assert (sunny["plays"], sunny["impressions"], sunny["watchers"], sunny["reach"]) == (2, 3, 2, 2)
    assert sunny["frequency"] == 1.5 and sunny["spend"] == pytest.approx(0.06)
    assert sunny["effective_cpm"] == pytest.approx(20.0)
    assert (sunny["likes"], sunny["dislikes"], sunny["qr_scans"]) == (1, 1, 1)
    assert rep["totals"]["impressions"] == 5 and rep["totals"]["reach"] == 4
    # segments: sunny's impressions by gender = s1 female x2, s2 male x1
    g = {(r["slug"], r["segment"]): r["impressions"] for r in rep["segments"]["gender"]}
    assert g[("sunny", "female")] == 2 and g[("sunny", "male")] == 1
    assert sum(h["impressions"] for h in rep["per_hour"]) == 5
    assert sum(d["impressions"] for d in rep["per_day"]) == 5
    assert any("sessions" in n and "not people" in n for n in rep["definitions"])


async def test_report_page_and_csv_match(env):
    client, appliance = env
    r = await client.get(f"/admin/reports?{period_q()}")
    assert r.status == 200
    html = await r.text()
    assert 'id="chart-per-hour"' in html and 'id="chart-mood"' in html and "<script" not in html.split("<main>")[1]
    assert "Reach (sessions, not people)" in html
    no_ns = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in no_ns and "https://" not in no_ns  # nothing external to load
    r = await client.get(f"/admin/reports.csv?table=ads&{period_q()}")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = [row for row in csv.reader(io.StringIO(await r.text())) if row and not row[0].startswith("#")]
    header, body = rows[0], rows[1:]
    data = {row[header.index("slug")]: dict(zip(header, row, strict=True)) for row in body}
    assert data["sunny"]["impressions"] == "3" and data["bolt"]["impressions"] == "2"
    assert data["bolt"]["reach"] == "2"
    r = await client.get(f"/admin/reports.csv?table=nope&{period_q()}")
    assert r.status == 400
    r = await client.get("/admin/reports?since=soon")
    assert r.status == 400 and "not a date" in await r.text()


async def test_proof_of_play_is_paged(env):
    client, appliance = env
    for i in range(60):
        await appliance.store.execute(
            "INSERT INTO plays (ad_id, kind, started_at, ended_at, completed) VALUES (1, 'ad', ?, ?, 1)",
            (NOON - 7200 - i, NOON - 7190 - i),
        )
    r = await client.get(f"/admin/plays?{period_q()}")
    html = await r.text()
    assert r.status == 200 and "page 1 of 2" in html and 'id="next"' in html
    r = await client.get(f"/admin/plays?{period_q()}&page=2")
    assert "page 2 of 2" in await r.text()
    r = await client.get(f"/admin/plays.csv?{period_q()}")
    rows = [row for row in csv.reader(io.StringIO(await r.text())) if row and not row[0].startswith("#")]
    assert len(rows) - 1 == 63  # 3 seeded ad plays in the period + 60


def test_pacing_flags_under_and_over_delivery():
    today = datetime(2026, 3, 10, 12, 0)  # day 10 of 20, at noon: 9.5 days of 5.0 planned
    row = {
        "ad_id": 1,
        "slug": "x",
        "title": "X",
        "status": "active",
        "cpm": 10.0,
        "budget": 100.0,
        "start_date": "2026-03-01",
        "end_date": "2026-03-20",
        "spent": 10.0,
        "impressions": 1000,
    }
    p = pacing(row, today)
    assert p["planned_to_date"] == 47.5 and p["pacing"] == "behind"
    assert p["reference_figure"] == pytest.approx(5.0)  # (100 / 20) / 1000 x 1000
    assert pacing({**row, "spent": 80.0}, today)["pacing"] == "ahead"
    assert pacing({**row, "spent": 50.0}, today)["pacing"] == "on track"
    assert pacing({**row, "spent": 100.0}, today)["pacing"] == "budget spent"
    assert pacing(row, datetime(2026, 2, 28, 12, 0))["pacing"] == "not started"
    assert pacing(row, datetime(2026, 3, 25))["pacing"] == "flight ended"
    assert pacing({**row, "start_date": None}, today)["pacing"] == "no flight"


def test_the_report_and_the_decision_pace_against_the_same_plan():
    from signage.ads.selection import AdState, pacing_factor

    row = {
        "ad_id": 1,
        "slug": "x",
        "title": "X",
        "status": "active",
        "cpm": 10.0,
        "budget": 100.0,
        "start_date": "2026-03-01",
        "end_date": "2026-03-20",
        "spent": 10.0,
        "impressions": 1000,
    }
    ad = AdState(
        slug="x",
        cpm=10.0,
        budget=100.0,
        spent=10.0,
        impressions=1000,
        start_date=date(2026, 3, 1),
        end_date=date(2026, 3, 20),
    )
    for at in (datetime(2026, 3, 1, 6), datetime(2026, 3, 10, 12), datetime(2026, 3, 20, 23)):
        _, info = pacing_factor(ad, at)
        assert info["planned_spend"] == pacing(row, at)["planned_to_date"]


async def test_per_ad_per_day_table_json_page_and_csv_match_direct_sql(env):
    client, appliance = env
    rep = await (await client.get(f"/api/report?{period_q()}")).json()
    p = Period.from_query({"since": rep["period"]["since"], "until": rep["period"]["until"]})
    direct = await appliance.store.fetchall(
        "SELECT a.slug, date(p.started_at, 'unixepoch', 'localtime') AS day, COUNT(DISTINCT p.id) AS plays, "
        "COUNT(x.session_id) AS impressions, COUNT(DISTINCT x.session_id) AS reach, "
        "SUM(CASE WHEN x.watching_s >= 1 THEN 1 ELSE 0 END) AS watchers "
        "FROM plays p JOIN ads a ON a.id = p.ad_id LEFT JOIN exposures x ON x.play_id = p.id AND x.present_s >= 1 "
        "WHERE p.kind = 'ad' AND p.started_at >= ? AND p.started_at < ? GROUP BY a.slug, day ORDER BY a.slug, day",
        (p.since, p.until),
    )
    spend = {
        (r["slug"], r["day"]): r["spend"]
        for r in await appliance.store.fetchall(
            "SELECT a.slug, date(p.started_at, 'unixepoch', 'localtime') AS day, SUM(p.spend) AS spend "
            "FROM plays p JOIN ads a ON a.id = p.ad_id WHERE p.kind = 'ad' AND p.started_at >= ? AND p.started_at < ? "
            "GROUP BY a.slug, day",
            (p.since, p.until),
        )
    }
    got = [(r["slug"], r["day"], r["plays"], r["impressions"], r["reach"], r["watchers"]) for r in rep["ad_days"]]
    assert got == [(d["slug"], d["day"], d["plays"], d["impressions"], d["reach"], d["watchers"]) for d in direct]
    assert len(got) == 2  # sunny today (2 plays), bolt yesterday (1); bolt's older play is outside
    for r in rep["ad_days"]:
        assert r["spend"] == pytest.approx(spend[(r["slug"], r["day"])])
    sunny = next(r for r in rep["ad_days"] if r["slug"] == "sunny")
    assert (sunny["day"], sunny["plays"], sunny["impressions"]) == (TODAY.isoformat(), 2, 3)
    assert (sunny["likes"], sunny["dislikes"], sunny["qr_scans"]) == (1, 1, 1)
    assert sunny["frequency"] == 1.5 and sunny["effective_cpm"] == pytest.approx(20.0)
    # the per-ad-day rows add up to the per-ad rows
    for a in rep["ads"]:
        rows = [r for r in rep["ad_days"] if r["slug"] == a["slug"]]
        assert sum(r["plays"] for r in rows) == a["plays"]
        assert sum(r["impressions"] for r in rows) == a["impressions"]
    # the page shows the same numbers
    html = await (await client.get(f"/admin/reports?{period_q()}")).text()
    assert 'id="ad-days-table"' in html
    row = html.split(f'<tr data-slug="sunny" data-day="{TODAY.isoformat()}">')[1].split("</tr>")[0]
    assert '<td class="n" data-k="plays">2</td>' in row and '<td class="n" data-k="impressions">3</td>' in row
    # ...and so does the CSV
    r = await client.get(f"/admin/reports.csv?table=ad_days&{period_q()}")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "ad_days" in r.headers["Content-Disposition"]
    rows = [row for row in csv.reader(io.StringIO(await r.text())) if row and not row[0].startswith("#")]
    header, body = rows[0], rows[1:]
    data = {(row[header.index("slug")], row[header.index("day")]): dict(zip(header, row, strict=True)) for row in body}
    assert set(data) == {(s, d) for s, d, *_ in got}
    assert data[("sunny", TODAY.isoformat())]["impressions"] == "3"
    assert data[("sunny", TODAY.isoformat())]["reach"] == "2"
