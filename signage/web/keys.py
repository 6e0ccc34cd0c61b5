"""Typed keys for values stored on the aiohttp application."""

from aiohttp import web

APPLIANCE: web.AppKey = web.AppKey("appliance", object)
