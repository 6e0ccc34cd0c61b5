"""The public pages' common parts: the jinja2 renderer (with the security headers every page
gets), the static files, and the friendly 404 / 500 pages.

The panel and the phone pages render through `render()`; `setup(app)` installs the
error-page middleware and serves `/static/`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

__all__ = ["render", "setup", "PAGE_CSP", "TEMPLATES", "STATIC"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-src 'self'; media-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)


# --- rendering -------------------------------------------------------------------------------


def _static_url(name: str) -> str:
    p = STATIC / name
    try:
        v = int(p.stat().st_mtime)
    except OSError:
        v = 0
    return f"/static/{name}?v={v}"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = _static_url
    return env


def compile_templates(env: jinja2.Environment) -> int:
    """Compile every template of `env` now, at start. Compiling one takes 2-20 ms (the phone's ad
    page 20 ms): left to the first request for it, that is the event loop stalled for a shopper
    (scripts/soak saw a 27 ms loop-lag spike). Returns how many were compiled."""
    names = env.list_templates(extensions=("html", "svg"))
    for name in names:
        env.get_template(name)
    return len(names)


def render(
    request: web.Request | None,
    name: str,
    ctx: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    html = _env().get_template(name).render(**(ctx or {}))
    h = {
        "Content-Security-Policy": PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    h.update(headers or {})
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=h)


# --- friendly errors -------------------------------------------------------------------------

_NOT_PAGES = ("/api/", "/ws/", "/media/", "/static/", "/metrics", "/admin", "/healthz")


def _wants_html(request: web.Request) -> bool:
    if request.method not in ("GET", "HEAD", "POST") or request.path.startswith(_NOT_PAGES):
        return False
    accept = request.headers.get("Accept", "")
    return "text/html" in accept or "*/*" in accept or not accept


@web.middleware
async def friendly_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if _wants_html(request):
            return render(request, "404.html", {"path": request.path}, status=404)
        raise
    except web.HTTPException:
        raise
    except Exception:
        log.exception("error serving %s %s", request.method, request.path)
        if _wants_html(request):
            return render(request, "500.html", {}, status=500)
        return web.json_response({"error": "internal error"}, status=500)


def setup(app: web.Application) -> None:
    compile_templates(_env())
    app.middlewares.append(friendly_errors)
    app.router.add_static("/static/", STATIC, name="static", append_version=False)
