"""The shipped demo inventory (assets/ads, assets/healing) and its generator,
scripts/make_demo_assets.py: valid, complete for the demo, small, and reproducible."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

import cv2
import pytest

from signage.ads.inventory import scan
from signage.config import Config
from signage.healing import SEASONS, TIMES_OF_DAY, SceneLibrary
from signage.vocabulary import AGE_GROUPS, GENDERS

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
SCRIPT = ROOT / "scripts" / "make_demo_assets.py"
MEDIA_BUDGET = 5_000_000  # bytes, all ads and healing media together


@pytest.fixture(scope="module")
def demo():
    good, bad = scan(ASSETS / "ads")
    assert not bad, [line for b in bad for line in b.lines()]
    return {s.slug: s for s in good}


def test_inventory_validates_and_covers_the_brief(demo):
    assert len(demo) >= 8
    assert {s.media_type for s in demo.values()} >= {"image", "video", "html"}
    assert any(s.age_restricted for s in demo.values())
    assert set(AGE_GROUPS) <= {g for s in demo.values() for g in s.age_groups}
    assert set(GENDERS) <= {g for s in demo.values() for g in s.genders}
    assert len({s.moods for s in demo.values()}) >= 6  # different moods, not one audience
    for s in demo.values():
        assert s.details.get("description") and s.details.get("website") and s.details.get("address")
        assert s.details.get("phone") and s.details.get("map_url")
        if s.cpm > 0:  # paid campaigns: realistic prices (house ads are free)
            assert 5 <= s.cpm <= 40 and 100 <= s.budget <= 5000, s.slug
        for dp in s.dayparts:
            assert dp["days"] and dp["start"] != dp["end"], s.slug


def test_every_mood_rule_has_something_to_show(demo):
    """The default mood rules ('sad' -> uplifting ads, 'angry' -> healing) never leave the screen
    with nothing: an uplifting ad targets each mood sent to 'uplifting'."""
    rules = Config().ads.mood_rules
    for mood, rule in rules.items():
        if rule == "uplifting":
            assert any(s.uplifting and (not s.moods or mood in s.moods) for s in demo.values()), mood
    # and the "targeting happy viewers" half of the rule has ads too
    assert any("happy" in s.moods for s in demo.values())


def test_video_ad_is_a_short_browser_codec_clip(demo):
    video = [s for s in demo.values() if s.media_type == "video"]
    assert video
    for s in video:
        path = ASSETS / "ads" / s.slug / s.media
        assert path.suffix == ".webm"
        data = path.read_bytes()
        assert data[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in data[:64]  # EBML header, WebM doc type
        assert b"V_VP8" in data[:1000]  # VP8: plays in every Chromium
        assert len(data) <= 1_600_000
        cap = cv2.VideoCapture(str(path))
        try:
            frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
            w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        finally:
            cap.release()
        assert fps > 0 and 8 <= frames / fps <= 12
        assert abs(frames / fps - s.duration_s) <= 0.5  # the clip fills its slot, no loop seam
        assert (w, h) == (1280, 720)


def test_healing_covers_every_season_and_time_of_day():
    lib = SceneLibrary(ASSETS / "healing")
    have = {(sc.season, sc.time_of_day) for sc in lib.scenes}
    assert {(s, t) for s in SEASONS for t in TIMES_OF_DAY} <= have
    for sc in lib.scenes:
        assert (ASSETS / "healing" / sc.file).is_file()


def test_media_stay_within_budget():
    files = [p for p in (ASSETS / "ads").rglob("*") if p.is_file()]
    files += [p for p in (ASSETS / "healing").rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total < MEDIA_BUDGET, f"{total / 1e6:.2f} MB"
    assert max(p.stat().st_size for p in files) < 1_600_000


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _same_video(a: Path, b: Path) -> bool:
    """Decoded frames match closely: for an encoder build that differs from the one that made
    the committed file (the bytes then differ, the picture does not)."""
    import cv2
    import numpy as np

    ca, cb = cv2.VideoCapture(str(a)), cv2.VideoCapture(str(b))
    try:
        n = 0
        while True:
            ok_a, fa = ca.read()
            ok_b, fb = cb.read()
            if ok_a != ok_b:
                return False
            if not ok_a:
                return n > 0
            if np.abs(fa.astype(np.int16) - fb.astype(np.int16)).mean() > 2.0:
                return False
            n += 1
    finally:
        ca.release()
        cb.release()


@pytest.mark.slow  # regenerates every demo asset (about 30 s)
def test_generator_reproduces_the_committed_files(tmp_path):
    """Running the script again gives the same files: the demo inventory in git is exactly what
    the script makes (edit the script, not the files). Text files and the drawn images must be
    byte-for-byte equal; the video too when the same OpenCV/libvpx build encodes it, else its
    decoded frames must match."""
    out = tmp_path / "assets"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for sub in ("ads", "healing"):
        want, got = _digest(ASSETS / sub), _digest(out / sub)
        assert sorted(got) == sorted(want), f"{sub}: files differ"
        for name, digest in want.items():
            if got[name] == digest:
                continue
            if name.endswith(".webm"):
                assert _same_video(ASSETS / sub / name, out / sub / name), f"{sub}/{name} differs"
            else:
                pytest.fail(f"assets/{sub}/{name} is not what scripts/make_demo_assets.py makes; re-run the script")


def test_html_creatives_are_self_contained_and_fit_both_orientations(demo):
    for s in demo.values():
        if s.media_type != "html":
            continue
        page = (ASSETS / "ads" / s.slug / s.media).read_text(encoding="utf-8")
        assert "http://" not in page and "https://" not in page, s.slug
        assert "@media (orientation:portrait)" in page, s.slug


def test_scenes_toml_lists_every_healing_file():
    data = tomllib.loads((ASSETS / "healing" / "scenes.toml").read_text(encoding="utf-8"))
    listed = {sc["file"] for sc in data["scene"]}
    on_disk = {p.name for p in (ASSETS / "healing").iterdir() if p.suffix != ".toml"}
    assert listed == on_disk


def test_two_demo_ads_have_a_portrait_creative_and_one_a_safe_zone(demo):
    from PIL import Image

    portrait = [s for s in demo.values() if s.media_portrait]
    assert len(portrait) >= 2
    for s in portrait:
        with Image.open(ASSETS / "ads" / s.slug / s.media_portrait) as img:
            assert img.height > img.width, s.slug
    assert any(s.safe_zone for s in demo.values())
    assert any(s.details.get("landing_url") for s in demo.values())
