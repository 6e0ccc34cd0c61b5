"""Live view: camera, analysis speed, who is here now (counts and mixes, never images), what is
playing and why, database size, uptime. The page renders once on the server and then refreshes
itself from `/admin/live.json` every two seconds (script from /admin/static, no inline code)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..keys import APPLIANCE
from ..panel import plan_for
from .core import admin_route, render

if TYPE_CHECKING:
    from ...app import Appliance


def _round_mix(mix: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in mix.items()}


async def live_data(appliance: Appliance) -> dict[str, Any]:
    status = await appliance.status()
    audience = status["audience"]
    aud = {
        "present": audience["present"],
        "watching": audience["watching"],
        "mood": audience["mood"],
        "mood_mix": _round_mix(audience["mood_mix"]),
        "age_group_mix": _round_mix(audience["age_group_mix"]),
        "gender_mix": _round_mix(audience["gender_mix"]),
        "people": [{k: p[k] for k in ("mood", "age_group", "gender", "frontal", "dwell_s", "attention_s")}
                   for p in audience["people"]],
    }
    return {
        "at": time.time(),
        "device": status.get("device"),
        "uptime_s": status.get("uptime_s"),
        "camera": status.get("camera"),
        "database": status.get("database"),
        "errors": status.get("errors") or {},
        "fleet": status.get("fleet") or {},  # outbox, last ship, content version (password-free)
        "qr": plan_for(appliance).status(),
        "vision": status["vision"],
        "audience": aud,
        "playing": appliance.player.current(),
        "decision": appliance.player.last_decision(),
    }


@admin_route
async def live_page(request: web.Request) -> web.Response:
    data = await live_data(request.app[APPLIANCE])
    return render(request, "live.html", live=data)


@admin_route
async def live_fragment(request: web.Request) -> web.Response:
    data = await live_data(request.app[APPLIANCE])
    return render(request, "live_body.html", live=data)


@admin_route
async def live_json(request: web.Request) -> web.Response:
    from .core import dumps
    data = await live_data(request.app[APPLIANCE])
    return web.Response(text=dumps(data), content_type="application/json")


@admin_route
async def decision_last(request: web.Request) -> web.Response:
    """`GET /api/decision/last`: the player's latest ad decision, explained (candidates with
    their CPM, pacing and budget). Admin only: it is commercial data."""
    from .core import dumps
    decision = request.app[APPLIANCE].player.last_decision()
    if not decision:
        return web.json_response({"error": "no decision yet"}, status=404)
    return web.Response(text=dumps(decision), content_type="application/json")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", live_page)
    app.router.add_get("/admin/", live_page)
    app.router.add_get("/admin/live.json", live_json)
    app.router.add_get("/admin/live.fragment", live_fragment)
    app.router.add_get("/api/decision/last", decision_last)
