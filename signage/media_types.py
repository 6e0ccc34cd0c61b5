"""Which files the screen can show, by extension: "image", "video" or "html" (an HTML creative).

Ads (`signage/ads/inventory.py`) and healing scenes (`signage/healing.py`) both check their
files against this one table. (What the web server sends a file *as* -- its MIME type -- is
`signage/web/media.py`'s business.)
"""

from __future__ import annotations

__all__ = ["MEDIA_TYPES"]

MEDIA_TYPES: dict[str, str] = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".webp": "image",
    ".svg": "image",
    ".gif": "image",
    ".mp4": "video",
    ".webm": "video",
    ".html": "html",
    ".htm": "html",
}
