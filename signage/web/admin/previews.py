"""`GET /admin/ads/{slug}/preview.jpg`: the thumbnail of an ad's creative (signage/ads/previews.py),
rendered in a worker thread on first request and then served from the on-disk cache.

`?orientation=portrait` renders an HTML creative at the portrait panel's size (and picks the
portrait variant of an ad that has one). Admin only: the ads list, the ad page and the live
view's "now on screen" use it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from ...ads import inventory
from ...ads.previews import PreviewError, find_chromium, thumbnail
from ..keys import APPLIANCE
from .core import admin_route, refuse

log = logging.getLogger(__name__)

_LOCKS: web.AppKey[dict[str, asyncio.Lock]] = web.AppKey("preview_locks", dict)


def cache_dir(appliance: Any) -> Path:
    return Path(appliance.config.storage.data_dir) / "cache" / "thumbs"


async def ad_thumbnail(
    appliance: Any, locks: dict[str, asyncio.Lock], slug: str, orientation: str = "landscape"
) -> tuple[Path, str]:
    """The cached thumbnail of one ad (made once, off the loop; concurrent asks share the work)."""
    folder = Path(appliance.config.ads.dir) / slug
    spec = await asyncio.to_thread(inventory.load_ad, folder)
    lock = locks.setdefault(f"{slug}:{orientation}", asyncio.Lock())
    media, media_type = spec.media, spec.media_type
    if orientation == "portrait" and spec.media_portrait:  # the ad's own creative for upright screens
        media, media_type = spec.media_portrait, spec.media_portrait_type
    async with lock:
        return await asyncio.to_thread(
            thumbnail,
            folder,
            media,
            media_type,
            cache_dir(appliance),
            orientation=orientation,
            chromium=find_chromium(),
            title=spec.title,
        )


@admin_route
async def preview(request: web.Request) -> web.StreamResponse:
    appliance = request.app[APPLIANCE]
    slug = request.match_info["slug"]
    orientation = request.query.get("orientation", "landscape")
    if orientation not in ("landscape", "portrait"):
        return refuse(request, 400, 'orientation must be "landscape" or "portrait".')
    if not inventory.SLUG_RE.match(slug) or not (Path(appliance.config.ads.dir) / slug).is_dir():
        return refuse(request, 404, f'There is no ad "{slug[:64]}".')
    try:
        path, how = await ad_thumbnail(appliance, request.app[_LOCKS], slug, orientation)
    except inventory.AdInvalid as exc:
        return refuse(request, 409, f"{slug}: ad.toml has problems, so there is no preview: {exc.short}")
    except PreviewError as exc:
        log.warning("no preview for %s: %s", slug, exc)
        return refuse(request, 422, f"No preview for {slug}: {exc}")
    return web.FileResponse(
        path, headers={"Content-Type": "image/jpeg", "X-Preview": how, "Cache-Control": "private, max-age=60"}
    )


async def warm(app: web.Application, delay_s: float = 30.0) -> None:
    """Make the missing thumbnails in the background, one at a time, half a minute after the
    start (when the camera and models are up; short-lived test servers never get there):
    the ads list then shows every preview at once instead of waiting for Chromium."""
    await asyncio.sleep(delay_s)
    appliance = app[APPLIANCE]
    ads_dir = Path(appliance.config.ads.dir)
    specs, _ = await asyncio.to_thread(inventory.scan, ads_dir)
    for spec in specs:
        try:
            await ad_thumbnail(appliance, app[_LOCKS], spec.slug)
        except (PreviewError, inventory.AdInvalid, OSError) as exc:
            log.warning("no preview for %s: %s", spec.slug, exc)


async def _start_warm(app: web.Application) -> None:
    app[_WARM] = asyncio.get_running_loop().create_task(warm(app), name="admin-preview-warm")


async def _stop_warm(app: web.Application) -> None:
    task = app[_WARM]
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass


_WARM: web.AppKey[asyncio.Task[None]] = web.AppKey("preview_warm", asyncio.Task)


def setup(app: web.Application) -> None:
    app[_LOCKS] = {}
    app.on_startup.append(_start_warm)
    app.on_cleanup.append(_stop_warm)
    app.router.add_get("/admin/ads/{slug}/preview.jpg", preview)
