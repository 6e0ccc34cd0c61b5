"""Typed keys for values stored on the aiohttp application."""

from aiohttp import web

from ..app import Appliance

#: the running appliance: handlers call its parts (store, hub, player, audience, ...) directly
APPLIANCE: web.AppKey[Appliance] = web.AppKey("appliance", Appliance)
