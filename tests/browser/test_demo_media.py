"""The demo video ad plays in Chromium when served by the real server's `/media/ads/...` route.

The web app (signage.web.server.create_app) runs on the real `Appliance` with the repository's
demo inventory (assets/ads, assets/healing); the camera is the `photos` source in front of an
empty folder's worth of nothing-to-see (one of our healing scenes), so the player just shows healing.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from .conftest import REPO, LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, no_face_photo):
    from signage.config import config_from_dict

    root = tmp_path_factory.mktemp("demo-media")
    pdir = root / "photos"
    pdir.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = config_from_dict(
        {
            "camera": {"source": "photos", "photos_dir": str(pdir), "photo_seconds": 1.0, "fps": 5.0},
            "vision": {"models_dir": str(REPO / "models"), "analysis_fps": 2.0},
            "ads": {"dir": str(REPO / "assets" / "ads"), "healing_dir": str(REPO / "assets" / "healing")},
            "web": {"host": "127.0.0.1", "port": port},
            "storage": {"data_dir": str(root / "data")},
        },
        base_dir=root,
    )
    server = LiveServer(cfg)
    server.show(no_face_photo)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _videos() -> list[Path]:
    return sorted((REPO / "assets" / "ads").glob("*/*.webm")) + sorted((REPO / "assets" / "ads").glob("*/*.mp4"))


def test_demo_video_ad_plays_in_chromium(browser, demo_server):
    videos = _videos()
    assert videos, "the demo inventory has no video ad"
    page = browser.new_page(viewport={"width": 960, "height": 540})
    try:
        page.goto(demo_server.url + "/privacy")  # any page of the appliance: same origin
        for path in videos:
            url = f"/media/ads/{path.parent.name}/{path.name}"
            result = page.evaluate(
                """async (url) => {
                const v = document.createElement('video');
                v.muted = true; v.playsInline = true; v.preload = 'auto';
                document.body.appendChild(v);
                const failed = new Promise((_, no) => v.addEventListener('error',
                    () => no(new Error('media error ' + (v.error && v.error.code)))));
                const ready = new Promise(ok => v.addEventListener('canplay', ok, {once: true}));
                v.src = url;
                await Promise.race([ready, failed]);
                const state = v.readyState, w = v.videoWidth, h = v.videoHeight, d = v.duration;
                await Promise.race([v.play(), failed]);
                const t0 = v.currentTime;
                await new Promise(ok => setTimeout(ok, 1500));
                const out = {state, w, h, d, t0, t1: v.currentTime, paused: v.paused};
                v.pause(); v.remove();
                return out;
            }""",
                url,
            )
            assert result["state"] >= 2, (url, result)  # HAVE_CURRENT_DATA or better
            assert (result["w"], result["h"]) == (1280, 720), (url, result)
            assert 8 <= result["d"] <= 12, (url, result)
            assert result["t1"] > result["t0"] + 0.5 and not result["paused"], (url, result)
    finally:
        page.close()
