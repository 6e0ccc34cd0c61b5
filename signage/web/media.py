"""Ad and healing media, served from `config.ads.dir` and `config.ads.healing_dir` only.

`/media/ads/<slug>/<file>` and `/media/healing/<file>` (a file may sit in a sub-folder of its
ad, e.g. an HTML creative's `img/logo.png`). A request is refused (404, never a hint of what
exists elsewhere) unless every path segment is a plain name, the resolved file is inside its
root (symlinks pointing out are refused too), and its extension is a known media type.
HTML creatives get a Content-Security-Policy sandbox: scripts may run, but they have no
origin (no cookies, no access to the panel or the APIs) and may not fetch anything from the
network -- a creative must be self-contained, as the appliance is offline.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from .keys import APPLIANCE

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
    ".avif": "image/avif",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
}
#: healing scenes are pictures or clips only
HEALING_TYPES = {k: v for k, v in CONTENT_TYPES.items() if v.split("/")[0] in ("image", "video")}

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$")

# No network for creatives: everything they use must come from their own folder (or be inline).
HTML_CSP = (
    "sandbox allow-scripts; default-src 'self' data: blob:; "
    "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'none'; form-action 'none'; frame-ancestors 'self'"
)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def safe_path(root: Path, parts: list[str], types: dict[str, str]) -> Path | None:
    """The file `root/parts...` if it is a real file inside `root` with an allowed type."""
    if not parts or len(parts) > 6:
        return None
    for p in parts:
        if not _SEGMENT.match(p) or p in (".", "..") or ".." in p or "\\" in p:
            return None
    if Path(parts[-1]).suffix.lower() not in types:
        return None
    try:
        root_r = root.resolve(strict=True)
        target = root_r.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(root_r) or not target.is_file():
        return None
    return target


def _serve(path: Path | None, types: dict[str, str]) -> web.StreamResponse:
    if path is None:
        raise web.HTTPNotFound(text="media not found")
    ctype = types[path.suffix.lower()]
    headers = {
        "Content-Type": ctype,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=300",
        "Referrer-Policy": "no-referrer",
    }
    if ctype.startswith("text/html"):
        headers["Content-Security-Policy"] = HTML_CSP
    elif ctype == "image/svg+xml":
        headers["Content-Security-Policy"] = SVG_CSP
    return web.FileResponse(path, headers=headers)  # handles Range (video seeking) and HEAD


def _split(tail: str) -> list[str]:
    return [p for p in tail.split("/")] if tail else []


async def ad_media(request: web.Request) -> web.StreamResponse:
    cfg = request.app[APPLIANCE].config
    slug = request.match_info["slug"]
    parts = [slug] + _split(request.match_info["tail"])
    return _serve(safe_path(Path(cfg.ads.dir), parts, CONTENT_TYPES), CONTENT_TYPES)


async def healing_media(request: web.Request) -> web.StreamResponse:
    cfg = request.app[APPLIANCE].config
    parts = _split(request.match_info["tail"])
    return _serve(safe_path(Path(cfg.ads.healing_dir), parts, HEALING_TYPES), HEALING_TYPES)


def setup(app: web.Application) -> None:
    app.router.add_get("/media/ads/{slug}/{tail:.+}", ad_media)
    app.router.add_get("/media/healing/{tail:.+}", healing_media)
