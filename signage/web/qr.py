"""QR codes drawn on the server (no external service, no JavaScript library), and where they
point (`QrPlan`: this screen's public address, the advertiser's landing page, or the LAN).

`qr_svg` returns a compact, crisp SVG (one path) that scales to any size, with the 4-module
quiet zone the standard asks for, so phone cameras (and OpenCV's detector in the tests) find
it reliably.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import qrcode
from qrcode.constants import ERROR_CORRECT_L, ERROR_CORRECT_M

QUIET = 4


#: error correction: M by default; "L" for long URLs shown on a screen (no print damage to
#: repair, and the fewer modules the farther away a phone reads it)
ECC = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M}


def _matrix(data: str, ecc: str = "M") -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ECC[ecc], border=QUIET, box_size=1)
    qr.add_data(data)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()  # includes the quiet zone
    return matrix


@lru_cache(maxsize=256)
def qr_svg(data: str, *, dark: str = "#000", light: str = "#fff", title: str = "QR code", ecc: str = "M") -> str:
    m = _matrix(data, ecc)
    n = len(m)
    parts = []
    for y, row in enumerate(m):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
        f'shape-rendering="crispEdges" role="img" aria-label="{_esc(title)}">'
        f"<title>{_esc(title)}</title>"
        f'<rect width="{n}" height="{n}" fill="{light}"/>'
        f'<path fill="{dark}" d="{"".join(parts)}"/></svg>'
    )


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# --- where the QR codes point ----------------------------------------------------------------
# Most shoppers' phones are on mobile data and cannot reach a LAN address, so the mode is the
# operator's choice (config `web.qr_mode`) and the appliance says at start which one is in force.

#: campaign parameters on an advertiser's landing URL: the advertiser counts scans in their own
#: analytics (utm_content is the play token: one scan = one play, nothing about the person)
UTM_SOURCE, UTM_MEDIUM = "signage", "dooh"
_PRIVATE_SUFFIXES = (".local", ".lan", ".home", ".internal", ".localdomain", ".home.arpa", ".test")


def resolve_mode(qr_mode: str, public_url: str) -> str:
    """ "auto" -> "public" with a public address, else "landing"; other modes as configured."""
    if qr_mode == "auto":
        return "public" if public_url else "landing"
    return qr_mode


def is_private_url(url: str) -> bool:
    """True when phones on mobile data cannot open `url`: a loopback, private, link-local or
    LAN-only host name. Names are judged by their form only (no DNS lookup)."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(_PRIVATE_SUFFIXES)
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def campaign_url(landing_url: str, campaign: str, token: str) -> str:
    """The advertiser's landing URL with our utm_* parameters (theirs kept, ours win)."""
    parts = urlsplit(landing_url)
    ours = {"utm_source": UTM_SOURCE, "utm_medium": UTM_MEDIUM, "utm_campaign": campaign, "utm_content": token}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path or "/", urlencode(kept + list(ours.items())), parts.fragment)
    )


@dataclass(frozen=True)
class QrPlan:
    """Where this screen's QR codes point. `base_url` is where its own pages are (public_url in
    "public" mode, else the LAN address the server listens at)."""

    mode: str  # "public" | "landing" | "lan"
    base_url: str

    @property
    def privacy_url(self) -> str:
        return f"{self.base_url}/privacy"

    def ad_url(self, slug: str, token: str, landing_url: str = "") -> str:
        """The URL of an ad play's QR code; "" when there is none (landing mode, no landing URL:
        the rating stays on the panel)."""
        if self.mode == "landing":
            return campaign_url(landing_url, slug, token) if landing_url.startswith(("https://", "http://")) else ""
        return f"{self.base_url}/m/{token}"

    @property
    def private(self) -> bool:
        return is_private_url(self.base_url)

    def warning(self) -> str:
        """One line for the operator when a QR code points where phones on mobile data cannot go."""
        if not self.private:
            return ""
        which = (
            "the privacy QR code (ad QR codes go to the advertisers' own sites) points"
            if self.mode == "landing"
            else "the QR codes point"
        )
        return (
            f"{which} at {self.base_url}, a private address: phones on mobile data cannot open "
            f"it. Fix: set web.public_url to an https:// address that reaches this screen (a reverse "
            f"proxy or tunnel; README, 'QR codes that work on mobile data')"
        )

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "base_url": self.base_url,
            "privacy_url": self.privacy_url,
            "private": self.private,
            "warning": self.warning(),
        }


def qr_plan(qr_mode: str, public_url: str, base_url: str) -> QrPlan:
    """The plan in force: `base_url` is the address the server was found at (app.base_url)."""
    mode = resolve_mode(qr_mode, public_url)
    base = (public_url if mode == "public" and public_url else base_url).rstrip("/")
    return QrPlan(mode=mode, base_url=base)
