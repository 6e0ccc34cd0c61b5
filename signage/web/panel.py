"""The fullscreen panel (`/panel`, what the kiosk's Chromium opens) and its live channel.

`/ws/panel` sends the player's current state as soon as a panel connects, then every
`player.state` and `audience.frame` event from the hub (and a status line every 2 s when
`web.status_overlay` is on). Messages are JSON: `{"type": "hello"|"state"|"faces"|"status",
"data": {...}, "now": <server time>}`. The panel only ever receives boxes, moods and mask
flags, never a camera image or a session id -- except the technician's corner preview, which
exists only when `web.camera_preview` is on (`signage/web/preview.py`). Rating states carry the play's mobile URL and its QR code as inline SVG.

Plain HTTP for what the panel reports back: `POST /api/panel/rate` (a tap on like/dislike)
and `POST /api/panel/media-failed` (a media file that did not load, so the player skips it).
(`GET /api/decision/last`, which names prices and budgets, lives in the admin area.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from markupsafe import Markup

from ..reports import public
from .guard import PANEL_KEYS, PANEL_SOCKETS, SocketLimits, client_address, read_json, same_origin
from .keys import APPLIANCE
from .pages import render
from .preview import PREVIEW_PATH
from .qr import QrPlan, qr_plan, qr_svg

if TYPE_CHECKING:
    from ..app import Appliance

log = logging.getLogger(__name__)

NOTICE = "This screen uses a camera to estimate age, gender and mood to choose what plays. No images are stored."
STATUS_EVERY_S = 2.0
#: error correction of the QR codes on the screen: L. A screen is not a printed label that gets
#: scratched or creased, and the lowest level means the fewest (so the largest) modules: what
#: lets a phone read the code from 1-2 m (tests/browser/test_panel_qr_distance.py)
SCREEN_ECC = "L"
PANEL_SOURCE_DEVICE = "panel"
#: the error panel.js reports when a media file did not load within its LOAD_TIMEOUT_MS
#: (withTimeout): slow, not known to be broken
PANEL_LOAD_TIMEOUT_ERROR = "timeout"


#: player-state keys the panel never gets: the decision's reason names CPM prices and
#: (for the age gate) session ids -- admin data (`/api/decision/last`, the live view)
PRIVATE_STATE_KEYS = ("reason", "decision")


def plan_for(appliance: Appliance) -> QrPlan:
    """Where this screen's QR codes point now (config `web.qr_mode`, the address it serves at)."""
    web_cfg = appliance.config.web
    return qr_plan(web_cfg.qr_mode, web_cfg.public_url, appliance.base_url)


def log_plan(appliance: Appliance) -> QrPlan:
    """Say at start which QR mode is in force, and warn in one line when phones on mobile data
    cannot open a QR code (called once the server listens and its address is known)."""
    plan = plan_for(appliance)
    log.info(
        "QR codes: mode %s (%s)",
        plan.mode,
        {
            "public": f"this screen's pages at {plan.base_url}",
            "landing": "advertisers' landing pages with utm_* parameters; rating on the panel",
            "lan": f"this screen's pages at its LAN address {plan.base_url}",
        }[plan.mode],
    )
    if plan.warning():
        log.warning("%s", plan.warning())
    return plan


#: QR codes being drawn now, so the panels that get the same new play wait for one drawing
_drawing: dict[tuple[str, str], asyncio.Future[str]] = {}


async def screen_qr(url: str, title: str) -> str:
    """The SVG of a screen QR code, drawn in a worker thread: the qrcode package is pure Python
    and takes ~17 ms for a campaign URL here (several times that on a Pi), once per play, which
    on the event loop was a lag spike for every request in flight (scripts/soak)."""
    key = (url, title)
    drawing = _drawing.get(key)
    if drawing is None:
        drawing = asyncio.ensure_future(asyncio.to_thread(qr_svg, url, title=title, ecc=SCREEN_ECC))
        _drawing[key] = drawing
        drawing.add_done_callback(lambda _: _drawing.pop(key, None))
    return await asyncio.shield(drawing)  # one panel leaving must not cancel the others' wait


async def panel_state(appliance: Appliance, state: dict[str, Any]) -> dict[str, Any]:
    """What the panel needs of a player state: ad and rating states get their QR link and code
    (per `web.qr_mode`); the decision's reasons stay on the server."""
    out = {k: v for k, v in state.items() if k not in PRIVATE_STATE_KEYS}
    token, ad = out.get("token"), out.get("ad")
    if out.get("state") in ("ad", "rating") and isinstance(token, str) and token and isinstance(ad, dict):
        plan = plan_for(appliance)
        ad = dict(ad)
        url = plan.ad_url(str(ad.get("slug") or ""), token, str(ad.pop("landing_url", "") or ""))
        out["ad"] = ad
        out["qr_mode"] = plan.mode
        out["qr_url"] = url
        if url:
            title = (
                "Scan for the advertiser's offer"
                if plan.mode == "landing"
                else "Scan to rate this ad and see its details"
            )
            out["qr_svg"] = await screen_qr(url, title)
    return out


def faces_message(data: dict[str, Any]) -> dict[str, Any]:
    """The audience model's `audience.frame` event -> the overlay's list: id (a small number
    that only tells emoji apart between frames, never a session id), normalised box
    (x, y, w, h), mood, mask."""
    return {
        "at": data["at"],
        "faces": [
            {
                "id": str(f["id"]),
                "box": [round(float(v), 4) for v in f["box"]],
                "mood": f["mood"] or "neutral",
                "mask": bool(f["mask"]),
            }
            for f in data["faces"]
        ],
    }


def status_line(appliance: Appliance) -> dict[str, Any]:
    """The technician's corner: camera state and fps, faces present, analysis fps, errors."""
    cam = appliance.camera.status()
    snap = appliance.audience.snapshot()
    return {
        "camera": cam.get("state"),
        "fps": cam.get("fps"),
        "faces": snap.get("present"),
        "watching": snap.get("watching"),
        "mood": snap.get("mood"),
        "vision_fps": appliance.vision.status().get("fps"),
        "errors": len(appliance.component_errors),
    }


# --- handlers --------------------------------------------------------------------------------


async def panel_page(request: web.Request) -> web.Response:
    app = request.app[APPLIANCE]
    plan = plan_for(app)
    web_cfg = app.config.web
    preview_on = bool(web_cfg.camera_preview)
    return render(
        request,
        "panel.html",
        {
            "notice": NOTICE,
            "privacy_qr": Markup(await screen_qr(plan.privacy_url, "Privacy details")),
            "privacy_url": plan.privacy_url,
            "qr_mode": plan.mode,
            "status_overlay": web_cfg.status_overlay,
            "camera_preview": preview_on,
            # the page's own secret: /api/panel/* answers only requests that carry it
            "config_json": Markup(
                json.dumps(
                    {
                        "statusOverlay": web_cfg.status_overlay,
                        "cameraPreview": PREVIEW_PATH if preview_on else None,
                        "qrMode": plan.mode,
                        "stripSide": web_cfg.strip_side,
                        "stripSize": web_cfg.strip_size,
                        "panelKey": request.app[PANEL_KEYS].issue(),
                    }
                )
            ),
        },
    )


async def panel_ws(request: web.Request) -> web.StreamResponse:
    if not same_origin(request):  # another site's page must not hold a panel socket
        return web.json_response({"error": "cross-site WebSocket refused"}, status=403)
    limits = request.app[PANEL_SOCKETS]
    address = client_address(request)
    refused = limits.admit(address)
    if refused:
        log.warning("/ws/panel refused: %s", refused)
        return web.json_response({"error": refused}, status=503, headers={"Retry-After": "10"})
    try:
        return await _panel_ws(request)
    finally:
        limits.release(address)


async def _panel_ws(request: web.Request) -> web.WebSocketResponse:
    app = request.app[APPLIANCE]
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=4096)
    await ws.prepare(request)
    sub = app.hub.subscribe("player.state", "audience.frame", maxsize=64)

    async def send(kind: str, data: dict[str, Any]) -> None:
        await ws.send_json({"type": kind, "data": data, "now": time.time()})

    async def forward() -> None:
        await send("hello", {"status_overlay": app.config.web.status_overlay})
        state = app.player.current()
        if state:
            await send("state", await panel_state(app, state))
        last_faces = app.hub.last("audience.frame")
        if last_faces and time.time() - last_faces.at < 2:
            await send("faces", faces_message(last_faces.data))
        next_status = 0.0
        while not ws.closed:
            timeout = None
            if app.config.web.status_overlay:
                now = time.time()
                if now >= next_status:
                    await send("status", status_line(app))
                    next_status = now + STATUS_EVERY_S
                timeout = max(0.05, next_status - time.time())
            try:
                ev = await asyncio.wait_for(sub.get(), timeout)
            except TimeoutError:
                continue
            if ev.topic == "player.state":
                await send("state", await panel_state(app, ev.data))
            elif ev.topic == "audience.frame":
                await send("faces", faces_message(ev.data))

    task = asyncio.create_task(forward(), name="panel-ws")
    try:
        async for msg in ws:  # the panel only pings; anything else is ignored
            if msg.type == WSMsgType.TEXT and msg.data == "ping":
                await ws.send_str("pong")
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        sub.close()
    return ws


#: play ids are SQLite integers
MAX_PLAY_ID = 2**63 - 1


async def _panel_body(request: web.Request) -> dict[str, Any]:
    """Only the panel may report: same-origin, with the secret its page was given."""
    if not same_origin(request) or not request.app[PANEL_KEYS].valid(request.headers.get("X-Panel-Key")):
        raise web.HTTPForbidden(text="only the panel page of this screen may send this")
    return await read_json(request)


async def panel_rate(request: web.Request) -> web.Response:
    """A tap on the panel's like/dislike. Only for a recent ad play (the rating screen's),
    one per play from the panel (the schema's UNIQUE(play, source, device))."""
    app = request.app[APPLIANCE]
    body = await _panel_body(request)
    value = body.get("value")
    value = (
        {"like": 1, "dislike": -1, 1: 1, -1: -1}.get(value)
        if isinstance(value, (str, int)) and not isinstance(value, bool)
        else None
    )
    play_id = body.get("play_id")
    if value is None or not isinstance(play_id, int) or isinstance(play_id, bool) or not 0 < play_id <= MAX_PLAY_ID:
        raise web.HTTPBadRequest(text='expected {"play_id": <int>, "value": "like"|"dislike"}')
    state = app.player.current()
    on_screen = state.get("play_id") == play_id and state.get("state") in ("ad", "rating")
    if not on_screen:  # a tap that arrives just after the screen moved on is still welcome
        started_at = await public.ad_play_started_at(app.store, play_id)
        if started_at is None:
            return web.json_response({"ok": False, "error": "unknown play"}, status=404)
        if time.time() - started_at > 3600:
            return web.json_response({"ok": False, "error": "this play is too old to rate here"}, status=409)
    try:
        recorded = await app.player.record_rating(play_id, value, "panel", PANEL_SOURCE_DEVICE)
    except (LookupError, ValueError) as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=404)
    return web.json_response({"ok": True, "recorded": recorded})


async def panel_media_failed(request: web.Request) -> web.Response:
    app = request.app[APPLIANCE]
    body = await _panel_body(request)
    kind, ident = body.get("kind"), body.get("id")
    if kind not in ("ad", "healing") or not isinstance(ident, (str, int)) or len(str(ident)) > 200:
        raise web.HTTPBadRequest(text='expected {"kind": "ad"|"healing", "id": ...}')
    error = str(body.get("error", ""))[:200]
    # The panel's own timeout: the file may be fine and the screen's browser starved.
    slow = error == PANEL_LOAD_TIMEOUT_ERROR
    log.warning(
        "panel could not load %s media %r (%s): %s",
        kind,
        ident,
        str(body.get("url", ""))[:200],
        error or "no reason given",
    )
    app.player.media_failed(kind, str(ident), slow=slow)
    return web.json_response({"ok": True})


#: open /ws/panel sockets: in all, and from one address (a kiosk holds one, two while it
#: reconnects; a few screens may share a host)
PANEL_SOCKETS_TOTAL = 16
PANEL_SOCKETS_PER_CLIENT = 8


def setup(app: web.Application) -> None:
    app[PANEL_SOCKETS] = SocketLimits(total=PANEL_SOCKETS_TOTAL, per_client=PANEL_SOCKETS_PER_CLIENT)
    app.router.add_get("/panel", panel_page)
    app.router.add_get("/ws/panel", panel_ws)
    app.router.add_post("/api/panel/rate", panel_rate)
    app.router.add_post("/api/panel/media-failed", panel_media_failed)
