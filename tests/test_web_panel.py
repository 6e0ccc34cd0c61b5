"""Panel routes on the aiohttp test client: the page, the live WebSocket (state first, then
events, QR for the rating screen), panel ratings, media failures, decision explanations, and
media served without path traversal. A small stand-in player keeps to the player contract."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from signage.app import Appliance
from signage.config import config_from_dict
from signage.store import Store
from signage.web import panel
from signage.web.server import create_app
from support import track, vision_result

PUBLIC = "http://screen.test:8080"


def make_media(root: Path) -> tuple[Path, Path]:
    ads, healing = root / "ads", root / "healing"
    (ads / "cafe").mkdir(parents=True)
    (ads / "cafe" / "ad.png").write_bytes(cv2.imencode(".png", np.full((90, 160, 3), 200, np.uint8))[1].tobytes())
    (ads / "cafe" / "creative.html").write_text("<!doctype html><h1>Cafe</h1>")
    (ads / "cafe" / "ad.toml").write_text('title = "Cafe"\n')
    (ads / "cafe" / "img").mkdir()
    (ads / "cafe" / "img" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    healing.mkdir()
    (healing / "spring-morning.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((9, 16, 3), np.uint8))[1].tobytes())
    (root / "secret.txt").write_text("not for the web")
    return ads, healing


async def add_ad_play(
    store: Store, *, slug="cafe", token="tok_abcdefghijklmnop", audience=None, details=None, started_at=None
) -> tuple[int, int]:
    ad_id = await store.scalar("SELECT id FROM ads WHERE slug = ?", (slug,))
    if ad_id is None:
        det = (
            details
            if details is not None
            else {
                "description": "Fresh coffee and cake, two minutes away.",
                "address": "1 Market Square",
                "phone": "+44 20 7946 0000",
                "website": "https://cafe.example/",
                "map_url": "https://maps.example/cafe",
                "coupon": "CAFE10",
            }
        )
        ad_id = await store.execute(
            "INSERT INTO ads (slug, title, advertiser, media, media_type, duration_s, details, updated_at) "
            "VALUES (?, ?, ?, 'ad.png', 'image', 10, ?, ?)",
            (slug, slug.title() + " Corner", "Corner Ltd", json.dumps(det), time.time()),
        )
    play_id = await store.execute(
        "INSERT INTO plays (ad_id, kind, token, started_at, audience) VALUES (?, 'ad', ?, ?, ?)",
        (ad_id, token, started_at or time.time(), json.dumps(audience or {"mood": "happy"})),
    )
    return ad_id, play_id


async def panel_headers(client) -> dict[str, str]:
    """What the panel page's script sends: the key the page was given (same origin)."""
    html = await (await client.get("/panel")).text()
    return {"X-Panel-Key": re.search(r'"panelKey":\s*"([^"]+)"', html).group(1)}


@contextlib.asynccontextmanager
async def public_site(tmp_path: Path) -> AsyncIterator[SimpleNamespace]:
    """The real Appliance (store open, parts not started) serving the real app, with an ad and a
    healing scene on disk. Shared with the phone pages' tests."""
    ads_dir, healing_dir = make_media(tmp_path)
    config = config_from_dict(
        {
            "ads": {"dir": str(ads_dir), "healing_dir": str(healing_dir)},
            "storage": {"data_dir": str(tmp_path / "data"), "flush_seconds": 60.0},
            "web": {"public_url": PUBLIC},
            "privacy": {"retention_days": 7},
        },
        base_dir=tmp_path,
    )
    appliance = Appliance(config)
    appliance.base_url = PUBLIC
    await appliance.store.open()
    client = TestClient(TestServer(create_app(appliance)))
    await client.start_server()
    try:
        yield SimpleNamespace(
            client=client,
            app=appliance,
            store=appliance.store,
            hub=appliance.hub,
            player=appliance.player,
            root=tmp_path,
        )
    finally:
        await client.close()
        await appliance.store.close()


@pytest.fixture
async def env(tmp_path):
    async with public_site(tmp_path) as site:
        yield site


def publish(env, state: dict) -> None:
    """Put the real player in `state`, as it does itself when a play starts or ends."""
    env.player._publish(state)


def decode_qr_svg(svg: str) -> str:
    """Rasterise our own one-path SVG QR and decode it with OpenCV."""
    import re

    n = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    img = np.full((n, n), 255, np.uint8)
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1", svg):
        img[int(y), int(x) : int(x) + int(w)] = 0
    img = cv2.resize(img, (n * 8, n * 8), interpolation=cv2.INTER_NEAREST)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    return text


# --- page -------------------------------------------------------------------------------


async def test_panel_page_has_notice_privacy_qr_and_no_camera_image(env):
    r = await env.client.get("/panel")
    assert r.status == 200
    html = await r.text()
    assert panel.NOTICE in html
    import re

    svg = re.search(r'<div class="privacy-qr" id="privacy-qr">(<svg.*?</svg>)', html).group(1)
    assert decode_qr_svg(svg) == f"{PUBLIC}/privacy"
    assert f"{PUBLIC}/privacy" not in html  # no raw address for shoppers to type
    assert 'id="status"' not in html  # technician overlay is off by default
    assert "http://" not in html.replace(PUBLIC, "").replace("http://www.w3.org", "")  # nothing external
    assert "Content-Security-Policy" in r.headers


async def test_status_overlay_only_when_enabled(env, tmp_path):
    import dataclasses

    cfg = env.app.config
    env.app.config = dataclasses.replace(cfg, web=dataclasses.replace(cfg.web, status_overlay=True))
    # the corner reads the appliance's real components (not started: no camera, nobody present)
    html = await (await env.client.get("/panel")).text()
    assert 'id="status"' in html
    async with env.client.ws_connect("/ws/panel") as ws:
        messages = [await ws.receive_json(timeout=5) for _ in range(3)]
        status = next(m["data"] for m in messages if m["type"] == "status")
        assert status["faces"] == 0 and status["camera"] in ("stopped", "starting")


async def test_static_assets_are_served(env):
    for name in ("panel.js", "panel.css", "mobile.css"):
        r = await env.client.get(f"/static/{name}")
        assert r.status == 200, name


# --- WebSocket --------------------------------------------------------------------------


async def test_ws_sends_current_state_first_then_events(env):
    publish(
        env,
        {
            "state": "healing",
            "play_id": 1,
            "scene": {"id": "spring-morning", "media_url": "/media/healing/spring-morning.jpg"},
        },
    )
    async with env.client.ws_connect("/ws/panel") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "state" and first["data"]["state"] == "healing"
        publish(
            env,
            {
                "state": "ad",
                "play_id": 2,
                "ad": {
                    "slug": "cafe",
                    "title": "Cafe Corner",
                    "media_url": "/media/ads/cafe/ad.png",
                    "media_type": "image",
                    "duration_s": 10,
                },
            },
        )
        msg = await ws.receive_json(timeout=5)
        assert msg["data"]["state"] == "ad" and msg["data"]["ad"]["slug"] == "cafe"
        # two people in front of the screen: the real audience model publishes the frame
        env.app.audience.on_vision(
            vision_result(
                track(7, box=(64, 96, 128, 144), mood="happy", mask=0.9),
                track(8, box=(320, 96, 128, 144), mood=None, frontal=False),
            )
        )
        faces = await ws.receive_json(timeout=5)
        assert faces["type"] == "faces"
        # the overlay id tells emoji apart; a session id is never forwarded
        assert faces["data"]["faces"] == [
            {"id": "1", "box": [0.1, 0.2, 0.2, 0.3], "mood": "happy", "mask": True},
            {"id": "2", "box": [0.5, 0.2, 0.2, 0.3], "mood": "neutral", "mask": False},
        ]
        for session in env.app.audience.sessions.values():
            assert session.id not in json.dumps(faces)
        assert "image" not in json.dumps(faces) and "jpeg" not in json.dumps(faces)


async def test_ad_and_rating_states_carry_a_qr_of_the_plays_mobile_url(env):
    async with env.client.ws_connect("/ws/panel") as ws:
        await ws.receive_json(timeout=5)  # hello
        for state in ("ad", "rating"):
            publish(
                env,
                {
                    "state": state,
                    "play_id": 7,
                    "token": "Zx9_token-abcdef1234",
                    "ends_at": time.time() + 10,
                    "ad": {"slug": "cafe", "title": "Cafe", "landing_url": "https://cafe.example/"},
                },
            )
            msg = (await ws.receive_json(timeout=5))["data"]
            assert msg["qr_mode"] == "public"  # web.public_url is set: "auto" means public
            assert msg["qr_url"] == f"{PUBLIC}/m/Zx9_token-abcdef1234"
            assert decode_qr_svg(msg["qr_svg"]) == msg["qr_url"]
            assert "landing_url" not in msg["ad"]


async def test_landing_mode_qr_is_the_advertisers_page_with_campaign_parameters(env):
    env.app.config = env.app.config.replace(web={"qr_mode": "landing"})
    async with env.client.ws_connect("/ws/panel") as ws:
        await ws.receive_json(timeout=5)  # hello
        publish(
            env,
            {
                "state": "ad",
                "play_id": 8,
                "token": "Tok_0123456789abcdef",
                "ad": {"slug": "cafe", "title": "Cafe", "landing_url": "https://cafe.example/menu?lang=en"},
            },
        )
        msg = (await ws.receive_json(timeout=5))["data"]
        assert msg["qr_mode"] == "landing"
        assert msg["qr_url"] == (
            "https://cafe.example/menu?lang=en&utm_source=signage&utm_medium=dooh"
            "&utm_campaign=cafe&utm_content=Tok_0123456789abcdef"
        )
        assert decode_qr_svg(msg["qr_svg"]) == msg["qr_url"]
        # an ad without a landing page has no QR in this mode: the rating stays on the panel
        publish(
            env,
            {
                "state": "rating",
                "play_id": 9,
                "token": "Tok_zzzzzzzzzzzzzzzz",
                "ad": {"slug": "cafe", "title": "Cafe", "landing_url": ""},
            },
        )
        msg = (await ws.receive_json(timeout=5))["data"]
        assert msg["qr_url"] == "" and "qr_svg" not in msg
    assert panel.plan_for(env.app).status()["mode"] == "landing"


async def test_ws_closing_unsubscribes(env):
    publish(env, {"state": "healing", "play_id": 3, "scene": {"id": "x", "media_url": "/m.jpg"}})
    before = env.hub.subscribers  # the metrics' event counter listens too
    async with env.client.ws_connect("/ws/panel") as ws:
        await ws.receive_json(timeout=5)
        assert (await ws.receive_json(timeout=5))["data"]["play_id"] == 3
        assert env.hub.subscribers == before + 1
    for _ in range(100):
        if env.hub.subscribers == before:
            break
        await asyncio.sleep(0.01)
    assert env.hub.subscribers == before  # closing the socket unsubscribes


# --- panel rating, media failures, decisions ---------------------------------------------


async def test_panel_rating_is_stored_against_the_play_once(env):
    _, play_id = await add_ad_play(env.store)
    r = await env.client.post(
        "/api/panel/rate", headers=await panel_headers(env.client), json={"play_id": play_id, "value": "like"}
    )
    assert r.status == 200 and (await r.json()) == {"ok": True, "recorded": True}
    r = await env.client.post(
        "/api/panel/rate", headers=await panel_headers(env.client), json={"play_id": play_id, "value": "dislike"}
    )
    assert (await r.json())["recorded"] is False
    rows = await env.store.fetchall("SELECT value, source FROM ratings WHERE play_id = ?", (play_id,))
    assert rows == [{"value": 1, "source": "panel"}]


@pytest.mark.parametrize(
    "body",
    [
        {"play_id": 1, "value": "love"},
        {"play_id": "1", "value": "like"},
        {"value": "like"},
        [1, 2],
        {"play_id": True, "value": "like"},
    ],
)
async def test_panel_rating_refuses_bad_bodies(env, body):
    r = await env.client.post("/api/panel/rate", headers=await panel_headers(env.client), json=body)
    assert r.status == 400


async def test_panel_rating_unknown_or_old_play(env):
    r = await env.client.post(
        "/api/panel/rate", headers=await panel_headers(env.client), json={"play_id": 999, "value": "like"}
    )
    assert r.status == 404
    _, old = await add_ad_play(env.store, token="old_token_abcdefgh", started_at=time.time() - 7200)
    r = await env.client.post(
        "/api/panel/rate", headers=await panel_headers(env.client), json={"play_id": old, "value": "like"}
    )
    assert r.status == 409


async def test_media_failed_reaches_the_player(env):
    import shutil

    slug, heavy = "sunny-smoothies", "bloom-skincare"  # real ads: the player skips only what it knows
    for s in (slug, heavy):
        shutil.copytree(Path(__file__).resolve().parents[1] / "assets" / "ads" / s, env.root / "ads" / s)
    await env.player.sync_inventory()
    headers = await panel_headers(env.client)
    r = await env.client.post(
        "/api/panel/media-failed", headers=headers, json={"kind": "ad", "id": slug, "url": f"/media/ads/{slug}/x.mp4"}
    )
    assert r.status == 200
    assert list(env.player.status()["skipped"]) == [slug]
    assert "media failed to load" in env.player.status()["skipped"][slug]
    # an id the player does not know is not remembered: the skip list stays bounded
    r = await env.client.post("/api/panel/media-failed", headers=headers, json={"kind": "ad", "id": "no-such-ad"})
    assert r.status == 200 and list(env.player.status()["skipped"]) == [slug]
    r = await env.client.post("/api/panel/media-failed", headers=headers, json={"kind": "boom", "id": "x"})
    assert r.status == 400
    # the panel's own load timeout: slow, not broken, so skipped for at most a minute
    r = await env.client.post(
        "/api/panel/media-failed",
        headers=headers,
        json={"kind": "ad", "id": heavy, "url": f"/media/ads/{heavy}/creative.html", "error": "timeout"},
    )
    assert r.status == 200
    assert "too slow to load" in env.player.status()["skipped"][heavy]
    assert "media failed to load" in env.player.status()["skipped"][slug]


async def test_panel_states_carry_no_decision_reasons(env):
    """The healing state names the last decision's reason (CPM prices, session ids): the
    panel never gets it."""
    async with env.client.ws_connect("/ws/panel") as ws:
        await ws.receive_json(timeout=5)  # hello
        publish(
            env,
            {
                "state": "healing",
                "play_id": 9,
                "since": time.time(),
                "scene": {"id": "x"},
                "reason": "highest score 1.2: 3 expected targeted impressions x CPM 20 x pacing 1",
            },
        )
        msg = await ws.receive_json(timeout=5)
        assert msg["type"] == "state" and msg["data"]["play_id"] == 9
        assert "reason" not in msg["data"] and "CPM" not in json.dumps(msg)


# --- media --------------------------------------------------------------------------------


async def test_media_content_types_and_html_sandbox(env):
    r = await env.client.get("/media/ads/cafe/ad.png")
    assert r.status == 200 and r.headers["Content-Type"] == "image/png"
    r = await env.client.get("/media/ads/cafe/creative.html")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "sandbox allow-scripts" in csp and "allow-same-origin" not in csp and "connect-src 'none'" in csp
    r = await env.client.get("/media/ads/cafe/img/logo.svg")
    assert (
        r.status == 200
        and r.headers["Content-Type"] == "image/svg+xml"
        and "sandbox" in r.headers["Content-Security-Policy"]
    )
    r = await env.client.get("/media/healing/spring-morning.jpg")
    assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
    r = await env.client.get("/media/ads/cafe/ad.png", headers={"Range": "bytes=0-9"})
    assert r.status == 206 and len(await r.read()) == 10


@pytest.mark.parametrize(
    "path",
    [
        "/media/ads/cafe/../../secret.txt",
        "/media/ads/cafe/%2e%2e/%2e%2e/secret.txt",
        "/media/ads/..%2f..%2fsecret.txt/x.png",
        "/media/ads/cafe/ad.toml",
        "/media/ads/cafe/..%2fad.png",
        "/media/healing/..%2fsecret.txt",
        "/media/healing/%2e%2e/ads/cafe/ad.png",
        "/media/ads/cafe/.hidden.png",
        "/media/ads/cafe/creative.html/..",
        "/media/ads/nope/ad.png",
        "/media/healing/missing.jpg",
        "/media/healing/../ads/cafe/ad.png",
        "/media/ads/cafe/%5c..%5csecret.txt",
        "/media/healing/spring-morning.jpg%00.png",
    ],
)
async def test_media_refuses_traversal_and_unknown_files(env, path):
    # Raw HTTP, so the path reaches the server exactly as written (a client would normalise it).
    reader, writer = await asyncio.open_connection(env.client.host, env.client.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = (await asyncio.wait_for(reader.read(), 5)).decode("latin-1")
    writer.close()
    status_code = int(raw.split()[1])
    assert status_code in (400, 404), (path, raw[:200])
    assert "not for the web" not in raw


async def test_media_refuses_symlinks_out_of_the_root(env):
    link = Path(env.app.config.ads.dir) / "cafe" / "escape.png"
    link.symlink_to(env.root / "secret.txt")
    assert (await env.client.get("/media/ads/cafe/escape.png")).status == 404


async def test_healing_serves_only_pictures_and_clips(env):
    (Path(env.app.config.ads.healing_dir) / "page.html").write_text("<b>x</b>")
    assert (await env.client.get("/media/healing/page.html")).status == 404


async def test_create_app_registers_the_panel_and_mobile_routes(env):
    paths = {r.canonical for r in env.client.server.app.router.resources()}
    for p in ("/panel", "/ws/panel", "/m/{token}", "/privacy", "/rankings", "/today", "/media/ads/{slug}/{tail}"):
        assert p in paths, p
    assert "/api/decision/last" in paths  # registered by the admin area, behind its login


async def test_a_new_plays_qr_is_drawn_once_and_off_the_event_loop(monkeypatch):
    """Drawing a campaign URL's QR takes ~17 ms of pure Python here (more on a Pi), once per
    play; done on the loop it stalled every request in flight (a 20 ms loop-lag spike in
    scripts/soak). Five panels that get the same new play wait for one drawing in a thread.
    (Which thread drew is recorded rather than how often the loop ran meanwhile: a count of loop
    turns depends on the machine's load and once failed a CI run.)"""
    import secrets
    import threading

    from signage.web.panel import SCREEN_ECC, screen_qr
    from signage.web.qr import qr_svg

    drawn_on: list[int] = []

    def drawing(*args, **kwargs):
        drawn_on.append(threading.get_ident())
        return qr_svg(*args, **kwargs)

    monkeypatch.setattr(panel, "qr_svg", drawing)
    url = "https://shop.example/offer?utm_source=signage&utm_content=" + secrets.token_urlsafe(8)
    misses = qr_svg.cache_info().misses
    svgs = await asyncio.gather(*(screen_qr(url, "Scan") for _ in range(5)))
    assert qr_svg.cache_info().misses == misses + 1 and len(drawn_on) == 1  # drawn once for the five
    assert len(set(svgs)) == 1 and svgs[0] == qr_svg(url, title="Scan", ecc=SCREEN_ECC)
    assert drawn_on[0] != threading.get_ident()  # not on the event loop's thread
