"""Builds the aiohttp application. Each area of the site registers its own routes."""

from __future__ import annotations

from aiohttp import web

from ..app import Appliance
from . import admin, api, media, metrics, mobile, pages, panel, preview, status
from .keys import APPLIANCE


def create_app(appliance: Appliance) -> web.Application:
    app = web.Application(client_max_size=20 * 1024 * 1024)
    app[APPLIANCE] = appliance
    status.setup(app)  # /api/status, /healthz
    pages.setup(app)  # friendly 404/500 pages, /static/
    panel.setup(app)  # /panel, /ws/panel, /api/panel/*
    mobile.setup(app)  # /m/<token>, /rankings, /today, /privacy, /emoticon/*
    media.setup(app)  # /media/*
    preview.setup(app)  # /api/camera/preview.jpg, only when web.camera_preview is on
    metrics.setup(app)  # /metrics (public: anonymous aggregates)
    api.setup(app)  # /api/audience, /ws/audience (public: anonymous aggregates)
    admin.setup(app)  # /admin pages, /api/report, /api/decision/last (behind the admin login)
    return app
