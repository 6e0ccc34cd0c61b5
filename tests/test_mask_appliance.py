"""Face masks through the whole running appliance (`python -m signage run`, photos camera
source, real models with `vision.mask = true`, real SQLite file): a real photo with a drawn
surgical-mask shape (as in test_vision_mask.py) in front of the screen gives a masked session
in the database, masked faces on the panel's live overlay, a play whose audience summary says
a majority wore masks, and a mobile page whose "your mood emoticon" wears a mask."""

import asyncio
import json
import sqlite3
import time
import urllib.request
from pathlib import Path

import aiohttp
import cv2
import pytest

from apprun import RunningApp, write_config
from test_vision_mask import draw_surgical_mask

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def write_ad(folder: Path, jpeg: bytes) -> None:
    """One ad for anybody (no targeting, not age-restricted): it plays whenever someone is there."""
    d = folder / "anyone"
    d.mkdir(parents=True)
    (d / "creative.jpg").write_bytes(jpeg)
    (d / "ad.toml").write_text("""title = "For Anyone"
advertiser = "Test"
media = "creative.jpg"
duration = 3
age_restricted = false

[targeting]
moods = []
age_groups = []

[pricing]
cpm = 10
budget = 1000

[flight]
start = 2020-01-01
end = 2099-12-31

[mobile]
description = "test"
""")


def masked_astronaut(src: Path, dest: Path) -> Path:
    from signage.vision.detector import RetinaFaceDetector
    from signage.vision.models import load_model

    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    (det,) = RetinaFaceDetector(load_model(ROOT / "models", "detector", "fp32"), score=0.7).detect(img)
    cv2.imwrite(str(dest), draw_surgical_mask(img, det), [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    return dest


async def overlay_faces(base: str, seconds: float) -> list[dict]:
    faces = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(base.replace("http", "ws", 1) + "/ws/panel") as ws:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    msg = await ws.receive_json(timeout=max(0.1, end - time.monotonic()))
                except TimeoutError:
                    break
                if msg["type"] == "faces":
                    faces += msg["data"]["faces"]
    return faces


def masked_ad_play(db: Path, deadline: float):
    while time.time() < deadline:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                row = con.execute(
                    "SELECT token, audience FROM plays WHERE kind = 'ad' AND ended_at IS NOT NULL "
                    "AND impressions > 0 ORDER BY id LIMIT 1"
                ).fetchone()
            finally:
                con.close()
        except sqlite3.OperationalError:
            row = None
        if row:
            return row[0], json.loads(row[1])
        time.sleep(0.5)
    raise AssertionError("no ad play with an audience within the time allowed")


def test_a_masked_audience_gets_a_masked_emoticon(tmp_path, photos):
    photo = masked_astronaut(photos("astronaut"), tmp_path / "masked-astronaut.jpg")
    write_ad(tmp_path / "ads", photos("astronaut").read_bytes())
    cfg = write_config(
        tmp_path,
        [photo],
        vision=f'models_dir = "{ROOT / "models"}"\nmask = true\ndetect_score = 0.7',
        ads=f'dir = "{tmp_path / "ads"}"\nhealing_dir = "{ROOT / "assets" / "healing"}"',
        player="rating_seconds = 1.0\nhealing_min_seconds = 1.0\nidle_healing_seconds = 5.0",
    )
    app = RunningApp(cfg, tmp_path / "data")
    try:
        faces = asyncio.run(overlay_faces(app.base, 6.0))
        assert faces and any(f["mask"] for f in faces), faces[:3]
        assert all(set(f) == {"id", "box", "mood", "mask"} for f in faces)
        token, audience = masked_ad_play(tmp_path / "data" / "signage.db", time.time() + 60)
        assert audience["mask"] is True and audience["masked"] >= 1 and audience["mask_share"] > 0.5, audience
        with urllib.request.urlopen(f"{app.base}/m/{token}", timeout=10) as r:
            html = r.read().decode()
        assert "wore masks" in html and "emoticon with a mask" in html
        with urllib.request.urlopen(f"{app.base}/m/{token}/emoticon.svg?download=1", timeout=10) as r:
            assert "with a mask" in r.read().decode()
            assert "-mask.svg" in r.headers["Content-Disposition"]
        snap = app.get("/api/audience")
        assert snap["present"] >= 1 and all(p.get("mask") is True for p in snap["people"]), snap
    finally:
        code, _took, err = app.terminate()
    assert code == 0, err
    con = sqlite3.connect(tmp_path / "data" / "signage.db")
    try:
        rows = con.execute("SELECT mask_p FROM sessions WHERE dwell_s > 3").fetchall()
    finally:
        con.close()
    assert rows and all(p is not None and p > 0.5 for (p,) in rows), rows
