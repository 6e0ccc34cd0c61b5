"""Builds the aiohttp application. Each area of the site registers its own routes."""

from __future__ import annotations

from aiohttp import web

from .keys import APPLIANCE
from . import status


def create_app(appliance) -> web.Application:
    app = web.Application(client_max_size=20 * 1024 * 1024)
    app[APPLIANCE] = appliance
    status.setup(app)
    return app
