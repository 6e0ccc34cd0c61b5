"""Issue 10 against the real appliance: a real process on a loopback port, a real SQLite file,
the real models. Each test reproduces one reported fault; it failed before the fix."""

from __future__ import annotations

import zlib
import struct

import aiohttp
import pytest

from apprun import RunningApp, admin_login, admin_section, peak_rss_mb, write_config


@pytest.fixture(scope="module")
def app(tmp_path_factory, photos):
    tmp = tmp_path_factory.mktemp("hardening")
    cfg = write_config(tmp, [photos("astronaut")], admin=admin_section())
    running = RunningApp(cfg, tmp / "data")
    yield running
    if running.proc.poll() is None:
        code, _, err = running.terminate()
        assert code == 0, err
        assert "Traceback" not in err, err


def huge_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG of width x height pixels that is small on disk (all black)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (width + 1)  # filter byte + pixels
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


async def test_1_a_small_file_declaring_a_huge_image_is_refused_before_decoding(app):
    """Item 1: a 1 MB PNG of 20000x20000 pixels drove the process to 2.6 GB resident."""
    png = huge_png(20000, 20000)
    assert len(png) < 2 * 1024 * 1024
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await admin_login(http, app.base)
        before = peak_rss_mb(app.proc.pid)
        form = aiohttp.FormData()
        form.add_field("csrf_token", csrf)
        form.add_field("photo", png, filename="bomb.png", content_type="image/png")
        async with http.post(app.base + "/admin/photo", data=form) as r:
            html = await r.text()
            assert r.status == 413, html
            assert "too large" in html and "at most 40 megapixels" in html
    # decoding it would need 1.2 GB; the check reads only the header
    assert peak_rss_mb(app.proc.pid) < before + 200
