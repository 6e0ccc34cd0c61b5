"""Limits on what one client can make the server do (issue 10: a screen on a LAN any shopper's
phone may share).

* Request bodies are bounded per route *before* they are read: the upload routes take their
  upload size, everything else `SMALL_BODY` (JSON and forms are tiny). A body without a length
  (chunked) is refused on every route: browsers always send one for forms and fetches.
* JSON is parsed from that bounded body, and what JSON cannot be (too deep, a number too
  long) is a 400, never a 500.
* WebSockets are bounded per route and per client address (`SocketLimits`).
* `RateLimit` counts events per key (an address) in a sliding window, for votes; it keeps at
  most `max_keys` keys so a spray of addresses cannot grow it.
* `PanelKeys`: the signed key each /panel page load gets; `/api/panel/*` needs one and a
  same-origin request, so a curl or another site cannot silence ads.
* Anything a malformed request still makes a handler raise at parse level (RecursionError,
  OverflowError, UnicodeError) is answered 400 by `errors_middleware`; the log line is bounded
  by signage.logs.RepeatFilter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..store import StoreUnavailable

log = logging.getLogger(__name__)

__all__ = [
    "SMALL_BODY",
    "body_limit_middleware",
    "errors_middleware",
    "read_json",
    "SocketLimits",
    "RateLimit",
    "PanelKeys",
    "same_origin",
    "client_address",
    "BODY_LIMITS",
    "PANEL_SOCKETS",
    "AUDIENCE_SOCKETS",
    "PANEL_KEYS",
    "VOTE_LIMIT",
    "MULTIPART_ERRORS",
]

#: the body limit of every route that is not an upload: JSON, the login form, small admin forms
SMALL_BODY = 64 * 1024


#: what aiohttp's multipart reader raises for a body that is not well-formed multipart (no
#: boundary, cut short, a header with a NUL): the client's error, answered 400 by the readers
MULTIPART_ERRORS: tuple[type[Exception], ...] = (ValueError, HttpProcessingError)


def same_origin(request: web.Request) -> bool:
    """True unless the browser says the request came from another site. Requests that are not
    from a browser (no Sec-Fetch-Site, no Origin) pass: they have no ambient credentials, and
    the routes that matter need a secret besides."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == (request.host or "").lower()


def client_address(request: web.Request) -> str:
    return request.remote or "?"


# --- bodies ------------------------------------------------------------------------------------


class BodyLimits:
    """Per-route body limits: the longest matching path prefix wins, else SMALL_BODY."""

    def __init__(self) -> None:
        self._limits: dict[str, int] = {}

    def set(self, prefix: str, limit: int) -> None:
        self._limits[prefix] = limit

    def for_path(self, path: str) -> int:
        best, limit = -1, SMALL_BODY
        for prefix, n in self._limits.items():
            if path.startswith(prefix) and len(prefix) > best:
                best, limit = len(prefix), n
        return limit


BODY_LIMITS = web.AppKey("body_limits", BodyLimits)


@web.middleware
async def body_limit_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
        limit = request.app[BODY_LIMITS].for_path(request.path)
        length = request.content_length
        if length is None:
            raise web.HTTPLengthRequired(text="send a Content-Length (chunked bodies are not accepted)")
        if length > limit:
            most = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
            raise web.HTTPRequestEntityTooLarge(
                max_size=limit,
                actual_size=length,
                text=f"The request is larger than {most}, the most {request.path} takes.",
            )
        if limit != request.client_max_size:
            request = request.clone(client_max_size=limit)
    return await handler(request)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, from a body already bounded by `body_limit_middleware`.
    Anything else -- not JSON, not an object, nested too deep, a number too long -- is 400."""
    raw = await request.read()
    try:
        # small by now (SMALL_BODY), so parsing on the loop is quick; json's C parser raises
        # RecursionError for deep nesting instead of crashing
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise web.HTTPBadRequest(text=f"expected a JSON object ({str(exc)[:80]})") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """What a malformed request can still make parsing code raise is the client's error (400),
    not the server's (500). Anything else stays a 500 (and a traceback in the log): a bug."""
    try:
        return await handler(request)
    except StoreUnavailable as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        raise web.HTTPServiceUnavailable(
            text="This screen cannot save that right now (its storage is "
            "full or busy). Please try again in a few minutes.",
            headers={"Retry-After": "60"},
        ) from None
    except (RecursionError, OverflowError, UnicodeError) as exc:
        log.warning("bad request %s %s: %s", request.method, request.path, type(exc).__name__)
        raise web.HTTPBadRequest(text="the request could not be understood") from None


# --- sockets -----------------------------------------------------------------------------------


class SocketLimits:
    """At most `total` open sockets on a route, and `per_client` from one address."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._open: dict[str, int] = {}
        self.refused = 0

    @property
    def count(self) -> int:
        return sum(self._open.values())

    def admit(self, address: str) -> str | None:
        """Take a slot for `address`, or say why not."""
        if self.count >= self.total:
            self.refused += 1
            return f"too many open connections here (at most {self.total})"
        if self._open.get(address, 0) >= self.per_client:
            self.refused += 1
            return f"too many open connections from {address} (at most {self.per_client})"
        self._open[address] = self._open.get(address, 0) + 1
        return None

    def release(self, address: str) -> None:
        n = self._open.get(address, 0) - 1
        if n > 0:
            self._open[address] = n
        else:
            self._open.pop(address, None)


PANEL_SOCKETS = web.AppKey("panel_sockets", SocketLimits)
AUDIENCE_SOCKETS = web.AppKey("audience_sockets", SocketLimits)


# --- rates -------------------------------------------------------------------------------------


class RateLimit:
    """At most `events` per `window_s` seconds for each key (sliding window)."""

    def __init__(
        self, events: int, window_s: float, max_keys: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.events = events
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self.clock()
        q = self._seen.get(key)
        if q is None:
            if len(self._seen) >= self.max_keys:
                self._seen.popitem(last=False)
            q = self._seen[key] = deque()
        self._seen.move_to_end(key)
        while q and now - q[0] >= self.window_s:
            q.popleft()
        if len(q) >= self.events:
            return False
        q.append(now)
        return True


VOTE_LIMIT = web.AppKey("vote_limit", RateLimit)


# --- the panel's secret --------------------------------------------------------------------------


class PanelKeys:
    """Keys handed to the pages the kiosks load: a random nonce and its HMAC under a key derived
    from the persisted web secret (signage.web.secret). Checking one needs no list, so any
    number of pages may hold a key, a restart leaves them valid, and a client that loads /panel
    in a loop cannot push the kiosk's key out of a bounded set."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, nonce: str) -> str:
        digest = hmac.new(self._key, nonce.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode("ascii")

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._mac(nonce)}"

    def valid(self, key: str | None) -> bool:
        if not key or len(key) > 128 or not key.isascii():
            return False
        nonce, _, mac = key.partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._mac(nonce))


PANEL_KEYS = web.AppKey("panel_keys", PanelKeys)


def setup(app: web.Application, panel_key: bytes) -> None:
    app[BODY_LIMITS] = BodyLimits()
    app[PANEL_KEYS] = PanelKeys(panel_key)
    app.middlewares.append(body_limit_middleware)
