"""Admin access: salted password hashes, login sessions with expiry, CSRF, logout.

* Password: PBKDF2-HMAC-SHA256 with a random 16-byte salt, stored in `config.toml` as
  `pbkdf2_sha256$<iterations>$<salt, base64>$<hash, base64>` (written by
  `python -m signage set-password`). Checked in a worker thread, compared in constant time.
* Sessions live in memory only (a restart logs everyone out), identified by a random
  256-bit token in an HttpOnly, SameSite=Strict cookie, and end `admin.session_minutes`
  after login (absolute, not sliding) or at logout.
* CSRF: every state-changing request must carry the session's token (hidden form field
  `csrf_token` or the `X-CSRF-Token` header). The login form itself uses a double-submit
  cookie, because there is no session yet. A cross-site Origin header is refused as well.
* Brute force: after `MAX_FAILURES` wrong passwords from one address within
  `FAILURE_WINDOW_S`, further attempts are refused with 429 until the window has passed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = [
    "HASH_PREFIX",
    "hash_password",
    "verify_password",
    "AdminSession",
    "SessionStore",
    "LoginThrottle",
    "COOKIE",
    "LOGIN_CSRF_COOKIE",
]

HASH_PREFIX = "pbkdf2_sha256"
#: OWASP's 2023 figure for PBKDF2-HMAC-SHA256. About a second on a Raspberry Pi 4, paid once
#: per login, in a worker thread.
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 1_000  # anything lower is refused as a hash we did not write

COOKIE = "signage_admin"
LOGIN_CSRF_COOKIE = "signage_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0


# --- password hashing -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """A salted PBKDF2-SHA256 hash in the `pbkdf2_sha256$...` form `config.toml` accepts."""
    if not password:
        raise ValueError("the password is empty")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"iterations must be at least {MIN_ITERATIONS}")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{HASH_PREFIX}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`. A malformed hash never matches (and never raises)."""
    try:
        prefix, iters, salt_b64, hash_b64 = encoded.split("$")
        iterations = int(iters)
        salt, expected = _unb64(salt_b64), _unb64(hash_b64)
    except (ValueError, TypeError):
        return False
    if prefix != HASH_PREFIX or iterations < MIN_ITERATIONS or not salt or len(expected) != 32:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


def hash_is_well_formed(encoded: str) -> bool:
    try:
        prefix, iters, salt_b64, hash_b64 = encoded.split("$")
        return (
            prefix == HASH_PREFIX
            and int(iters) >= MIN_ITERATIONS
            and bool(_unb64(salt_b64))
            and len(_unb64(hash_b64)) == 32
        )
    except (ValueError, TypeError):
        return False


# --- sessions ---------------------------------------------------------------------------------


@dataclass
class AdminSession:
    token: str
    csrf: str
    created_at: float
    expires_at: float
    remote: str = ""

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass
class SessionStore:
    """Login sessions, in memory. Expired ones are remembered for a day so the person is told
    "your session expired" rather than a vaguer "please log in"."""

    lifetime_s: float
    clock: Callable[[], float] = time.time
    _by_token: dict[str, AdminSession] = field(default_factory=dict)

    def create(self, remote: str = "") -> AdminSession:
        now = self.clock()
        self._purge(now)
        sess = AdminSession(
            token=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + self.lifetime_s,
            remote=remote,
        )
        self._by_token[sess.token] = sess
        return sess

    def lookup(self, token: str | None) -> tuple[AdminSession | None, str]:
        """(session, why): why is "" for a live session, else "none", "unknown" or "expired"."""
        if not token:
            return None, "none"
        sess = self._by_token.get(token)
        if sess is None:
            return None, "unknown"
        if sess.expired(self.clock()):
            return None, "expired"
        return sess, ""

    def end(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def _purge(self, now: float) -> None:
        for tok, sess in list(self._by_token.items()):
            if now - sess.expires_at > 86_400:
                del self._by_token[tok]


@dataclass
class LoginThrottle:
    max_failures: int = MAX_FAILURES
    window_s: float = FAILURE_WINDOW_S
    clock: Callable[[], float] = time.time
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def _recent(self, remote: str) -> list[float]:
        now = self.clock()
        recent = [t for t in self._failures.get(remote, []) if now - t < self.window_s]
        if recent:
            self._failures[remote] = recent
        else:
            self._failures.pop(remote, None)
        return recent

    def retry_after(self, remote: str) -> float:
        """Seconds until this address may try again (0 = now)."""
        recent = self._recent(remote)
        if len(recent) < self.max_failures:
            return 0.0
        return max(1.0, self.window_s - (self.clock() - recent[-self.max_failures]))

    def failed(self, remote: str) -> None:
        self._recent(remote)
        self._failures.setdefault(remote, []).append(self.clock())

    def succeeded(self, remote: str) -> None:
        self._failures.pop(remote, None)


async def check_password_async(password: str, encoded: str) -> bool:
    """PBKDF2 is deliberately slow: run it off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, verify_password, password, encoded)


# --- CSRF -------------------------------------------------------------------------------------


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request came from another site (Origin or Referer)."""
    origin = request.headers.get("Origin")
    if origin is None:
        ref = request.headers.get("Referer")
        if not ref:
            return True  # non-browser clients; the token check still applies
        origin = ref
    if origin == "null":
        return False
    try:
        from yarl import URL

        u = URL(origin)
    except ValueError:
        return False
    return (u.host or "").lower() == (request.url.host or "").lower() and u.port == request.url.port


def tokens_match(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
