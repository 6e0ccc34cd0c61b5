"""On-target share and clean CSV on a hand-made real SQLite file: the figures are worked out
here by hand from the sessions' estimates and the ad's targeting."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest

from signage.app import Appliance
from signage.reports.admin_report import on_target
from test_admin_support import login, make_config, start, stop

TODAY = date.today()
NOON = datetime.combine(TODAY, datetime.min.time()).timestamp() + 12 * 3600


async def seed(store):
    # Ridgeline targets men of 20-59; a house ad targets everyone
    await store.execute(
        "INSERT INTO ads (id, slug, title, advertiser, media, media_type, duration_s, cpm, budget, start_date, end_date, "
        "genders, age_groups, updated_at) VALUES (1, 'ridgeline', 'Ridgeline', 'R', 'a.png', 'image', 10, 15, 600, ?, ?, "
        '\'["male"]\', \'["20-39", "40-59"]\', 0)',
        ((TODAY - timedelta(days=3)).isoformat(), (TODAY + timedelta(days=3)).isoformat()),
    )
    await store.execute(
        "INSERT INTO ads (id, slug, title, advertiser, media, media_type, duration_s, cpm, budget, start_date, end_date, "
        "updated_at) VALUES (2, 'library', 'Library', 'L', 'a.png', 'image', 10, 0, 0, ?, ?, 0)",
        ((TODAY - timedelta(days=3)).isoformat(), (TODAY + timedelta(days=3)).isoformat()),
    )
    people = {  # session: (P(male), P(20-39), P(40-59))
        "w1": (0.1, 0.8, 0.2),
        "w2": (0.05, 0.9, 0.1),
        "m1": (0.9, 0.7, 0.3),
        "kid": (0.9, 0.0, 0.0),
    }
    for sid, (pm, p2039, p4059) in people.items():
        age = {"20-39": p2039, "40-59": p4059, "child": 1.0 - p2039 - p4059}
        await store.execute(
            "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, gender_p, age_group_p, mood_p) "
            "VALUES (?, ?, ?, 20, 5, ?, ?, '{}')",
            (sid, NOON - 60, NOON + 60, json.dumps({"male": pm, "female": 1 - pm}), json.dumps(age)),
        )
    # play 1 (ridgeline): w1, w2, m1 present long enough, kid for 0.5 s only (not an impression)
    for pid, ad, exps in ((1, 1, [("w1", 9), ("w2", 9), ("m1", 9), ("kid", 0.5)]), (2, 2, [("w1", 5), ("kid", 5)])):
        await store.execute(
            "INSERT INTO plays (id, ad_id, kind, started_at, ended_at, completed, impressions, spend) "
            "VALUES (?, ?, 'ad', ?, ?, 1, ?, 0.045)",
            (pid, ad, NOON + pid, NOON + pid + 10, sum(1 for e in exps if e[1] >= 1)),
        )
        for sid, present in exps:
            await store.execute("INSERT INTO exposures VALUES (?, ?, ?, 0)", (pid, sid, present))


def expected_ridgeline():
    return 0.1 * 1.0 + 0.05 * 1.0 + 0.9 * 1.0  # P(male) x P(20-59); every age here is 20-59 or child


@pytest.fixture
async def env(tmp_path):
    appliance = Appliance(make_config(tmp_path, ads={"currency": "GBP"}))
    client = await start(appliance)
    await seed(appliance.store)
    await login(client)
    yield client, appliance
    await stop(client, appliance)


async def test_on_target_share_per_play_and_per_ad(env):
    client, appliance = env
    per_play, per_ad = await on_target(appliance.store, NOON - 3600, NOON + 3600, 1.0)
    assert per_play[1]["estimated_impressions"] == 3
    assert per_play[1]["expected_targeted"] == pytest.approx(expected_ridgeline(), abs=0.01)
    assert per_play[1]["on_target"] == pytest.approx(expected_ridgeline() / 3, abs=0.001)
    assert per_play[2]["on_target"] == 1.0  # targets everyone
    assert per_ad["ridgeline"]["on_target"] == per_play[1]["on_target"]


async def test_page_and_csv_show_currency_and_on_target_with_the_header_first(env):
    client, appliance = env
    q = f"since={TODAY.isoformat()}&until={TODAY.isoformat()}"
    page = await (await client.get(f"/admin/reports?{q}")).text()
    share = f"{100 * expected_ridgeline() / 3:.1f} %"
    assert share in page and "GBP" in page and "👍" not in page
    r = await client.get(f"/admin/reports.csv?table=ads&{q}")
    text = await r.text()
    assert text.splitlines()[0].startswith("slug,title,advertiser")  # the header, first
    assert TODAY.isoformat() in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    ridge = next(row for row in rows if row["slug"] == "ridgeline")
    assert ridge["currency"] == "GBP"
    assert float(ridge["on_target"]) == pytest.approx(expected_ridgeline() / 3, abs=0.001)
    r = await client.get(f"/admin/plays.csv?{q}")
    plays = list(csv.DictReader(io.StringIO(await r.text())))
    assert {p["id"]: p["on_target"] for p in plays} == {"1": f"{expected_ridgeline() / 3:.3f}".rstrip("0"), "2": "1.0"}
    page = await (await client.get(f"/admin/plays?{q}")).text()
    assert share in page and "👍" not in page and '<svg class="icon icon-thumb-up"' in page
