"""Liveness and status: `/healthz` and `/api/status` (JSON)."""

from __future__ import annotations

from aiohttp import web

from .keys import APPLIANCE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def api_status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[APPLIANCE].status())


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/status", api_status)
