"""The phone pages behind the panel's QR codes, and the pages every visitor may read.

`/m/<token>`: the ad's details and coupon, rate it once per play per device, the play's mood
emoticon; `/rankings`, `/today` (server-rendered SVG charts), `/privacy`. Small pages, one
small stylesheet, no scripts needed, nothing fetched from elsewhere. Unknown or expired tokens
and unknown pages get a friendly 404 page; an unexpected error a friendly 500, never a
traceback (`signage/web/pages.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from markupsafe import Markup

from ..reports import public as queries
from ..vocabulary import MOOD_DISPLAY_ORDER
from .emoticon import FACE_COLOURS, LABELS, emoticon_png, emoticon_svg
from .guard import VOTE_LIMIT, RateLimit, client_address, same_origin
from .keys import APPLIANCE
from .pages import STATIC, render

log = logging.getLogger(__name__)

DEVICE_COOKIE = "sg_device"
_DEVICE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: the key the device cookies are signed with: new at every start (a phone then gets a new
#: cookie with its next page view; its earlier votes stay counted)
DEVICE_SECRET = web.AppKey("device_secret", bytes)
#: votes one address may send in VOTES_WINDOW_S (phones on a LAN have their own addresses;
#: a few share one behind a guest-network NAT)
VOTES_PER_ADDRESS = 20
VOTES_WINDOW_S = 600.0
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


# --- small helpers ---------------------------------------------------------------------------


def safe_link(url: str) -> str:
    """Only http(s) links leave the page (never `javascript:` or `data:` from an ad file)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def tel_link(phone: str) -> str:
    digits = re.sub(r"[^\d+]", "", phone)
    return f"tel:{digits}" if len(re.sub(r"\D", "", digits)) >= 3 else ""


def ad_details(details: dict[str, str]) -> dict[str, str]:
    """What the phone page shows of an ad's `[mobile]` table (`inventory.MOBILE_KEYS`, as the
    inventory stored it): links only to web addresses, the phone number as a tel: link."""
    website = details.get("website", "")
    phone = details.get("phone", "")
    return {
        "description": details.get("description", ""),
        "address": details.get("address", ""),
        "phone": phone,
        "tel": tel_link(phone),
        "website": safe_link(website),
        "website_label": urlsplit(website).netloc if website else "",
        "directions": safe_link(details.get("map_url", "")),
        "coupon": details.get("coupon", ""),
    }


def _signature(request: web.Request, device: str) -> str:
    mac = hmac.new(request.app[DEVICE_SECRET], device.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).decode("ascii").rstrip("=")


def device_of(request: web.Request) -> str | None:
    """The phone's device id, from a cookie this appliance issued and signed (a cookie a client
    makes up, or none, is no device: a vote needs one)."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    device, _, sig = raw.partition(".")
    if not _DEVICE_RE.match(device) or not hmac.compare_digest(sig, _signature(request, device)):
        return None
    return device


def _set_device(request: web.Request, resp: web.StreamResponse, device: str) -> None:
    resp.set_cookie(
        DEVICE_COOKIE,
        f"{device}.{_signature(request, device)}",
        max_age=365 * 86400,
        httponly=True,
        samesite="Lax",
        path="/",
    )


async def _play_or_404(request: web.Request) -> dict[str, Any]:
    token = request.match_info["token"]
    if not _TOKEN_RE.match(token):
        raise web.HTTPNotFound()
    app = request.app[APPLIANCE]
    days = app.config.privacy.retention_days
    play = await queries.play_by_token(app.store, token, days)
    if play is None:
        # A play just started may be in the Store's batch, or in the flush running right now
        # (pending is 0 then): flush() waits for that flush and writes the rest.
        await app.store.flush()
        play = await queries.play_by_token(app.store, token, days)
    if play is None:
        # The database cannot be written (disk full): the player still knows its latest plays.
        play = app.player.recent_ad_play(token)
    if play is None:
        raise web.HTTPNotFound()
    return play


# --- charts (server-rendered SVG) ------------------------------------------------------------


def _esc(s: str) -> str:
    return str(Markup.escape(s))


def mood_chart_svg(moods: dict[str, int]) -> Markup:
    total = sum(moods.values())
    rows = [m for m in MOOD_DISPLAY_ORDER if moods.get(m)] or []
    w, row_h, label_w, bar_w = 320, 30, 104, 170
    h = max(1, len(rows)) * row_h + 4
    out = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="mt md">'
        f'<title id="mt">Mood mix today</title>'
    ]
    desc = ", ".join(f"{LABELS[m]} {round(100 * moods[m] / total)}%" for m in rows) if total else "no moods yet"
    out.append(f'<desc id="md">{_esc(desc)}</desc>')
    if not total:
        out.append(f'<text x="{w / 2}" y="20" text-anchor="middle" class="muted">No one seen yet today</text>')
    for i, m in enumerate(rows):
        y = i * row_h + 2
        share = moods[m] / total
        out.append(f'<circle cx="10" cy="{y + 13}" r="8" fill="{FACE_COLOURS[m]}" stroke="#0002"/>')
        out.append(f'<text x="24" y="{y + 18}">{_esc(LABELS[m])}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 5}" width="{bar_w}" height="16" rx="8" class="track"/>')
        out.append(
            f'<rect x="{label_w}" y="{y + 5}" width="{max(3.0, bar_w * share):.1f}" height="16" '
            f'rx="8" fill="{FACE_COLOURS[m]}" stroke="#0003"/>'
        )
        out.append(f'<text x="{w - 2}" y="{y + 18}" text-anchor="end">{round(100 * share)}%</text>')
    out.append("</svg>")
    return Markup("".join(out))


def hours_chart_svg(hours: list[int], current_hour: int | None = None) -> Markup:
    w, h, left, bottom, top = 340, 170, 26, 22, 10
    plot_w, plot_h = w - left - 4, h - bottom - top
    peak = max(hours) if hours else 0
    scale = max(1, peak)
    bw = plot_w / 24
    busiest = max(range(24), key=lambda i: hours[i]) if peak else None
    desc = (
        f"{sum(hours)} sessions today; busiest hour {busiest:02d}:00 with {peak}" if peak else "no one seen yet today"
    )
    out = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="ht hd">'
        f'<title id="ht">Audience by hour today</title><desc id="hd">{_esc(desc)}</desc>'
    ]
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(f'<line x1="{left}" x2="{w - 4}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">{round(scale * frac)}</text>')
    out.append(f'<line x1="{left}" x2="{w - 4}" y1="{top + plot_h}" y2="{top + plot_h}" class="base"/>')
    if not peak:
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
            f'class="muted">No one seen yet today</text>'
        )
    for i, n in enumerate(hours):
        x = left + i * bw
        bh = plot_h * n / scale
        cls = "bar now" if i == current_hour else "bar"
        if n:
            out.append(
                f'<rect x="{x + 1.5:.1f}" y="{top + plot_h - bh:.1f}" width="{bw - 3:.1f}" '
                f'height="{bh:.1f}" rx="2" class="{cls}"><title>{i:02d}:00 - {n}</title></rect>'
            )
        if i % 3 == 0:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{h - 6}" text-anchor="middle" class="axis">{i:02d}</text>')
    out.append("</svg>")
    return Markup("".join(out))


# --- handlers --------------------------------------------------------------------------------


async def mobile_page(request: web.Request) -> web.Response:
    app = request.app[APPLIANCE]
    play = await _play_or_404(request)
    device = device_of(request)
    new_device = device is None
    if device is None:
        device = secrets.token_urlsafe(18)
    rated = await queries.rating_of_device(app.store, play["play_id"], "mobile", device)
    votes = await queries.ad_votes(app.store, play["ad_id"])
    mood, mask = queries.play_mood(play["audience"])
    if request.method == "GET" and not request.query.get("r"):
        await queries.record_visit(app.store, play["play_id"])
    ctx = {
        "play": play,
        "ad": ad_details(play["details"]),
        "token": play["token"],
        "rated": rated,
        "flash": request.query.get("r", ""),
        "votes": votes,
        "mood": mood,
        "mood_label": LABELS[mood] if mood else None,
        "mask": mask,
        "min_votes": queries.MIN_VOTES,
    }
    resp = render(request, "mobile.html", ctx)
    if new_device:
        _set_device(request, resp, device)
    return resp


async def mobile_rate(request: web.Request) -> web.StreamResponse:
    app = request.app[APPLIANCE]
    play = await _play_or_404(request)
    if not same_origin(request):  # a vote must come from our own page, not another site
        raise web.HTTPForbidden(text="rating refused: not sent from this site")
    form = await request.post()
    value = {"like": 1, "1": 1, "dislike": -1, "-1": -1}.get(str(form.get("value", "")))
    if value is None:
        raise web.HTTPBadRequest(text="value must be like or dislike")

    def back(flash: str) -> web.Response:
        return web.Response(
            status=303, headers={"Location": f"/m/{play['token']}?r={flash}#rate", "Cache-Control": "no-store"}
        )

    # One vote per play per phone: the phone is the signed cookie its page view was given (a
    # client that sends none, or a forged one, is not counted); and an address may vote only
    # so often, so fresh cookies fetched in a loop do not stuff the count either.
    device = device_of(request)
    if device is None:
        return back("cookies")
    if not request.app[VOTE_LIMIT].allow(client_address(request)):
        log.warning("votes from %s: over the rate limit", client_address(request))
        return back("busy")
    try:
        ok = await app.player.record_rating(play["play_id"], value, "mobile", device)
    except (LookupError, ValueError):
        raise web.HTTPNotFound() from None
    return back("thanks" if ok else "already")


async def mobile_emoticon(request: web.Request) -> web.Response:
    play = await _play_or_404(request)
    mood, mask = queries.play_mood(play["audience"])
    mood = mood or "neutral"
    ext = request.match_info["ext"]
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    if request.query.get("download"):
        headers["Content-Disposition"] = f'attachment; filename="my-mood-{mood}{"-mask" if mask else ""}.{ext}"'
    if ext == "svg":
        return web.Response(text=emoticon_svg(mood, mask, 512), content_type="image/svg+xml", headers=headers)
    return web.Response(body=emoticon_png(mood, mask, 512), content_type="image/png", headers=headers)


async def emoticon_image(request: web.Request) -> web.Response:
    """`/emoticon/<mood>.svg` (`?mask=1`): the panel's overlay faces, drawn, never photographed."""
    mood = request.match_info["mood"]
    if mood not in MOOD_DISPLAY_ORDER:
        raise web.HTTPNotFound()
    mask = request.query.get("mask") == "1"
    return web.Response(
        text=emoticon_svg(mood, mask, 128),
        content_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def rankings_page(request: web.Request) -> web.Response:
    app = request.app[APPLIANCE]
    ranked, pending = await queries.rankings(app.store)
    return render(
        request,
        "rankings.html",
        {"ranked": ranked, "pending": pending, "min_votes": queries.MIN_VOTES, "back": _back(request)},
    )


async def today_page(request: web.Request) -> web.Response:
    app = request.app[APPLIANCE]
    t = await queries.today(app.store)
    import datetime as dt

    ctx = {
        "t": t,
        "mood_chart": mood_chart_svg(t["moods"]),
        "hours_chart": hours_chart_svg(t["hours"], dt.datetime.now().hour),
        "location": app.config.device.location,
        "back": _back(request),
    }
    return render(request, "today.html", ctx)


async def privacy_page(request: web.Request) -> web.Response:
    cfg = request.app[APPLIANCE].config
    return render(
        request,
        "privacy.html",
        {
            "retention_days": cfg.privacy.retention_days,
            "camera_preview": cfg.web.camera_preview,
            "age_gate_min_age": cfg.ads.age_gate_min_age,
            "back": _back(request),
        },
    )


async def mobile_index(request: web.Request) -> web.Response:
    return render(request, "mobile_index.html", {})


def _back(request: web.Request) -> str:
    """A link back to the ad page a visitor came from (`?from=<token>`), if it looks like one."""
    t = request.query.get("from", "")
    return f"/m/{t}" if _TOKEN_RE.match(t) else ""


async def favicon(request: web.Request) -> web.FileResponse:
    """Browsers ask every site for /favicon.ico; pages also link the SVG one."""
    return web.FileResponse(
        STATIC / "favicon.ico", headers={"Cache-Control": "public, max-age=86400", "Content-Type": "image/x-icon"}
    )


def setup(app: web.Application, device_key: bytes) -> None:
    # kept across restarts (signage.web.secret): a restart must not let every phone vote again
    app[DEVICE_SECRET] = device_key
    app[VOTE_LIMIT] = RateLimit(events=VOTES_PER_ADDRESS, window_s=VOTES_WINDOW_S)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/m/", mobile_index)
    app.router.add_get("/m/{token}", mobile_page)
    app.router.add_post("/m/{token}/rate", mobile_rate)
    app.router.add_get("/m/{token}/emoticon.{ext:svg|png}", mobile_emoticon)
    app.router.add_get("/emoticon/{mood}.svg", emoticon_image)
    app.router.add_get("/rankings", rankings_page)
    app.router.add_get("/today", today_page)
    app.router.add_get("/privacy", privacy_page)
