"""Uploading real creatives through the real admin routes: HTML zip bundles (checked, unpacked
as plain files, never run), the slug made from the title, structured dayparts, and a refused
upload that gives the form back with everything typed."""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import Path

import pytest

import test_admin_ads
from signage.ads import bundles, inventory
from signage.web.admin.ads import slug_from_title
from test_admin_ads import ad_form

#: the ads tests' logged-in appliance (client, appliance, csrf, ads folder)
env = test_admin_ads.env

ADS = Path(__file__).resolve().parents[1] / "assets" / "ads"


def make_zip(files: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


PAGE = (ADS / "bloom-skincare" / "creative.html").read_bytes()
LOGO = (ADS / "ridgeline-outfitters" / "creative.jpg").read_bytes()


def test_slug_from_title():
    assert slug_from_title("Harbour Café — Spring 2027!") == "harbour-cafe-spring-2027"
    assert slug_from_title("   ") == "ad"
    assert len(slug_from_title("x" * 200)) == 64


@pytest.mark.parametrize(
    "files,words",
    [
        ({"page.html": PAGE}, "no index.html at the top"),
        ({"index.html": PAGE, "../evil.js": b"x"}, '".." in a path'),
        ({"index.html": PAGE, "/etc/cron.d/x.js": b"x"}, "must be relative"),
        ({"index.html": PAGE, "run.sh": b"#!/bin/sh"}, 'file type ".sh"'),
        ({"index.html": PAGE, ".hidden.js": b"x"}, "is not allowed"),
    ],
)
def test_bundle_checks(tmp_path, files, words):
    z = tmp_path / "b.zip"
    z.write_bytes(make_zip(files))
    with pytest.raises(bundles.BundleError, match=re.escape(words)):
        bundles.check_bundle(z)


def test_bundle_refuses_links_bombs_and_non_zips(tmp_path):
    z = tmp_path / "b.zip"
    z.write_bytes(make_zip({"index.html": PAGE}, symlink="img/link.png"))
    with pytest.raises(bundles.BundleError, match="link or special file"):
        bundles.check_bundle(z)
    z.write_bytes(make_zip({"index.html": PAGE, "big.txt": b"\0" * (bundles.MAX_UNPACKED + 1)}))
    with pytest.raises(bundles.BundleError, match="zip bomb|unpacks to"):
        bundles.check_bundle(z)
    z.write_bytes(b"PK\x03\x04 but not really a zip")
    with pytest.raises(bundles.BundleError, match="not a zip"):
        bundles.check_bundle(z)
    # a zip of one folder is fine: the folder is dropped; ad.toml in a bundle is ignored
    z.write_bytes(make_zip({"my-ad/index.html": PAGE, "my-ad/img/logo.jpg": LOGO, "my-ad/ad.toml": b"x=1"}))
    assert sorted(bundles.check_bundle(z).paths) == ["img/logo.jpg", "index.html"]


async def test_html_bundle_upload_becomes_a_playable_ad_with_slug_from_title(env):
    client, appliance, csrf, ads_dir = env
    page = PAGE.replace(b"</body>", b'<img src="img/logo.jpg" alt=""></body>')
    data = make_zip({"index.html": page, "img/logo.jpg": LOGO, "__MACOSX/._index.html": b"junk"})
    r = await client.post(
        "/admin/ads/new",
        allow_redirects=False,
        data=ad_form(csrf, slug="", title="Bloom Bündle Ad", media=data, name="Bloom bundle.zip"),
    )
    assert r.status == 303, (await r.text())[-600:]
    assert r.headers["Location"] == "/admin/ads?saved=bloom-bundle-ad"
    folder = ads_dir / "bloom-bundle-ad"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "ad.toml",
        "img/logo.jpg",
        "index.html",
    ]
    assert (folder / "img" / "logo.jpg").read_bytes() == LOGO
    spec = inventory.load_ad(folder)
    assert spec.media == "index.html" and spec.media_type == "html"
    assert "bloom-bundle-ad" in appliance.player.ads  # synced and handed to the player
    # served as media under the creative sandbox (scripts without an origin, no network)
    r = await client.get("/media/ads/bloom-bundle-ad/index.html")
    assert r.status == 200 and "sandbox allow-scripts" in r.headers["Content-Security-Policy"]
    assert "connect-src 'none'" in r.headers["Content-Security-Policy"]
    r = await client.get("/media/ads/bloom-bundle-ad/img/logo.jpg")
    assert r.status == 200 and await r.read() == LOGO
    # the same title again: the next free slug
    r = await client.post(
        "/admin/ads/new",
        allow_redirects=False,
        data=ad_form(csrf, slug="", title="Bloom Bündle Ad", media=data, name="b.zip"),
    )
    assert r.headers["Location"] == "/admin/ads?saved=bloom-bundle-ad-2"
    # an edit without a new file keeps the bundle's folders
    r = await client.post(
        "/admin/ads/bloom-bundle-ad",
        allow_redirects=False,
        data=ad_form(csrf, title="Bloom again", media=False, current_media="index.html"),
    )
    assert r.status == 303
    assert (folder / "img" / "logo.jpg").is_file() and inventory.load_ad(folder).title == "Bloom again"


async def test_a_refused_upload_keeps_every_typed_value(env):
    client, appliance, csrf, ads_dir = env
    bad = make_zip({"index.html": PAGE, "../../evil.js": b"alert(1)"})
    r = await client.post(
        "/admin/ads/new",
        data=ad_form(
            csrf,
            slug="",
            title="Harbour Café",
            media=bad,
            name="harbour.zip",
            moods=["happy", "sad"],
            advertiser="Harbour Ltd",
            cpm="7.5",
            dp0_days=["sat", "sun"],
            dp0_start="10:00",
            dp0_end="14:00",
            description="Fish and chips on the pier.",
        ),
    )
    text = html.unescape(await r.text())
    assert r.status == 422 and '".." in a path' in text and "choose the file again" in text
    for name, value in (
        ("title", "Harbour Café"),
        ("advertiser", "Harbour Ltd"),
        ("cpm", "7.5"),
        ("dp0_start", "10:00"),
        ("dp0_end", "14:00"),
    ):
        assert re.search(rf'name="{name}" value="{re.escape(value)}"', text), name
    assert "Fish and chips on the pier." in text
    for day in ("sat", "sun"):
        assert re.search(rf'name="dp0_days" value="{day}" checked', text), day
    assert not re.search(r'name="dp0_days" value="mon" checked', text)
    assert re.search(r'name="moods" value="sad" checked', text)
    assert not any(ads_dir.iterdir())


async def test_structured_dayparts_are_written_and_read_back(env):
    client, appliance, csrf, ads_dir = env
    r = await client.post(
        "/admin/ads/new",
        allow_redirects=False,
        data=ad_form(
            csrf,
            slug="late",
            dp0_days=["fri", "sat"],
            dp0_start="22:00",
            dp0_end="02:00",
            dp1_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            dp1_start="07:00",
            dp1_end="00:00",
        ),
    )
    assert r.status == 303, (await r.text())[-500:]
    spec = inventory.load_ad(ads_dir / "late")
    assert spec.dayparts == (
        {"days": ["fri", "sat"], "start": "22:00", "end": "02:00"},
        {"days": ["daily"], "start": "07:00", "end": "24:00"},
    )
    page = await (await client.get("/admin/ads/late")).text()
    assert re.search(r'name="dp1_days" value="wed" checked', page)
    assert 'name="dp1_end" value="00:00"' in page
    r = await client.post("/admin/ads/new", data=ad_form(csrf, slug="nodays", dp0_start="09:00"))
    assert r.status == 400 and "Daypart 1: tick at least one day" in await r.text()


async def test_portrait_creative_safe_zone_and_landing_page_are_written_and_kept(env):
    from PIL import Image

    client, appliance, csrf, ads_dir = env
    tall = io.BytesIO()
    Image.new("RGB", (540, 960), (20, 120, 60)).save(tall, "PNG")
    data = ad_form(
        csrf, slug="tall", safe_zone_side="bottom", safe_zone_size="0.25", landing_url="https://example.org/landing"
    )
    data.add_field("media_portrait", tall.getvalue(), filename="poster.png", content_type="image/png")
    r = await client.post("/admin/ads/new", data=data, allow_redirects=False)
    assert r.status == 303, (await r.text())[-500:]
    spec = inventory.load_ad(ads_dir / "tall")
    assert spec.media == "poster.png" and spec.media_portrait == "portrait-poster.png"
    assert spec.media_portrait_type == "image" and spec.safe_zone == ("bottom", 0.25)
    assert spec.details["landing_url"] == "https://example.org/landing"
    # the portrait preview is made from the portrait creative
    r = await client.get("/admin/ads/tall/preview.jpg?orientation=portrait")
    assert r.status == 200 and r.headers["X-Preview"] == "image"
    from PIL import Image as _I

    with _I.open(io.BytesIO(await r.read())) as im:
        assert im.height > im.width
    # an edit without new files keeps both creatives, the safe zone and the landing page
    page = await (await client.get("/admin/ads/tall")).text()
    assert 'name="current_media_portrait" value="portrait-poster.png"' in page
    r = await client.post(
        "/admin/ads/tall",
        allow_redirects=False,
        data=ad_form(
            csrf,
            title="Taller",
            media=False,
            current_media="poster.png",
            current_media_portrait="portrait-poster.png",
            safe_zone_side="bottom",
            safe_zone_size="0.25",
            landing_url="https://example.org/landing",
        ),
    )
    assert r.status == 303
    spec = inventory.load_ad(ads_dir / "tall")
    assert (
        spec.title == "Taller" and spec.media_portrait == "portrait-poster.png" and spec.safe_zone == ("bottom", 0.25)
    )
    # an HTML zip is refused as a portrait creative, with the reason
    data = ad_form(csrf, slug="tall-2")
    data.add_field("media_portrait", make_zip({"index.html": PAGE}), filename="p.zip", content_type="application/zip")
    r = await client.post("/admin/ads/new", data=data)
    assert r.status == 415 and "Portrait creative: upload an image or a video" in html.unescape(await r.text())
