"""Login and logout."""

from __future__ import annotations

import logging

from aiohttp import web

from .auth import COOKIE, CSRF_FIELD, LOGIN_CSRF_COOKIE, check_password_async, same_origin, tokens_match
from .core import (
    ADMIN_STATE,
    CROSS_SITE_MESSAGE,
    CSRF_MESSAGE,
    admin_route,
    current_session,
    login_page,
    redirect,
    refuse,
    safe_next,
    setup_needed,
)

log = logging.getLogger(__name__)

#: PBKDF2 checks that may run at once (the Pi has 2-4 cores; the worker pool is shared)
MAX_PASSWORD_CHECKS = 2


async def login_get(request: web.Request) -> web.StreamResponse:
    state = request.app[ADMIN_STATE]
    await state.refresh_password()
    if not state.configured:
        return setup_needed(request)
    sess, _ = current_session(request)
    nxt = safe_next(request.query.get("next"))
    if sess is not None:
        return redirect(nxt)
    msg = "You are logged out." if "bye" in request.query else None
    return login_page(request, 200, message=msg, next_path=nxt)


async def login_post(request: web.Request) -> web.StreamResponse:
    state = request.app[ADMIN_STATE]
    await state.refresh_password()  # set-password may have run since: no restart needed
    if not state.configured:
        return setup_needed(request)
    remote = request.remote or ""
    wait = state.throttle.retry_after(remote)
    if wait > 0:
        resp = login_page(request, 429, error=f"Too many wrong passwords. Try again in {int(wait) + 1} seconds.")
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    if not same_origin(request):
        return refuse(request, 403, CROSS_SITE_MESSAGE)
    form = await request.post()
    nxt = safe_next(str(form.get("next") or "/admin"))
    if not tokens_match(form.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE)):  # type: ignore[arg-type]
        return login_page(request, 403, error=CSRF_MESSAGE, next_path=nxt)
    password = str(form.get("password") or "")
    # Count the attempt *before* the slow hash check, and run only a few checks at a time:
    # otherwise parallel guesses all pass the throttle before the first one is counted, and
    # keep the worker threads busy.
    wait = state.throttle.retry_after(remote)
    if wait <= 0 and state.password_checks >= MAX_PASSWORD_CHECKS:
        wait = 1.0
    if wait > 0:
        resp = login_page(
            request, 429, error=f"Too many login attempts. Try again in {int(wait) + 1} seconds.", next_path=nxt
        )
        resp.headers["Retry-After"] = str(int(wait) + 1)
        return resp
    state.throttle.failed(remote)
    state.password_checks += 1
    try:
        ok = bool(password) and await check_password_async(password, state.password_hash)
    finally:
        state.password_checks -= 1
    if not ok:
        log.warning("admin login refused: wrong password from %s", remote)
        return login_page(request, 401, error="Wrong password.", next_path=nxt)
    state.throttle.succeeded(remote)
    state.sessions.end(request.cookies.get(COOKIE))  # never reuse a pre-login token
    sess = state.sessions.create(remote)
    log.info("admin login from %s", remote)
    resp = redirect(nxt)
    resp.set_cookie(
        COOKIE,
        sess.token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        max_age=int(state.sessions.lifetime_s),
    )
    resp.del_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    return resp


@admin_route
async def logout_post(request: web.Request) -> web.StreamResponse:
    state = request.app[ADMIN_STATE]
    state.sessions.end(request.cookies.get(COOKIE))
    resp = redirect("/admin/login?bye=1")
    resp.del_cookie(COOKIE, path="/")
    return resp


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/login", login_get)
    app.router.add_post("/admin/login", login_post)
    app.router.add_post("/admin/logout", logout_post)


__all__ = ["setup", "CSRF_MESSAGE"]
