"""The panel as a shop runs it (issue 11): QR codes that work on mobile data, nothing over the
creative, legible from 3 m, never black, an outage the panel rides out calmly, portrait creatives,
and phone pages without serious accessibility problems.

One real appliance for the module (photos camera source with people in front of it, real models,
real SQLite) in the default QR mode for a screen without a public address ("landing": the
advertiser's page with campaign parameters), short ads and rating screens so that many
transitions happen in little time.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest
from PIL import Image

from signage.web.qr import campaign_url

from .conftest import SCREENSHOTS, axe_serious, start_live, wait_for, zbar_decode
from .test_panel_browser import PEOPLE, decode_qr, shown, state

pytestmark = pytest.mark.browser

T = TypeVar("T")

LANDING = {
    "sunrise-bakery": "https://sunrise-bakery.example",
    "green-wave-bikes": "https://greenwave.example/first-ride?lang=en",
}

#: what lies over (or next to) the creative: none of it may overlap the creative's content
OVERLAYS = [
    "#strip",
    "#strip-ad",
    "#privacy",
    "#privacy-qr-box",
    ".privacy-notice",
    "#mirror",
    "#faces",
    "#caption",
    "#rating",
]

#: text a shopper must read from 3 m, in the strip during an ad and on the rating screen
MUST_READ_AD = ["#ad-qr-label", ".privacy-more", ".privacy-notice"]
MUST_READ_RATING = [".rating-kicker", "#rating-qr-label", "#btn-like span", "#btn-dislike span"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory, photos):
    server = start_live(
        tmp_path_factory.mktemp("shop"),
        [photos(PEOPLE)],
        # short, to see many states; long enough that a CI machine starved of CPU (4x slower)
        # still takes a screenshot while one lasts
        ad_seconds=5,
        player={"rating_seconds": 2.5, "healing_min_seconds": 0.5, "idle_healing_seconds": 60.0, "poll_seconds": 0.1},
    )
    try:
        server.wait_people(1)
        yield server
    finally:
        server.stop()


def qr_text(png: bytes) -> list[str]:
    found = zbar_decode(png)
    if found is None:  # zbarimg missing: OpenCV's reader (one code per crop)
        found = [t for t in [decode_qr(png)] if t]
    return found


def crop(png: bytes, box: dict) -> bytes:
    """The part of a screenshot inside an element's box (CSS pixels = screen pixels here)."""
    img = Image.open(io.BytesIO(png)).crop(
        (int(box["x"]), int(box["y"]), int(box["x"] + box["w"]), int(box["y"] + box["h"]))
    )
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def boxes(page) -> dict:
    """The creative's content box (its layer minus a safe zone the strip may cover) and the boxes
    of everything else on screen, in CSS pixels."""
    return page.evaluate(
        """(sels) => {
        const r = e => { const b = e.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
        const layer = document.querySelector('#stage .layer.in:not(.old)[data-kind=ad]');
        let content = null;
        if (layer) {
            content = r(layer);
            const side = layer.dataset.safeSide, size = parseFloat(layer.dataset.safeSize || '0');
            if (side === 'right') content.w -= content.w * size;
            if (side === 'left') { content.x += content.w * size; content.w -= content.w * size; }
            if (side === 'bottom') content.h -= content.h * size;
            if (side === 'top') { content.y += content.h * size; content.h -= content.h * size; }
        }
        const visible = e => { const s = getComputedStyle(e); const b = e.getBoundingClientRect();
            return s.display !== 'none' && s.visibility !== 'hidden' && !e.closest('[hidden]') && b.width > 0 && b.height > 0; };
        const over = [];
        for (const sel of sels) for (const e of document.querySelectorAll(sel)) if (visible(e)) over.push({sel, ...r(e)});
        return {content, over, state: window.panel.state && window.panel.state.state, shown: window.panel.shown,
                media: layer ? (layer.querySelector('img,iframe,video') || {}).src || '' : ''};
    }""",
        OVERLAYS,
    )


def legibility(page, sels: list[str]) -> list[dict]:
    """For each visible element: its font size, box, and whether its text is clipped -- by the
    element itself (scroll size above its client size), by its container (the strip or the rating
    screen, which clip what overflows) or by the screen's edge."""
    return page.evaluate(
        """(sels) => sels.map(sel => {
        const e = document.querySelector(sel);
        const b = e.getBoundingClientRect(), s = getComputedStyle(e);
        const c = e.closest('#strip, #rating').getBoundingClientRect();
        const inside = (o, i) => i.x >= o.x - 1 && i.y >= o.y - 1 && i.right <= o.right + 1 && i.bottom <= o.bottom + 1;
        return {sel, text: e.innerText, font: parseFloat(s.fontSize), visible: b.width > 0 && b.height > 0,
                clipped: e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1
                         || !inside(c, b) || !inside(new DOMRect(0, 0, innerWidth, innerHeight), b),
                box: {x: b.x, y: b.y, w: b.width, h: b.height}};
    })""",
        sels,
    )


def overlap(a: dict, b: dict) -> float:
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(0.0, w) * max(0.0, h)


def wait_ad_on_screen(page, timeout=60):
    return wait_for(
        lambda: (
            state(page) == "ad"
            and shown(page).startswith("ad:")
            and page.evaluate("document.body.dataset.state") == "ad"
            and page.evaluate("!document.getElementById('strip-ad').hidden")
        ),
        timeout,
        "an ad on screen",
    )


def look_at_rating(server, page, look: Callable[[], T], tries: int = 10) -> tuple[dict, T]:
    """The panel's state and what `look()` saw on one rating screen after its fade-in ended,
    checked to be still that screen afterwards. The appliance's time is held while the test
    looks (the rating screens here last 2.5 s); a look that began as the screen ended, or
    during the panel's outage scene, is tried again on the next rating screen."""
    for _ in range(tries):
        wait_for(lambda: state(page) == "rating" and page.locator("#rating").is_visible(), 30, "the rating screen")
        with server.held():
            before = page.evaluate(
                """async () => {
                    const r = document.getElementById('rating');
                    // its own fade-in only: the countdown bar inside runs as long as the screen
                    await Promise.all(r.getAnimations().map(a => a.finished.catch(() => null)));
                    return window.panel.state;
                }"""
            )
            swaps = page.evaluate("window.panel.swaps")
            seen = look()
            after = page.evaluate("window.panel.state")
            # a server that answered no ping for 7 s (a starved machine) puts the panel in its
            # outage scene, which hides the rating screen while the last state is still "rating"
            shown_whole = page.evaluate(
                "(n) => n === window.panel.swaps && !window.panel.offline && !document.getElementById('rating').hidden",
                swaps,
            )
        if before["state"] == after["state"] == "rating" and after["play_id"] == before["play_id"] and shown_whole:
            return before, seen
    pytest.fail(f"none of {tries} rating screens lasted long enough to be looked at")


def test_the_ads_qr_shows_while_it_plays_and_opens_the_advertisers_page(browser, shop, shot):
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    page.goto(shop.url + "/panel")
    assert shop.status()["qr"]["mode"] == "landing"
    captured = {}  # slug -> (state, screenshot, QR crop, QR size): one capture of each test ad
    looks = []  # what each look found, for the message should an ad never be captured
    # bounded in time, well inside pytest's 600 s: a timeout that fires while pytest formats
    # a failure crashes the whole parallel run
    deadline = time.monotonic() + 300
    while set(captured) != set(LANDING) and time.monotonic() < deadline:
        wait_ad_on_screen(page)
        with shop.held():  # the ad stays on screen while it is looked at, however slow that is
            page.wait_for_timeout(800)  # the cross-fade has run; the strip's QR is in place
            st, box = page.evaluate(
                "(() => { const b = document.getElementById('ad-qr').getBoundingClientRect();"
                " return [window.panel.state, {x: b.x, y: b.y, w: b.width, h: b.height}]; })()"
            )
            png = page.screenshot()
            after = page.evaluate("window.panel.state")
        looks.append((st["state"], (st.get("ad") or {}).get("slug"), after["play_id"] == st["play_id"], box["w"]))
        if st["state"] == after["state"] == "ad" and after["play_id"] == st["play_id"] and box["w"]:
            captured.setdefault(st["ad"]["slug"], (st, png, crop(png, box), box["w"]))
        wait_for(lambda: state(page) != "ad", 30, "the ad to end")
    assert set(captured) == set(LANDING), (sorted(captured), looks[-10:], shop.status()["player"])
    (SCREENSHOTS / "panel-landscape-ad-landing-qr.png").write_bytes(captured["sunrise-bakery"][1])
    for slug, (st, png, qr_png, size) in captured.items():
        # a consistent size, large enough for a phone 2 m away (test_panel_qr_distance.py): whole
        # pixels a module, at most its box (27.5 % of the short side: 6 pixels a module for the
        # 41 modules of a landing URL with campaign parameters)
        assert 0.22 * 1080 <= size <= 0.275 * 1080 + 1, size
        expected = campaign_url(LANDING[slug], slug, st["token"])
        assert "utm_source=signage&utm_medium=dooh" in expected and f"utm_campaign={slug}" in expected
        found = qr_text(png) + [decode_qr(qr_png)]
        assert expected in found, (found, expected)
        # (how far away a phone reads both codes, in every QR mode: test_panel_qr_distance.py)
    # and again on the rating screen, with the rating on the panel
    rs, (rating_png, box, like) = look_at_rating(
        shop,
        page,
        lambda: (
            page.screenshot(),
            page.evaluate(
                "(() => { const b = document.getElementById('rating-qr').getBoundingClientRect();"
                " return {x: b.x, y: b.y, w: b.width, h: b.height}; })()"
            ),
            page.locator("#btn-like").is_visible(),
        ),
    )
    assert box["w"]
    rating_url = rs["qr_url"]
    assert rating_url == campaign_url(LANDING[rs["ad"]["slug"]], rs["ad"]["slug"], rs["token"])
    assert rating_url in qr_text(crop(rating_png, box))
    assert like  # the rating stays on the panel
    ctx.close()


@pytest.mark.parametrize("width, height", [(1920, 1080), (1080, 1920)])
def test_nothing_covers_the_creative_and_must_read_text_is_large(browser, shop, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.goto(shop.url + "/panel")
    short = min(width, height)
    checked, medias = 0, set()
    deadline = time.monotonic() + 300  # about 40 s on a quiet machine
    while (checked < 4 or len(medias) < 2) and time.monotonic() < deadline:
        wait_ad_on_screen(page)
        with shop.held():  # the ad stays on screen while it is looked at
            page.wait_for_timeout(400)  # the fade has run; emoji have moved into the mirror
            b = boxes(page)
            # legible from 3 m: every must-read text at >= 3 % of the screen's HEIGHT (in portrait
            # the long side: a 55" portrait screen is 1.2 m high, 3 % = 36 mm), and whole (not clipped)
            ad_text = legibility(page, MUST_READ_AD)
            still = state(page) == "ad" and page.evaluate("window.panel.shown") == b["shown"]
        if b["state"] != "ad" or not b["content"] or not still:
            continue  # the ad ended just before the hold
        for o in b["over"]:
            assert overlap(b["content"], o) < 1.0, (o, b["content"])
        for t in ad_text:
            assert t["visible"] and t["font"] >= 0.03 * height, (t, height)
            assert not t["clipped"], t
        # the emoji live in the strip's mirror box (their container clips them to it)
        mirror = next(o for o in b["over"] if o["sel"] == "#mirror")
        faces = next((o for o in b["over"] if o["sel"] == "#faces"), None)
        if faces:
            assert abs(faces["x"] - mirror["x"]) < 1 and abs(faces["w"] - mirror["w"]) < 1, (faces, mirror)
            assert page.evaluate("getComputedStyle(document.getElementById('faces')).overflow") == "hidden"
        medias.add(b["media"].rsplit("/", 1)[-1])
        checked += 1
        wait_for(lambda: state(page) != "ad", 30, "the ad to end")
    assert checked >= 3, f"ads checked: {checked}"
    # the portrait screen shows the ad made for it
    if height > width:
        assert "creative-portrait.png" in medias and "creative.png" not in medias, medias
    else:
        assert "creative.png" in medias and "creative-portrait.png" not in medias, medias
    # the privacy QR at >= 11 % of the short side; no raw address shown to shoppers; the rating
    # screen's text as large and whole as the strip's
    qr = page.evaluate("document.getElementById('privacy-qr').getBoundingClientRect().width")
    assert qr >= 0.11 * short, qr
    assert "http" not in page.inner_text("#strip")
    _, (rating_text, b) = look_at_rating(shop, page, lambda: (legibility(page, MUST_READ_RATING), boxes(page)))
    for t in rating_text:
        assert t["visible"] and t["font"] >= 0.03 * height, (t, height)
        assert not t["clipped"], t
    rating = next(o for o in b["over"] if o["sel"] == "#rating")
    for o in b["over"]:
        if o["sel"] in (".face:not(.gone)", "#strip", "#strip-ad", "#privacy", ".privacy-notice"):
            assert overlap(rating, o) < 1.0, (o, rating)  # nothing over the rating buttons or QR
    ctx.close()


def test_a_creatives_safe_zone_may_lie_under_the_strip_and_nothing_else(browser, shop):
    """An ad whose ad.toml declares its right 25 % free of anything important (wider than the strip) fills the screen,
    the strip over that band; the rest of the creative stays clear."""
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = ctx.new_page()
    page.goto(shop.url + "/panel")
    wait_for(lambda: page.evaluate("window.panel.connected") and shown(page) != "fallback", 30, "a connected panel")
    ad = {
        "slug": "sunrise-bakery",
        "title": "Sunrise Bakery",
        "media_url": "/media/ads/sunrise-bakery/creative.png",
        "media_type": "image",
        "duration_s": 2,
        "safe_zone": {"side": "right", "size": 0.25},
    }

    def put_on_screen(play_id: int, token: str) -> None:
        """The ad state published on the real hub, as the player does with what inventory read
        from ad.toml; again every few seconds, should a state the player published as the hold
        began have come after it."""
        sent = 0.0

        def on_screen() -> bool:
            nonlocal sent
            if time.monotonic() - sent > 4 and not shown(page).startswith(f"ad:{play_id}:"):
                sent = time.monotonic()
                state = {"state": "ad", "play_id": play_id, "token": token, "ad": dict(ad)}
                shop.loop.call_soon_threadsafe(shop.appliance.hub.publish, "player.state", state)
            return shown(page).startswith(f"ad:{play_id}:")

        wait_for(on_screen, 40, f"the ad of play {play_id} on screen")

    # the player's time stands still: its own states do not replace the ones published here
    with shop.held():
        put_on_screen(999997, "T" * 22)

        def layout():
            layer = page.evaluate(
                "(() => { const l = document.querySelector('#stage .layer.in:not(.old)[data-kind=ad]');"
                " return l ? {under: l.classList.contains('under'), w: l.getBoundingClientRect().width,"
                " over: document.getElementById('strip').classList.contains('over')} : null })()"
            )
            b = boxes(page)
            return (b, layer) if layer and b["content"] else None

        b, layer = wait_for(layout, 40, "the safe-zone ad's layout")
        assert layer["under"] and layer["over"] and layer["w"] == 1920  # the whole screen
        assert abs(b["content"]["w"] - 0.75 * 1920) < 1
        for o in b["over"]:
            assert overlap(b["content"], o) < 1.0, (o, b["content"])
        # a safe zone on another side than the strip changes nothing: the creative keeps its area
        ad["safe_zone"] = {"side": "bottom", "size": 0.3}
        put_on_screen(999996, "U" * 22)
        assert not page.evaluate(
            "document.querySelector('#stage .layer[data-key^=\"ad:999996\"]').classList.contains('under')"
        )
    ctx.close()


def frame_problem(png: bytes, area: dict) -> str:
    """'' for a good frame (PNG or JPEG); else why it is black or blank (the creative area alone)."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)
    x, y, w, h = (int(area[k]) for k in ("x", "y", "w", "h"))
    crop = img[y : y + h, x : x + w]
    if crop.mean() < 16:
        return f"black (mean {crop.mean():.1f})"
    if crop.std() < 2.0:
        return f"blank (one flat colour, std {crop.std():.2f})"
    return ""


def test_no_black_or_blank_frame_at_ten_transitions(browser, shop):
    """Every frame Chromium paints (its screencast, as a screen recorder sees it) while the panel
    goes through ten media transitions: none may be black or blank in the creative area."""
    import base64

    ctx = browser.new_context(viewport={"width": 960, "height": 540})
    page = ctx.new_page()
    page.goto(shop.url + "/panel")
    wait_for(lambda: page.evaluate("window.panel.connected") and shown(page) != "fallback", 30, "a connected panel")
    area = page.evaluate("window.panel.area")
    cdp = ctx.new_cdp_session(page)
    frames: list[bytes] = []

    def on_frame(ev):
        frames.append(base64.b64decode(ev["data"]))
        cdp.send("Page.screencastFrameAck", {"sessionId": ev["sessionId"]})

    cdp.on("Page.screencastFrame", on_frame)
    start = page.evaluate("window.panel.swaps")
    # JPEG: PNG-encoding every frame took much of a starved machine's CPU (a flat or black frame
    # stays flat or black in a JPEG)
    cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 85, "everyNthFrame": 1})
    # ten transitions take about a minute on a quiet machine; CI's was 4x slower
    deadline = time.monotonic() + 420
    while page.evaluate("window.panel.swaps") < start + 10 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.wait_for_timeout(800)  # the last cross-fade
    cdp.send("Page.stopScreencast")
    swaps = page.evaluate("window.panel.swaps") - start
    assert swaps >= 10, f"only {swaps} transitions in time ({len(frames)} frames)"
    assert len(frames) >= 30, len(frames)
    problems = [(i, why) for i, png in enumerate(frames) if (why := frame_problem(png, area))]
    assert not problems, f"{len(problems)} of {len(frames)} frames: {problems[:10]}"
    ctx.close()


def test_an_outage_shows_a_calm_scene_without_qr_codes_then_resumes(browser, shop, shot):
    import threading

    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    page.goto(shop.url + "/panel")
    wait_ad_on_screen(page)
    went_down, come_back = threading.Event(), threading.Event()
    down = threading.Thread(target=shop.restart_web, kwargs={"went_down": went_down, "come_back": come_back})
    down.start()
    try:
        assert went_down.wait(60)
        # the panel gives up on a server that answers no ping for 7 s (a starved machine is slower)
        wait_for(lambda: page.evaluate("window.panel.offline"), 20, "the outage scene")
        page.wait_for_timeout(800)  # the fade
        assert not page.locator("#ad-qr").is_visible() and not page.locator("#privacy-qr").is_visible()
        assert not page.locator("#rating").is_visible()
        assert page.locator(".privacy-notice").is_visible()  # people are still told
        assert page.locator("#caption").is_visible()
        assert frame_problem(page.screenshot(), page.evaluate("window.panel.area")) == ""
        shot(page, "panel-outage")
    finally:
        come_back.set()  # the server is back only once the outage has been looked at
        down.join(180)
    wait_for(
        lambda: page.evaluate("window.panel.connected") and not page.evaluate("window.panel.offline"),
        30,
        "the panel to reconnect",
    )
    wait_for(lambda: shown(page) != "calm" and page.locator("#privacy-qr").is_visible(), 30, "live content again")
    ctx.close()


PHONE = dict(
    viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True, bypass_csp=True
)  # axe is injected as a script


def test_phone_pages_and_panel_have_no_serious_accessibility_violations(browser, shop, shot):
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    with shop.db() as con:
        token = wait_for(
            lambda: con.execute(
                "SELECT token FROM plays WHERE kind = 'ad' AND token IS NOT NULL ORDER BY id DESC"
            ).fetchone(),
            30,
            "an ad play",
        )[0]
    found = {}
    for path in (f"/m/{token}", f"/m/{token}?r=thanks", "/m/", "/rankings", "/today", "/privacy", "/m/no-such-token"):
        page.goto(shop.url + path)
        assert page.request.get(shop.url + "/favicon.ico").ok
        found[path] = axe_serious(page)
    page.goto(shop.url + "/today")
    assert "stopped by" not in page.inner_text("main") and "people" not in page.inner_text("main").lower()
    page.goto(shop.url + f"/m/{token}")
    assert "SVG" not in page.inner_text("main")
    ctx.close()
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    page = ctx.new_page()
    page.goto(shop.url + "/panel")
    wait_ad_on_screen(page)
    with shop.held():  # each state stays on screen while axe looks at it
        found["/panel (ad)"] = axe_serious(page)
    _, found["/panel (rating)"] = look_at_rating(shop, page, lambda: axe_serious(page))
    ctx.close()
    bad = {k: v for k, v in found.items() if v}
    assert not bad, "\n".join(f"{k}: {v}" for k, v in bad.items())
