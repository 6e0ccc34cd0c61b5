"""Thumbnails of the real demo creatives: an image, the VP8 video's poster frame, an HTML page
rendered by headless Chromium (and the plain card without it), cached by content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from signage.ads.previews import THUMB_SIZE, find_chromium, thumbnail

ADS = Path(__file__).resolve().parents[1] / "assets" / "ads"


def _copy(tmp_path: Path, slug: str) -> Path:
    dst = tmp_path / "ads" / slug
    shutil.copytree(ADS / slug, dst)
    return dst


def _mean(path: Path) -> tuple[float, ...]:
    with Image.open(path) as im:
        small = im.convert("RGB").resize((1, 1), Image.Resampling.BOX)
        return small.getpixel((0, 0))


def test_image_and_video_thumbnails_come_from_the_creative_and_are_cached(tmp_path):
    cache = tmp_path / "thumbs"
    img_dir = _copy(tmp_path, "ridgeline-outfitters")
    out, how = thumbnail(img_dir, "creative.jpg", "image", cache)
    assert how == "image" and out.parent == cache
    with Image.open(out) as im, Image.open(img_dir / "creative.jpg") as src:
        assert im.width <= THUMB_SIZE[0] and im.height <= THUMB_SIZE[1]
        assert abs(im.width / im.height - src.width / src.height) < 0.02
    # the same thumbnail's colours are the creative's (not a blank or a camera frame)
    with Image.open(img_dir / "creative.jpg") as src:
        want = src.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert all(abs(a - b) < 12 for a, b in zip(_mean(out), want, strict=True))
    stamp = out.stat().st_mtime_ns
    assert thumbnail(img_dir, "creative.jpg", "image", cache)[0].stat().st_mtime_ns == stamp  # cached
    # an edited creative gets a new thumbnail
    with Image.open(img_dir / "creative.jpg") as src:
        src.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(img_dir / "creative.jpg")
    assert thumbnail(img_dir, "creative.jpg", "image", cache)[0] != out

    vid_dir = _copy(tmp_path, "glide-ebikes")
    out, how = thumbnail(vid_dir, "creative.webm", "video", cache)
    assert how == "video"
    with Image.open(out) as im:
        assert im.size[0] == THUMB_SIZE[0]
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 60  # a real frame with content, not a black or flat picture


def test_html_without_chromium_is_a_plain_card_that_says_so(tmp_path):
    d = _copy(tmp_path, "bloom-skincare")
    out, how = thumbnail(d, "creative.html", "html", tmp_path / "thumbs", chromium=None, title="Bloom")
    assert how == "fallback" and out.is_file()


@pytest.mark.slow
def test_html_rendered_by_chromium_looks_like_the_page(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Debian chromium is not installed")
    d = _copy(tmp_path, "bloom-skincare")
    out, how = thumbnail(d, "creative.html", "html", tmp_path / "thumbs", chromium=chromium)
    assert how == "chromium"
    r, g, b = _mean(out)
    assert r > 200 and r > g + 20  # the creative's pink page, drawn by a browser
    card, _ = thumbnail(d, "creative.html", "html", tmp_path / "thumbs", chromium=None)
    assert card != out  # with and without Chromium are cached apart
    tall, how = thumbnail(d, "creative.html", "html", tmp_path / "thumbs", chromium=chromium, orientation="portrait")
    with Image.open(tall) as im:
        assert how == "chromium" and im.height > im.width  # laid out at the portrait panel's size
