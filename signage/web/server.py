"""Builds the aiohttp application. Each area of the site registers its own routes."""

from __future__ import annotations

from aiohttp import web

from .keys import APPLIANCE
from . import status


def create_app(appliance) -> web.Application:
    app = web.Application(client_max_size=20 * 1024 * 1024)
    app[APPLIANCE] = appliance
    status.setup(app)
    from . import panel, mobile, media  # /panel, /ws/panel, /m/<token>, /rankings, /today, /privacy, /media/*
    panel.setup(app); mobile.setup(app); media.setup(app)
    from . import preview  # /api/camera/preview.jpg, only when web.camera_preview is on
    preview.setup(app)
    from . import admin  # /admin pages, /metrics, /api/audience, /api/report, /ws/audience
    admin.setup(app)
    return app
