"""Builds the aiohttp application. Each area of the site registers its own routes."""

from __future__ import annotations

from aiohttp import web

from ..app import Appliance
from . import admin, api, guard, media, metrics, mobile, pages, panel, preview, status
from .admin.ads import VIDEO_MAX
from .admin.photo import MAX_PHOTO_BYTES
from .keys import APPLIANCE
from .secret import derive, load_secret


def create_app(appliance: Appliance) -> web.Application:
    # the largest body any route takes; each route's own limit is set below (guard.SMALL_BODY
    # for everything that is not an upload) and checked before the body is read
    app = web.Application(client_max_size=VIDEO_MAX + 1024 * 1024)
    app[APPLIANCE] = appliance
    secret = load_secret(appliance.config.storage.data_dir)
    guard.setup(app, panel_key=derive(secret, "panel-key"))  # body limits per route, checked before a body is read
    app[guard.BODY_LIMITS].set("/admin/photo", MAX_PHOTO_BYTES + 256 * 1024)
    app[guard.BODY_LIMITS].set("/admin/ads/", VIDEO_MAX + 1024 * 1024)
    status.setup(app)  # /api/status, /healthz
    pages.setup(app)  # friendly 404/500 pages, /static/
    # inside the 500 page: unparseable input is a 400, a database that cannot write a 503
    app.middlewares.append(guard.errors_middleware)
    panel.setup(app)  # /panel, /ws/panel, /api/panel/*
    # /m/<token>, /rankings, /today, /privacy, /emoticon/*
    mobile.setup(app, device_key=derive(secret, "device-cookie"))
    media.setup(app)  # /media/*
    preview.setup(app)  # /api/camera/preview.jpg, only when web.camera_preview is on
    metrics.setup(app)  # /metrics (public: anonymous aggregates)
    api.setup(app)  # /api/audience, /ws/audience (public: anonymous aggregates)
    admin.setup(app)  # /admin pages, /api/report, /api/decision/last (behind the admin login)
    return app
