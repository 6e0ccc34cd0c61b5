"""Live view: camera, analysis speed, who is here now (counts and mixes, never images), what is
playing and why, database size, uptime. The page renders once on the server and then refreshes
itself from `/admin/live.json` every two seconds (script from /admin/static, no inline code)."""

from __future__ import annotations

import inspect
import time
from typing import Any

from aiohttp import web

from ..keys import APPLIANCE
from ..panel import plan_for
from .core import admin_route, render


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def component_status(obj: Any, *names: str) -> Any:
    """Call the first of `names` the component has (sync or async); None when it has none."""
    if obj is None:
        return None
    for name in names:
        fn = getattr(obj, name, None)
        if callable(fn):
            try:
                return await _maybe_await(fn())
            except Exception as exc:  # a live page must never fail because one part did
                return {"error": f"{type(exc).__name__}: {exc}"}
    return None


def _round_mix(mix: Any) -> dict[str, float]:
    if not isinstance(mix, dict):
        return {}
    return {str(k): round(float(v), 3) for k, v in mix.items() if isinstance(v, (int, float))}


async def live_data(appliance: Any) -> dict[str, Any]:
    status = await appliance.status()
    audience = await component_status(getattr(appliance, "audience", None), "snapshot")
    vision = await component_status(getattr(appliance, "vision", None), "status")
    player = getattr(appliance, "player", None)
    current = await component_status(player, "current")
    decision = await component_status(player, "last_decision")
    aud: dict[str, Any] = {}
    if isinstance(audience, dict):
        aud = {
            "present": audience.get("present", 0),
            "watching": audience.get("watching", 0),
            "mood": audience.get("mood"),
            "mood_mix": _round_mix(audience.get("mood_mix")),
            "age_group_mix": _round_mix(audience.get("age_group_mix")),
            "gender_mix": _round_mix(audience.get("gender_mix")),
            "people": [{k: p.get(k) for k in ("mood", "age_group", "gender", "frontal", "dwell_s",
                                              "attention_s")}
                       for p in audience.get("people", []) if isinstance(p, dict)],
        }
    return {
        "at": time.time(),
        "device": status.get("device"),
        "uptime_s": status.get("uptime_s"),
        "camera": status.get("camera"),
        "database": status.get("database"),
        "errors": status.get("errors") or {},
        "qr": plan_for(appliance).status(),
        "vision": vision,
        "audience": aud,
        "playing": current,
        "decision": decision,
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
    player = getattr(request.app[APPLIANCE], "player", None)
    if player is None or not hasattr(player, "last_decision"):
        return web.json_response({"error": "the player is not running"}, status=503)
    decision = await _maybe_await(player.last_decision())
    if not decision:
        return web.json_response({"error": "no decision yet"}, status=404)
    return web.Response(text=dumps(decision), content_type="application/json")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin", live_page)
    app.router.add_get("/admin/", live_page)
    app.router.add_get("/admin/live.json", live_json)
    app.router.add_get("/admin/live.fragment", live_fragment)
    app.router.add_get("/api/decision/last", decision_last)
