"""`/metrics` parses with Prometheus' own text-format parser and says what the database holds;
`/api/audience` and `/ws/audience` give anonymous data only."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from signage.app import Appliance
from support import StillCamera, track, vision_result
from test_admin_support import login, make_config, start, stop


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def env(tmp_path):
    camera = StillCamera(np.full((240, 320, 3), 90, np.uint8), fps=20.0)
    appliance = Appliance(
        make_config(tmp_path, camera={"stall_seconds": 1.0, "retry_max_seconds": 1.0}), camera_opener=camera.opener
    )
    client = await start(appliance)
    appliance.camera.start()
    # two people in front of the screen (one facing it); five earlier sessions that ended
    for tid in range(10, 15):
        appliance.audience.on_vision(vision_result(track(tid)))
    appliance.audience.on_vision(vision_result(closed=range(10, 15)))
    appliance.audience.on_vision(
        vision_result(track(1, mood="happy", group="20-39"), track(2, mood="neutral", frontal=False, group="20-39"))
    )
    store = appliance.store
    await store.execute(
        "INSERT INTO ads (id, slug, title, media, media_type, duration_s, cpm, budget, updated_at) "
        "VALUES (1, 'a', 'A', 'a.png', 'image', 10, 20, 100, 0)"
    )
    now = time.time()
    for i, (kind, imp, watch, done) in enumerate(
        [("ad", 3, 2, 1), ("ad", 1, 0, 1), ("healing", 0, 0, 1), ("ad", 0, 0, 0)]
    ):
        await store.execute(
            "INSERT INTO plays (ad_id, kind, started_at, ended_at, completed, impressions, "
            "watchers, spend) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (1 if kind == "ad" else None, kind, now - 100 + i, now - 90 + i, done, imp, watch, 20 * imp / 1000),
        )
    await store.execute("INSERT INTO plays (ad_id, kind, started_at) VALUES (1, 'ad', ?)", (now,))  # running
    yield client, appliance, camera
    await asyncio.to_thread(appliance.camera.stop)
    await stop(client, appliance)


def parse(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, name, sample=None, **labels):
    fam = fams[name]
    for s in fam.samples:
        if s.name == (sample or name) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {sample or name} {labels}")


async def test_metrics_parse_and_match_the_database(env):
    client, appliance, camera = env
    await wait_for(lambda: appliance.camera.status()["fps"] > 0)
    h = appliance.stage_histograms
    h.observe_many({"detect": 0.012, "classify": 0.004})
    h.observe("detect", 0.3)
    # the player decides twice with the two people in front of the screen
    await appliance.player.reload_ads()
    outcomes = [appliance.player.decide().action for _ in range(2)]
    # a write the database refuses (no such ad) is dropped and counted as an error
    appliance.store.enqueue("INSERT INTO plays (ad_id, kind, started_at) VALUES (999, 'ad', 0)")
    await appliance.store.flush()
    r = await client.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = await r.text()
    fams = parse(text)
    labels = {"device": "test-screen", "location": "Lobby, 1st floor"}
    for fam in fams.values():
        for s in fam.samples:
            assert s.labels["device"] == "test-screen" and s.labels["location"] == "Lobby, 1st floor"
    # plays (counters are exposed as <name>_total samples of family <name>)
    assert value(fams, "signage_plays", "signage_plays_total", kind="ad", **labels) == 3
    assert value(fams, "signage_plays", "signage_plays_total", kind="healing") == 1
    assert value(fams, "signage_plays_completed", "signage_plays_completed_total", kind="ad") == 2
    direct = await appliance.store.fetchone(
        "SELECT SUM(impressions) AS i, SUM(watchers) AS w FROM plays WHERE kind='ad' AND ended_at IS NOT NULL"
    )
    assert value(fams, "signage_impressions", "signage_impressions_total") == direct["i"] == 4
    assert value(fams, "signage_watcher_impressions", "signage_watcher_impressions_total") == direct["w"]
    assert value(fams, "signage_sessions_started", "signage_sessions_started_total") == 7
    assert value(fams, "signage_sessions_ended", "signage_sessions_ended_total") == 5
    assert value(fams, "signage_audience_present") == 2 and value(fams, "signage_audience_watching") == 1
    assert value(fams, "signage_camera_up") == 1
    assert value(fams, "signage_camera_fps") > 0
    assert fams["signage_stage_seconds"].type == "histogram"
    assert value(fams, "signage_stage_seconds", "signage_stage_seconds_count", stage="detect") == 2
    assert value(fams, "signage_stage_seconds", "signage_stage_seconds_bucket", stage="detect", le="0.025") == 1
    assert value(fams, "signage_stage_seconds", "signage_stage_seconds_bucket", stage="detect", le="+Inf") == 2
    assert value(fams, "signage_decisions", "signage_decisions_total", outcome="ad") == outcomes.count("ad")
    assert value(fams, "signage_decisions", "signage_decisions_total", outcome="healing") == outcomes.count("healing")
    assert value(fams, "signage_errors", "signage_errors_total", component="database") == 1
    assert value(fams, "signage_errors", "signage_errors_total", component="vision") == 0
    assert value(fams, "signage_errors", "signage_errors_total", component="player") == 0
    assert value(fams, "signage_database_size_bytes") > 0
    # the camera is unplugged: the watchdog reports it and keeps retrying
    camera.unplug()
    await wait_for(lambda: appliance.camera.status()["state"] != "running")
    fams = parse(await (await client.get("/metrics")).text())
    assert value(fams, "signage_camera_up") == 0 and value(fams, "signage_camera_error") == 1


async def test_labels_are_escaped(tmp_path):
    appliance = Appliance(make_config(tmp_path, device={"id": 'a"b', "location": "back\\slash\nnew"}))
    client = await start(appliance)
    try:
        fams = parse(await (await client.get("/metrics")).text())
        s = fams["signage_info"].samples[0]
        assert s.labels == {"device": 'a"b', "location": "back\\slash\nnew"}
    finally:
        await stop(client, appliance)


async def test_api_audience_is_anonymous(env):
    client, _, _ = env
    r = await client.get("/api/audience")
    assert r.status == 200
    data = await r.json()
    assert data["present"] == 2 and data["watching"] == 1
    assert data["mood_mix"]["happy"] == pytest.approx((0.94 + 0.01) / 2, abs=1e-3)
    assert data["device"] == {"id": "test-screen", "location": "Lobby, 1st floor"}
    person = data["people"][0]
    assert "box" not in person and person["age_group"] == "20-39"


async def test_api_report_needs_login(env):
    client, _, _ = env
    r = await client.get("/api/report")
    assert r.status == 401
    assert "log in" in (await r.json())["error"].lower()
    await login(client)
    r = await client.get("/api/report?since=2020-01-01")
    assert r.status == 200
    data = await r.json()
    assert data["device"]["id"] == "test-screen"
    assert data["totals"]["plays"] == 4  # ad plays started in the period (also the one running)
    r = await client.get("/api/report?since=yesterday")
    assert r.status == 400 and "not a date" in (await r.json())["error"]


async def test_ws_audience_feed(env):
    client, appliance, _ = env
    async with client.ws_connect("/ws/audience") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["topic"] == "hello" and hello["data"]["present"] == 2
        hub = appliance.hub
        hub.publish("session.started", {"session_id": "s1", "at": 1.0})
        hub.publish(
            "player.state",
            {
                "state": "ad",
                "play_id": 3,
                "since": 2.0,
                "ends_at": 12.0,
                "ad": {"slug": "a", "title": "A", "media_url": "/x"},
                "token": "secret",
            },
        )
        hub.publish("player.state", {"state": "rating", "play_id": 3})
        hub.publish(
            "player.play_ended",
            {
                "play_id": 3,
                "kind": "ad",
                "ad": "a",
                "completed": True,
                "impressions": 2,
                "watchers": 1,
                "spend": 0.04,
                "duration_s": 10,
            },
        )
        hub.publish("player.play_ended", {"play_id": 4, "kind": "healing"})
        hub.publish("session.ended", {"session_id": "s1", "dwell_s": 4.0, "attention_s": 2.0})
        got = [await ws.receive_json(timeout=5) for _ in range(4)]
    assert [m["topic"] for m in got] == ["session.started", "play.started", "play.ended", "session.ended"]
    started = got[1]["data"]
    assert started["ad"] == {"slug": "a", "title": "A"} and "token" not in json.dumps(started)
    assert started["audience"]["present"] == 2
    assert got[2]["data"]["audience"]["impressions"] == 2 and "spend" not in got[2]["data"]
