"""Shared plumbing of the admin area: its state on the app, the login guard, rendering.

Every admin handler is wrapped by `admin_route`, which
  1. answers 503 with set-up instructions (and nothing else) while no password is configured,
  2. answers 401 with the login form when there is no live session (saying whether it expired),
  3. for POST/PUT/PATCH/DELETE, answers 403 when the CSRF token is missing or wrong, or the
     request came from another site.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, overload
from urllib.parse import quote

import jinja2
from aiohttp import web

from ...commands import signage_command
from ...config import ConfigError, load_config
from ..keys import APPLIANCE
from ..pages import compile_templates
from .auth import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    AdminSession,
    LoginThrottle,
    SessionStore,
    hash_is_well_formed,
    same_origin,
    tokens_match,
)
from .health import LoopLag, RateMeter, ago

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = TEMPLATES_DIR / "_static"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def setup_command(config_file: Path | None) -> str:
    """The set-password command line for this appliance, pasteable in any folder."""
    return signage_command("set-password", config_file=config_file, with_cd=True)


def setup_hint(config_file: Path | None) -> str:
    return (
        "Admin pages are switched off because no admin password is set. On the appliance, run "
        f"`{setup_command(config_file)}` (it writes a salted hash into the config file); "
        "this page then asks for the password, without a restart."
    )


class AdminState:
    """Per-app admin state: sessions, the login throttle and the template environment.

    The password hash comes from the config file. `refresh_password()` re-reads it when the file
    changed (after `set-password`, run while the appliance runs): a new password counts from
    the next login, with no restart, and the admins already logged in stay logged in."""

    def __init__(self, appliance: Any) -> None:
        cfg = appliance.config
        self.password_hash: str = cfg.admin.password_hash
        self.config_file: Path | None = cfg.source_file
        self._config_stamp = self._stamp()
        #: the live view's measurements between two refreshes
        self.dropped_rate = RateMeter()
        self.loop_lag = LoopLag()
        self.session_minutes: float = cfg.admin.session_minutes
        self.sessions = SessionStore(lifetime_s=cfg.admin.session_minutes * 60.0)
        self.throttle = LoginThrottle()
        #: password checks running now: PBKDF2 is slow on purpose, so only a few at a time
        self.password_checks = 0
        self.jinja = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=jinja2.select_autoescape(["html", "svg", "xml"], default=True),
            undefined=jinja2.StrictUndefined,  # a typo in a template is an error, not an empty string
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.jinja.filters["num"] = fmt_num
        self.jinja.filters["money"] = fmt_money
        self.jinja.filters["pct"] = fmt_pct
        self.jinja.filters["ts"] = fmt_ts
        self.jinja.filters["dur"] = fmt_dur
        self.jinja.filters["bytes"] = fmt_bytes
        self.jinja.filters["ago"] = ago
        self.jinja.filters["human"] = human_key
        compile_templates(self.jinja)  # at start, not on the loop when the first page is asked for

    @property
    def configured(self) -> bool:
        return bool(self.password_hash) and hash_is_well_formed(self.password_hash)

    def _stamp(self) -> tuple[int, int] | None:
        if self.config_file is None:
            return None
        try:
            st = self.config_file.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    async def refresh_password(self) -> None:
        """Take a password hash written into the config file since we read it (a stat per call;
        the file is parsed, in a worker thread, only when it changed)."""
        stamp = self._stamp()
        if stamp is None or stamp == self._config_stamp or self.config_file is None:
            return
        self._config_stamp = stamp
        try:
            cfg = await asyncio.get_running_loop().run_in_executor(None, load_config, self.config_file)
        except ConfigError as exc:
            log.warning("admin: %s changed but cannot be read (%s); keeping the password in use", self.config_file, exc)
            return
        if cfg.admin.password_hash != self.password_hash:
            self.password_hash = cfg.admin.password_hash
            log.info("admin: new password from %s; it counts from the next login", self.config_file)


ADMIN_STATE: web.AppKey[AdminState] = web.AppKey("admin_state", AdminState)
#: the logged-in admin's session on the request
SESSION_KEY: Any = web.RequestKey("admin_session", AdminSession) if hasattr(web, "RequestKey") else "admin_session"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- formatting filters -----------------------------------------------------------------------


def fmt_num(v: Any, digits: int = 0) -> str:
    if v is None or isinstance(v, jinja2.Undefined):
        return "–"
    try:
        return f"{float(v):,.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def fmt_money(v: Any) -> str:
    return "–" if v is None else f"{float(v):,.2f}"


def fmt_pct(v: Any) -> str:
    return "–" if v is None else f"{100.0 * float(v):.1f} %"


def fmt_ts(v: Any) -> str:
    if v is None or isinstance(v, jinja2.Undefined) or not v:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(v)))


def fmt_dur(v: Any) -> str:
    if v is None or isinstance(v, jinja2.Undefined):
        return "–"
    s = float(v)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def human_key(key: Any) -> str:
    """A snake_case key as words: "frames_dropped" -> "Frames dropped" (units spelt out)."""
    words = str(key).replace("_ms_p50", " (median, ms)").replace("_s", " (s)").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def fmt_bytes(v: Any) -> str:
    n = float(v or 0) if not isinstance(v, jinja2.Undefined) else 0.0
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# --- rendering --------------------------------------------------------------------------------


def render(request: web.Request, template: str, status: int = 200, **ctx: Any) -> web.Response:
    state = request.app[ADMIN_STATE]
    appliance = request.app[APPLIANCE]
    sess: AdminSession | None = request.get(SESSION_KEY)
    base = {
        "device": appliance.config.device,
        "session": sess,
        "csrf_token": sess.csrf if sess else "",
        "path": request.path,
        "message": None,
        "error": None,
    }
    base.update(ctx)
    html = state.jinja.get_template(template).render(**base)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


def redirect(location: str) -> web.Response:
    """303 See Other (after a POST the browser follows with a GET)."""
    return web.Response(status=303, headers={"Location": location})


def wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return (
        request.path.endswith(".json")
        or request.path.startswith("/api/")
        or ("application/json" in accept and "text/html" not in accept)
    )


def refuse(request: web.Request, status: int, message: str, **extra: Any) -> web.Response:
    """An error page (or JSON for API clients) with a message a person can act on."""
    if wants_json(request):
        return web.json_response({"error": message, **extra}, status=status)
    return render(request, "error.html", status=status, status_code=status, error=message)


def login_page(
    request: web.Request,
    status: int,
    *,
    error: str | None = None,
    message: str | None = None,
    next_path: str = "/admin",
) -> web.Response:
    import secrets

    from .auth import LOGIN_CSRF_COOKIE

    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    if wants_json(request):
        resp: web.Response = web.json_response(
            {"error": error or message or "log in first", "login": "/admin/login"}, status=status
        )
    else:
        resp = render(
            request,
            "login.html",
            status=status,
            login_csrf=token,
            error=error,
            message=message,
            next_path=safe_next(next_path),
        )
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, path="/admin", httponly=True, samesite="Strict", secure=request.secure)
    return resp


def setup_needed(request: web.Request) -> web.Response:
    state = request.app[ADMIN_STATE]
    hint = setup_hint(state.config_file)
    if wants_json(request):
        return web.json_response({"error": hint}, status=503)
    return render(request, "setup.html", status=503, hint=hint, command=setup_command(state.config_file))


def safe_next(path: str | None) -> str:
    """Only same-site admin paths may be a post-login destination (no open redirect)."""
    if not path or not path.startswith("/admin") or path.startswith("//") or "\\" in path:
        return "/admin"
    if path.startswith("/admin/login") or path.startswith("/admin/logout"):
        return "/admin"
    return path


NOT_LOGGED_IN = {
    "none": "Please log in to see the admin pages.",
    "unknown": "Your session has ended (you logged out, or the appliance restarted). Please log in again.",
    "expired": "Your session has expired. Please log in again.",
}
CSRF_MESSAGE = (
    "The form's security token (CSRF) is missing or wrong, so nothing was changed. Reload the page and try again."
)
CROSS_SITE_MESSAGE = "Refused: this request came from another site, so nothing was changed."


def current_session(request: web.Request) -> tuple[AdminSession | None, str]:
    sessions: SessionStore = request.app[ADMIN_STATE].sessions
    return sessions.lookup(request.cookies.get(COOKIE))


async def form_csrf_ok(request: web.Request, sess: AdminSession) -> bool:
    """Check the CSRF token of a non-multipart request (header or urlencoded form field)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        given = form.get(CSRF_FIELD)  # type: ignore[assignment]
    return tokens_match(given, sess.csrf)


@overload
def admin_route(handler: Handler) -> Handler: ...
@overload
def admin_route(*, multipart: bool = False) -> Callable[[Handler], Handler]: ...
def admin_route(handler: Handler | None = None, *, multipart: bool = False) -> Handler | Callable[[Handler], Handler]:
    """Guard an admin handler (see module doc). With `multipart=True` the handler streams the
    body itself and must check the token with `check_multipart_csrf` before any file part."""

    def deco(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            state = request.app[ADMIN_STATE]
            if not state.configured:
                await state.refresh_password()
                if not state.configured:
                    return setup_needed(request)
            sess, why = current_session(request)
            if sess is None:
                nxt = request.path_qs if request.method in SAFE_METHODS else "/admin"
                return login_page(request, 401, message=NOT_LOGGED_IN[why], next_path=nxt)
            request[SESSION_KEY] = sess
            if request.method not in SAFE_METHODS:
                if not same_origin(request):
                    return refuse(request, 403, CROSS_SITE_MESSAGE)
                if not multipart and not await form_csrf_ok(request, sess):
                    return refuse(request, 403, CSRF_MESSAGE)
            return await fn(request)

        return wrapper

    return deco(handler) if handler is not None else deco


def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Strict headers on every admin/API response: no framing, no sniffing, no caching,
    no external requests at all (charts are inline SVG, scripts and styles are ours)."""
    p = request.path
    if not (p.startswith("/admin") or p == "/api/report" or p.startswith("/api/report/") or p == "/api/decision/last"):
        return
    h = response.headers
    h.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")  # not no-referrer: that makes POST Origin "null"
    if not p.startswith("/admin/static/"):
        h.setdefault("Cache-Control", "no-store")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


def q(s: str) -> str:
    return quote(s, safe="")
