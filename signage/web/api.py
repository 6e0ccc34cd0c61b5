"""JSON and WebSocket APIs for other systems.

* `GET /api/audience` -- the current anonymous snapshot: people present and watching now, mood /
  age-group / gender mix, and per present session its coarse estimates (no image, no box).
* `GET /ws/audience` -- a WebSocket feed of audience events, one JSON object per message:
  `{"topic": ..., "at": unix seconds, "data": {...}}` with topics `hello` (first message, with
  the snapshot), `session.started`, `session.ended` (dwell, attention, dominant and smoothed
  age group / gender / mood), `play.started` and `play.ended` (the ad and its audience).
  A client that reads too slowly loses its oldest events, never blocking the appliance.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from ..config import DeviceConfig
from .guard import AUDIENCE_SOCKETS, SocketLimits, client_address
from .keys import APPLIANCE

log = logging.getLogger(__name__)

__all__ = ["setup", "public_snapshot", "play_event"]

MAX_WS_CLIENTS = 32
WS_TOPICS = ("session.started", "session.ended", "player.state", "player.play_ended")
PERSON_KEYS = ("session_id", "mood", "age_group", "gender", "mask", "frontal", "dwell_s", "attention_s")

WS_CLIENTS = web.AppKey("audience_ws_clients", weakref.WeakSet[web.WebSocketResponse])


def public_snapshot(snap: Mapping[str, Any], device: DeviceConfig) -> dict[str, Any]:
    """Only anonymous aggregates and coarse per-session estimates leave the appliance.
    `snap` is `Audience.snapshot()`."""
    return {
        "device": {"id": device.id, "location": device.location},
        "available": True,  # kept for API clients; the audience model always answers
        "at": snap["at"],
        "present": snap["present"],
        "watching": snap["watching"],
        "mood": snap["mood"],
        "mood_mix": dict(snap["mood_mix"]),
        "age_group_mix": dict(snap["age_group_mix"]),
        "gender_mix": dict(snap["gender_mix"]),
        "masked": snap["masked"],
        "people": [{k: p[k] for k in PERSON_KEYS} for p in snap["people"]],
        "note": "counts are anonymous sessions (face tracks), not identified people",
    }


async def api_audience(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    return web.json_response(public_snapshot(appliance.audience.snapshot(), appliance.config.device))


AUDIENCE_KEYS = ("present", "watching", "mood", "mood_mix", "age_group_mix", "gender_mix")


def play_event(
    topic: str, data: Mapping[str, Any], snapshot: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]] | None:
    """Map the player's events to the feed's `play.started` / `play.ended` (ads only), or None.

    `player.state` with state "ad" starts a play: it carries the ad and the audience in front of
    the screen at that moment. `player.play_ended` ends it with its delivered audience
    (impressions = OTS, watchers, and the play's audience mix when the player includes it)."""
    if topic == "player.state" and data.get("state") == "ad":
        ad: Mapping[str, Any] = data["ad"] if isinstance(data.get("ad"), Mapping) else {}
        out = {
            "play_id": data.get("play_id"),
            "started_at": data.get("since"),
            "ends_at": data.get("ends_at"),
            "ad": {k: ad.get(k) for k in ("slug", "title", "advertiser", "duration_s") if k in ad},
        }
        if snapshot:
            out["audience"] = {k: snapshot.get(k) for k in AUDIENCE_KEYS if k in snapshot}
        return "play.started", out
    if topic == "player.play_ended" and data.get("kind") == "ad":
        keep = ("play_id", "ad", "completed", "impressions", "watchers", "duration_s", "audience")
        out = {k: data[k] for k in keep if k in data}
        out.setdefault("audience", {})
        if isinstance(out["audience"], Mapping):
            out["audience"] = {
                **{"impressions": data.get("impressions"), "watchers": data.get("watchers")},
                **out["audience"],
            }
        return "play.ended", out
    return None


async def ws_audience(request: web.Request) -> web.StreamResponse:
    limits = request.app[AUDIENCE_SOCKETS]
    address = client_address(request)
    refused = limits.admit(address)  # at most MAX_WS_CLIENTS in all, a few per address
    if refused:
        return web.json_response(
            {"error": f"too many feed clients: {refused}"}, status=503, headers={"Retry-After": "10"}
        )
    try:
        return await _ws_audience(request)
    finally:
        limits.release(address)


async def _ws_audience(request: web.Request) -> web.StreamResponse:
    appliance = request.app[APPLIANCE]
    clients = request.app[WS_CLIENTS]
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    await ws.prepare(request)
    clients.add(ws)
    sub = appliance.hub.subscribe(*WS_TOPICS, maxsize=256)
    try:
        await ws.send_json(
            {
                "topic": "hello",
                "at": time.time(),
                "data": public_snapshot(appliance.audience.snapshot(), appliance.config.device),
            }
        )

        async def reader() -> None:
            async for msg in ws:  # the feed is one-way; we only watch for close
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break

        read_task = asyncio.create_task(reader())
        try:
            while not ws.closed:
                get = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait({get, read_task}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    break
                event = get.result()
                data = event.data if isinstance(event.data, Mapping) else {}
                out: tuple[str, dict[str, Any]] | None
                if event.topic.startswith("session."):
                    out = (event.topic, dict(data))
                else:
                    snap = appliance.audience.snapshot() if event.topic == "player.state" else None
                    out = play_event(event.topic, data, snap)
                if out is None:
                    continue
                await ws.send_json({"topic": out[0], "at": event.at, "data": out[1]})
        finally:
            read_task.cancel()
    except ConnectionResetError:
        pass
    finally:
        sub.close()
        clients.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws


async def _close_ws(app: web.Application) -> None:
    clients = app[WS_CLIENTS]
    for ws in list(clients):
        await ws.close(code=1001, message=b"server shutdown")


def setup(app: web.Application) -> None:
    app[WS_CLIENTS] = weakref.WeakSet()
    app[AUDIENCE_SOCKETS] = SocketLimits(total=MAX_WS_CLIENTS, per_client=4)
    app.on_shutdown.append(_close_ws)
    app.router.add_get("/api/audience", api_audience)
    app.router.add_get("/ws/audience", ws_audience)
