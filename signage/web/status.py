"""Liveness and status: `/healthz` and `/api/status` (JSON)."""

from __future__ import annotations

from aiohttp import web

from .keys import APPLIANCE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def api_status(request: web.Request) -> web.Response:
    from .panel import plan_for  # where the QR codes point: the operator checks it here

    appliance = request.app[APPLIANCE]
    return web.json_response({**await appliance.status(), "qr": plan_for(appliance).status()})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/status", api_status)
