"""The operator area: `/admin` pages (login, live view, reports, proof of play, ads, photo
check), and the machine-readable admin data: `/api/report` and `/api/decision/last`.

`setup(app)` is the one line `signage/web/server.py` needs. Everything here needs a logged-in
admin (except the login form and the static CSS/JS). The public machine-readable side --
`/metrics`, `/api/audience`, `/ws/audience`: anonymous aggregates, nothing commercial -- is
registered by `signage/web/server.py` from `metrics.py` and `api.py`.
"""

from __future__ import annotations

from aiohttp import web

from ..keys import APPLIANCE
from .core import ADMIN_STATE, STATIC_DIR, AdminState, admin_route, refuse, security_headers

__all__ = ["setup", "ADMIN_STATE"]


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    security_headers(request, response)


def setup(app: web.Application) -> None:
    from . import ads, live, photo, previews, reports, schedule, views_auth

    app[ADMIN_STATE] = AdminState(app[APPLIANCE])
    app.on_response_prepare.append(_on_prepare)
    app.router.add_static("/admin/static", STATIC_DIR, follow_symlinks=False, append_version=False)
    views_auth.setup(app)
    live.setup(app)
    reports.setup(app)
    previews.setup(app)
    schedule.setup(app)
    ads.setup(app)
    photo.setup(app)
    # last: any other /admin path is 404 for an admin and 401/503 for everyone else
    app.router.add_route("*", "/admin/{tail:.*}", _not_found)


@admin_route
async def _not_found(request: web.Request) -> web.StreamResponse:
    return refuse(request, 404, "There is no such admin page.")
