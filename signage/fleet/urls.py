"""Database URLs hold a screen's password: these helpers keep it out of every message."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["redact", "scrub", "with_login"]


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for logs and status pages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<not a URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = quote(parts.username or "", safe="")
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """`text` (e.g. a driver's error message) with the URL's password removed wherever it appears."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    return text.replace(password, "***") if password else text


def with_login(url: str, user: str, password: str, host: str | None = None) -> str:
    """`url` (an admin URL) with another login and optionally another host: a screen's URL."""
    parts = urlsplit(url)
    hostname = host or parts.hostname or "localhost"
    if ":" in hostname and not hostname.startswith("["):
        hostname = f"[{hostname}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{hostname}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
