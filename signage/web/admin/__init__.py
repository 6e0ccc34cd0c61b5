"""The operator area: `/admin` pages (login, live view, reports, proof of play, ads, photo
check), plus the machine-readable side that belongs with it: `/metrics` (Prometheus text),
`/api/audience`, `/api/report` and `/ws/audience`.

`setup(app)` is the one line `signage/web/server.py` needs.

Who may see what:
* `/admin/*` (except the login form and static CSS/JS) and `/api/report*`: a logged-in admin.
* `/metrics`, `/api/audience`, `/ws/audience`: anonymous aggregates (counts, durations,
  coarse estimates), like `/api/status`; nothing commercial (spend, budget, prices) and
  nothing identifying.
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
    from .. import api, metrics

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
    metrics.setup(app)
    api.setup(app)
    # last: any other /admin path is 404 for an admin and 401/503 for everyone else
    app.router.add_route("*", "/admin/{tail:.*}", _not_found)


@admin_route
async def _not_found(request: web.Request) -> web.StreamResponse:
    return refuse(request, 404, "There is no such admin page.")
