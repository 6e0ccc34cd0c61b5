"""The live view's health judgements at their stated thresholds (pure functions)."""

from __future__ import annotations

import asyncio
import time

from signage.web.admin import health
from signage.web.admin.health import RateMeter, judge_camera, judge_database, judge_dropped, judge_lag, judge_vision


def test_analysis_speed_against_its_target():
    assert judge_vision({"running": True, "fps": 9.0, "fps_target": 10.0}, None).level == "green"
    assert judge_vision({"running": True, "fps": 6.0, "fps_target": 10.0}, None).level == "amber"
    bad = judge_vision({"running": True, "fps": 4.4, "fps_target": 10.0}, None)
    assert bad.level == "red" and bad.value == "4.4 of 10 frames/s" and "44%" in bad.detail
    assert judge_vision(None, "model file missing").level == "red"


def test_skipped_frames_against_what_the_rates_imply():
    # camera 30 frames/s, analysis target 10/s: 1,200 skipped a minute is by design
    assert judge_dropped(1200, 30, 10).level == "green"
    assert judge_dropped(2000, 30, 10).level == "amber"
    assert judge_dropped(6672, 30, 10).level == "red"
    assert judge_dropped(None, 30, 10).level == "grey"


def test_camera_database_and_lag():
    assert judge_camera({"state": "running", "fps": 30, "age": 0.1, "source": "x"}).level == "green"
    assert judge_camera({"state": "running", "fps": 30, "age": 3.0, "source": "x"}).level == "amber"
    starting = judge_camera(
        {"state": "starting", "first_run": {"line": "demo photos: 3 of 20 ready; fetching t1", "finished": False}}
    )
    assert starting.level == "amber" and "3 of 20" in starting.detail
    assert judge_camera({"state": "stalled", "error": "no frame for 5.0 s"}).level == "red"
    now = time.time()
    ok = {"state": "open", "pending_writes": 3, "refused_writes": 0, "last_flush_at": now - 1}
    assert judge_database(ok, 2.0, now).level == "green"
    assert judge_database({**ok, "pending_writes": 5000}, 2.0, now).level == "amber"
    assert judge_database({**ok, "pending_writes": 3, "last_flush_at": now - 60}, 2.0, now).level == "amber"
    assert judge_database({**ok, "refused_writes": 1}, 2.0, now).level == "red"
    assert [judge_lag(x).level for x in (None, 20, 150, 900)] == ["grey", "green", "amber", "red"]
    assert health.overall([judge_lag(20), judge_lag(150)]) == "amber"


def test_rate_meter_and_loop_lag():
    m = RateMeter()
    assert m.add(0, now=100.0) is None
    assert m.add(10, now=103.0) is None  # under 5 s: not yet
    assert m.add(100, now=110.0) == 600.0  # 100 in 10 s
    assert m.add(5, now=111.0) is None  # the counter restarted

    async def run():
        lag = health.LoopLag(every_s=0.05)
        lag.start()
        await asyncio.sleep(0.12)
        time.sleep(0.2)  # block the loop on purpose
        await asyncio.sleep(0.1)
        await lag.stop()
        return lag.worst_ms

    assert asyncio.run(run()) >= 100
