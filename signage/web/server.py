"""Builds the aiohttp application. Each area of the site registers its own routes."""

from __future__ import annotations

from aiohttp import web

from .keys import APPLIANCE
from . import guard, status


def create_app(appliance) -> web.Application:
    from .admin.ads import VIDEO_MAX
    from .admin.photo import MAX_PHOTO_BYTES

    # the largest body any route takes; each route's own limit is set below (guard.SMALL_BODY
    # for everything that is not an upload) and checked before the body is read
    app = web.Application(client_max_size=VIDEO_MAX + 1024 * 1024)
    app[APPLIANCE] = appliance
    guard.setup(app)
    app[guard.BODY_LIMITS].set("/admin/photo", MAX_PHOTO_BYTES + 256 * 1024)
    app[guard.BODY_LIMITS].set("/admin/ads/", VIDEO_MAX + 1024 * 1024)
    status.setup(app)
    from . import panel, mobile, media  # /panel, /ws/panel, /m/<token>, /rankings, /today, /privacy, /media/*
    panel.setup(app); mobile.setup(app); media.setup(app)
    from . import preview  # /api/camera/preview.jpg, only when web.camera_preview is on
    preview.setup(app)
    from . import admin  # /admin pages, /metrics, /api/audience, /api/report, /ws/audience
    admin.setup(app)
    return app
