"""What the public side of the web layer may show.

* Camera preview (`web.camera_preview`): off by default, and then no route of the real app --
  every one registered, anonymous or logged in as admin -- reads a camera frame or answers with a
  JPEG. On: `/api/camera/preview.jpg` is the newest frame, small, encoded at most twice a
  second, never written to disk; the panel shows it in a corner and the privacy page says so.
* The panel and mobile pages, their static files and the panel's WebSocket never carry admin
  data: prices (CPM), spend, budgets, the password hash, session ids, decision reasons.

Real pieces: the app from `create_app`, a real SQLite file, a real Audience, real photos.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from signage.app import Appliance
from signage.web.preview import PREVIEW_MAX_SIDE, PREVIEW_PATH
from support import FakeClock, StillCamera, track, vision_result
from test_admin_support import PASSWORD_HASH, login, make_config, start, stop

CPM, BUDGET, SPEND = 13.57, 864.21, 0.04071


def count_frame_reads(camera) -> list[int]:
    """Count the calls of the real camera's frame accessors (a one-element list)."""
    reads = [0]
    for name in ("peek", "latest"):
        real = getattr(camera, name)

        def counted(real=real):
            reads[0] += 1
            return real()

        setattr(camera, name, counted)
    return reads


async def seed(store) -> tuple[str, str]:
    await store.execute(
        "INSERT INTO ads (id, slug, title, advertiser, media, media_type, duration_s, cpm, budget, details, "
        "updated_at) VALUES (1, 'sunny', 'Sunny juice', 'Adv', 'a.png', 'image', 10, ?, ?, ?, 0)",
        (CPM, BUDGET, json.dumps({"description": "Fresh juice", "coupon": "SUN5"})),
    )
    sid = "5e55" * 8
    now = time.time()
    await store.execute(
        "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, mood) VALUES (?, ?, ?, 10, 5, 'happy')",
        (sid, now - 30, now - 20),
    )
    token = "tok_" + "q" * 20
    await store.execute(
        "INSERT INTO plays (id, ad_id, kind, token, started_at, ended_at, completed, impressions, spend, audience, "
        "decision) VALUES (1, 1, 'ad', ?, ?, ?, 1, 3, ?, ?, ?)",
        (
            token,
            now - 25,
            now - 15,
            SPEND,
            json.dumps({"mood": "happy", "mood_mix": {"happy": 1.0}, "mask": False}),
            json.dumps({"reason": f"CPM {CPM:g}", "candidates": [{"slug": "sunny", "cpm": CPM}]}),
        ),
    )
    await store.execute("INSERT INTO exposures VALUES (1, ?, 8, 6)", (sid,))
    return token, sid


@pytest.fixture
def make_env(tmp_path, photos):
    image = cv2.imread(str(photos("astronaut")), cv2.IMREAD_COLOR)

    async def make(**web):
        clock = FakeClock(time.time())
        appliance = Appliance(
            make_config(tmp_path, web={"public_url": "http://screen.test", **web}, privacy={"retention_days": 30}),
            camera_opener=StillCamera(image, fps=10.0).opener,
            clock=clock,
        )
        appliance.base_url = "http://screen.test"
        client = await start(appliance)
        appliance.camera.start()
        token, sid = await seed(appliance.store)
        await appliance.player.reload_ads()
        reads = count_frame_reads(appliance.camera)
        return SimpleNamespace(
            client=client, app=appliance, token=token, sid=sid, clock=clock, root=tmp_path, image=image, reads=reads
        )

    return make


@pytest.fixture
async def env(make_env):
    e = await make_env()
    yield e
    await asyncio.to_thread(e.app.camera.stop)
    await stop(e.client, e.app)


@pytest.fixture
async def env_preview(make_env):
    e = await make_env(camera_preview=True)
    yield e
    await asyncio.to_thread(e.app.camera.stop)
    await stop(e.client, e.app)


async def wait_for_frame(camera, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not camera.status()["frames"]:
        assert time.monotonic() < deadline, "the camera gave no frame"
        await asyncio.sleep(0.02)


def sample_path(canonical: str, token: str) -> str:
    """A concrete URL for a route pattern: every {name} or {name:regex} filled in."""

    def fill(m):
        name, _, regex = m.group(1).partition(":")
        if name == "token":
            return token
        if name == "mood":
            return "happy"
        if regex and "|" in regex:
            return regex.split("|")[0]
        return {"slug": "sunny", "tail": "a.png", "ext": "svg"}.get(name, "x")

    return re.sub(r"\{([^{}]+)\}", fill, canonical)


def looks_like(body: bytes, image: np.ndarray) -> bool:
    """True when body decodes to a picture of the camera frame (any size)."""
    if not body:
        return False
    got = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    if got is None or got.size == 0:
        return False
    ref = cv2.resize(image, (got.shape[1], got.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.abs(ref.astype(np.float32) - got.astype(np.float32)).mean()) < 20


async def every_get_response(env) -> list[tuple[str, int, str, bytes]]:
    app = env.client.server.app
    out = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "directory" in info:  # static folders: every file in them
            paths = [
                info["prefix"].rstrip("/") + "/" + p.name for p in Path(info["directory"]).iterdir() if p.is_file()
            ]
        else:
            paths = [sample_path(resource.canonical, env.token)]
        methods = {r.method for r in resource}
        if not methods & {"GET", "*"}:
            continue
        for path in paths:
            if path.startswith("/ws/"):
                continue  # WebSockets: checked below (JSON only)
            r = await env.client.get(path, allow_redirects=False)
            out.append((path, r.status, r.headers.get("Content-Type", ""), await r.read()))
    return out


async def test_preview_off_by_default_no_route_reads_or_returns_a_camera_frame(env):
    assert env.app.config.web.camera_preview is False
    for logged_in in (False, True):
        if logged_in:
            await login(env.client)
        responses = await every_get_response(env)
        paths = {p for p, *_ in responses}
        assert {"/panel", "/privacy", f"/m/{env.token}", "/admin", "/api/status", "/metrics"} <= paths
        for path, status, ctype, body in responses:
            assert "image/jpeg" not in ctype, (path, status)
            assert not looks_like(body, env.image), path
        assert (await env.client.get(PREVIEW_PATH)).status == 404
    # the WebSockets carry JSON text only
    for ws_path in ("/ws/panel", "/ws/audience"):
        async with env.client.ws_connect(ws_path) as ws:
            msg = await ws.receive(timeout=5)
            assert msg.type.name == "TEXT" and "data:image" not in msg.data and "/9j/" not in msg.data
    assert env.reads[0] == 0  # nothing in the web layer even looked at a frame
    html = await (await env.client.get("/panel")).text()
    assert "camera-preview" not in html and '"cameraPreview": null' in html
    html = await (await env.client.get("/privacy")).text()
    assert "camera-preview-on" not in html and "camera image is never shown" in html


async def test_preview_on_serves_the_newest_frame_small_rate_limited_and_never_on_disk(env_preview):
    env = env_preview
    await wait_for_frame(env.app.camera)
    before = sorted(p for p in env.root.rglob("*") if p.is_file() and not p.name.startswith("signage.db"))
    r = await env.client.get(PREVIEW_PATH)
    assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["Cache-Control"] == "no-store"
    first = await r.read()
    img = cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_COLOR)
    assert max(img.shape[:2]) <= PREVIEW_MAX_SIDE and looks_like(first, env.image)
    # at most PREVIEW_FPS encodings a second: requests in between share the last one
    again = [await (await env.client.get(PREVIEW_PATH)).read() for _ in range(5)]
    assert all(b == first for b in again) and env.reads[0] == 1
    await asyncio.sleep(0.6)
    assert (await env.client.get(PREVIEW_PATH)).status == 200 and env.reads[0] == 2
    after = sorted(p for p in env.root.rglob("*") if p.is_file() and not p.name.startswith("signage.db"))
    assert after == before
    html = await (await env.client.get("/panel")).text()
    assert 'id="camera-preview"' in html and f'"cameraPreview": "{PREVIEW_PATH}"' in html
    html = await (await env.client.get("/privacy")).text()
    assert 'data-testid="camera-preview-on"' in html and "never stored" in html


async def test_preview_without_a_frame_is_503(env_preview):
    await asyncio.to_thread(env_preview.app.camera.stop)  # no camera: no frame
    r = await env_preview.client.get(PREVIEW_PATH)
    assert r.status == 503 and "no camera frame" in (await r.json())["error"]


# --- no admin data on the public pages ---------------------------------------------------------


def admin_secrets(env) -> list[str]:
    return (
        [f"{CPM:g}", f"{BUDGET:g}", f"{SPEND:g}", PASSWORD_HASH, PASSWORD_HASH.split("$")[-1], env.sid, env.sid[:8]]
        + [s.id for s in env.app.audience.sessions.values()]
        + [s.id[:8] for s in env.app.audience.sessions.values()]
    )


FORBIDDEN_WORDS = re.compile(r"\b(cpm|budget|spend|spent|password|pbkdf2|session_id)\b", re.I)


async def test_panel_and_mobile_pages_and_the_panel_socket_show_no_admin_data(env):
    # someone in front of the screen: a real session, published on the hub as the overlay's frame
    env.app.audience.on_vision(vision_result(track(1, box=(100, 80, 120, 150), mood="happy", mask=0.8)))
    assert env.app.audience.sessions
    env.app.player._publish(
        {
            "state": "rating",
            "play_id": 1,
            "since": time.time(),
            "ends_at": time.time() + 5,
            "token": env.token,
            "reason": f"highest score: x CPM {CPM:g}",
            "ad": {
                "slug": "sunny",
                "title": "Sunny juice",
                "media_url": "/media/ads/sunny/a.png",
                "media_type": "image",
                "duration_s": 10,
            },
        }
    )
    pages = [
        "/panel",
        f"/m/{env.token}",
        f"/m/{env.token}/emoticon.svg",
        "/m/",
        "/rankings",
        "/today",
        "/privacy",
        "/emoticon/happy.svg",
        "/static/panel.js",
        "/static/panel.css",
        "/static/mobile.css",
        "/m/unknown_token_xyz",
    ]
    texts = {}
    for p in pages:
        r = await env.client.get(p)
        assert r.status in (200, 404), p
        texts[p] = await r.text()
    r = await env.client.post(f"/m/{env.token}/rate", data={"value": "like"}, allow_redirects=True)
    texts["POST rate"] = await r.text()
    r = await env.client.post("/api/panel/rate", json={"play_id": 1, "value": "like"})
    texts["POST panel rate"] = await r.text()
    async with env.client.ws_connect("/ws/panel") as ws:
        msgs = [await ws.receive_str(timeout=5) for _ in range(2)]  # hello, state
        env.clock.t += 1.0
        env.app.audience.tick()  # publishes the pending audience frame
        msgs.append(await ws.receive_str(timeout=5))
    assert [json.loads(m)["type"] for m in msgs] == ["hello", "state", "faces"]
    assert json.loads(msgs[2])["data"]["faces"][0]["mask"] is True
    texts["ws"] = "\n".join(msgs)
    secrets = admin_secrets(env)
    for where, text in texts.items():
        for s in secrets:
            assert s not in text, (where, s)
        m = FORBIDDEN_WORDS.search(text)
        assert m is None, (where, m and text[max(0, m.start() - 80) : m.end() + 80])
    assert "Sunny juice" in texts[f"/m/{env.token}"]  # the pages did render the ad


async def test_the_decision_explanation_needs_an_admin_login(env):
    await login(env.client)
    assert (await env.client.get("/api/decision/last")).status == 404  # no decision yet
    env.client.session.cookie_jar.clear()
    env.app.audience.on_vision(vision_result(track(1, age=40.0, group="40-59")))
    decision = env.app.player.decide()
    assert decision.action == "ad" and decision.ad.slug == "sunny"
    r = await env.client.get("/api/decision/last")
    assert r.status == 401
    assert f"{CPM:g}" not in await r.text()
    await login(env.client)
    r = await env.client.get("/api/decision/last")
    assert r.status == 200 and (await r.json())["candidates"][0]["cpm"] == CPM
    assert r.headers["Cache-Control"] == "no-store"
