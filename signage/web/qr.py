"""QR codes drawn on the server (no external service, no JavaScript library).

`qr_svg` returns a compact, crisp SVG (one path) that scales to any size, with the 4-module
quiet zone the standard asks for, so phone cameras (and OpenCV's detector in the tests) find
it reliably.
"""

from __future__ import annotations

from functools import lru_cache

import qrcode
from qrcode.constants import ERROR_CORRECT_M

QUIET = 4


def _matrix(data: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET, box_size=1)
    qr.add_data(data)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()  # includes the quiet zone
    return matrix


@lru_cache(maxsize=256)
def qr_svg(data: str, *, dark: str = "#000", light: str = "#fff", title: str = "QR code") -> str:
    m = _matrix(data)
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
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
            f'shape-rendering="crispEdges" role="img" aria-label="{_esc(title)}">'
            f'<title>{_esc(title)}</title>'
            f'<rect width="{n}" height="{n}" fill="{light}"/>'
            f'<path fill="{dark}" d="{"".join(parts)}"/></svg>')



def _esc(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))
