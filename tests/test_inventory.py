"""The ad inventory: ad.toml validation messages (file, key, problem), the demo inventory,
sync into SQLite and the `ads` CLI."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from signage.ads import cli
from signage.ads.inventory import AdInvalid, load_ad, load_ads, scan, sync
from signage.config import config_from_dict
from signage.store import Store

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "assets" / "ads"

GOOD = """
title = "Test Ad"
advertiser = "Test Co"
media = "creative.html"
duration = 10
frequency_cap = 2

[targeting]
moods = ["happy"]
age_groups = ["20-39"]

[pricing]
cpm = 10.0
budget = 100.0

[flight]
start = 2026-01-01
end = 2027-12-31

[[dayparts]]
days = ["weekdays"]
start = "22:00"
end = "02:00"

[mobile]
website = "https://example.test"
coupon = "SAVE5"
"""


def write_ad(
    root: Path,
    slug: str,
    toml: str = GOOD,
    media: str = "creative.html",
    body: str = "<html><body><h1>Hi</h1></body></html>",
) -> Path:
    folder = root / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ad.toml").write_text(toml, encoding="utf-8")
    if media:
        (folder / media).write_text(body, encoding="utf-8")
    return folder


def problems(folder: Path) -> list[str]:
    with pytest.raises(AdInvalid) as info:
        load_ad(folder)
    return info.value.lines()


def test_good_ad_parses(tmp_path):
    spec = load_ad(write_ad(tmp_path, "test-ad"))
    assert spec.slug == "test-ad" and spec.media_type == "html" and spec.duration_s == 10
    assert spec.moods == ("happy",) and spec.genders == () and spec.freq_cap == 2
    assert spec.dayparts == ({"days": ["weekdays"], "start": "22:00", "end": "02:00"},)
    assert spec.details == {"website": "https://example.test", "coupon": "SAVE5"}
    assert len(spec.sha256) == 64


@pytest.mark.parametrize(
    "change, key, words",
    [
        (('title = "Test Ad"\n', ""), "title", "missing (required)"),
        (("duration = 10", "duration = 0"), "duration", "out of range"),
        (("duration = 10", 'duration = "ten"'), "duration", "must be a number"),
        (('moods = ["happy"]', 'moods = ["hapy"]'), "targeting.moods", 'did you mean "happy"'),
        (('age_groups = ["20-39"]', 'age_groups = ["adult"]'), "targeting.age_groups", "unknown value 'adult'"),
        (("frequency_cap = 2", "frequncy_cap = 2"), "frequncy_cap", 'unknown key (did you mean "frequency_cap"?)'),
        (("end = 2027-12-31", "end = 2025-12-31"), "flight.end", "is before flight.start"),
        (("start = 2026-01-01", 'start = "soon"'), "flight.start", "is not a date"),
        (('end = "02:00"', 'end = "25:00"'), "dayparts[0].end", "not a time of day"),
        (('days = ["weekdays"]', 'days = ["funday"]'), "dayparts[0].days", "unknown day 'funday'"),
        (("budget = 100.0", "budget = 0.0"), "pricing.budget", "must be more than 0"),
        (('website = "https://example.test"', 'website = "example.test"'), "mobile.website", "https://"),
        (('media = "creative.html"', 'media = "missing.html"'), "media", "file not found"),
        (('media = "creative.html"', 'media = "creative.exe"'), "media", "unsupported file type"),
        (('media = "creative.html"', 'media = "../x.html"'), "media", "inside the ad folder"),
    ],
)
def test_each_problem_names_file_key_and_what_is_wrong(tmp_path, change, key, words):
    folder = write_ad(tmp_path, "bad-ad", GOOD.replace(*change))
    lines = problems(folder)
    assert any(line.startswith(f"{folder / 'ad.toml'}: {key}: ") and words in line for line in lines), lines


def test_missing_pricing_and_flight_tables(tmp_path):
    toml = GOOD.split("[pricing]")[0]
    lines = problems(write_ad(tmp_path, "x", toml))
    assert any(": pricing: missing" in line for line in lines)
    assert any(": flight: missing" in line for line in lines)


def test_not_toml_and_no_ad_toml(tmp_path):
    assert "not valid TOML" in problems(write_ad(tmp_path, "x", "title = \n"))[0]
    (tmp_path / "empty").mkdir()
    assert "file not found" in problems(tmp_path / "empty")[0]
    assert "must be a slug" in problems(write_ad(tmp_path, "Bad Name"))[0]


def test_html_creative_must_be_self_contained(tmp_path):
    folder = write_ad(tmp_path, "x", body='<html><img src="https://cdn.example/a.png"></html>')
    (line,) = problems(folder)
    assert "media" in line and "self-contained" in line and "line 1" in line
    folder = write_ad(tmp_path, "y", body="<style>@import url(//fonts.example/x.css);</style>")
    assert "self-contained" in problems(folder)[0]
    # data: URLs and inline SVG are fine
    load_ad(write_ad(tmp_path, "z", body='<img src="data:image/png;base64,AAAA"><svg></svg>'))


def test_a_bad_folder_never_stops_the_others(tmp_path):
    write_ad(tmp_path, "good-one")
    write_ad(tmp_path, "bad-one", GOOD.replace("duration = 10", "duration = -1"))
    good, bad = scan(tmp_path)
    assert [s.slug for s in good] == ["good-one"]
    assert len(bad) == 1 and "bad-one" in str(bad[0].path)


def test_demo_inventory_is_valid_and_covers_the_brief():
    good, bad = scan(DEMO)
    assert not bad, [str(b) for b in bad]
    assert len(good) >= 8
    by = {s.slug: s for s in good}
    assert sum(s.age_restricted for s in good) >= 1
    moods = {m for s in good for m in s.moods}
    assert {"happy", "sad", "neutral"} <= moods
    assert any(s.uplifting and "sad" in s.moods for s in good)  # for sad viewers, uplifting
    assert {"child", "teen", "20-39", "40-59", "60+"} <= {g for s in good for g in s.age_groups}
    assert {"female", "male"} <= {g for s in good for g in s.genders}
    assert any(s.dayparts for s in good) and any(not s.dayparts for s in good)
    assert all(s.details.get("description") and s.details.get("website") for s in good)
    assert sum(1 for s in good if s.details.get("coupon")) >= 3
    assert {s.media_type for s in good} >= {"html", "image"}
    assert all(s.cpm > 0 and s.budget > 0 for s in good if s.slug != "city-library-nights")
    assert by["hopfield-ipa"].age_restricted


def test_demo_assets_are_small():
    total = sum(p.stat().st_size for p in (ROOT / "assets").rglob("*") if p.is_file())
    assert total < 5_000_000


@pytest.mark.asyncio
async def test_sync_adds_updates_removes_and_records_problems(tmp_path):
    ads_dir = tmp_path / "ads"
    write_ad(ads_dir, "one")
    write_ad(ads_dir, "two")
    store = Store(tmp_path / "db.sqlite", 60)
    await store.open()
    try:
        r = await sync(store, ads_dir, 1000.0)
        assert sorted(r.added) == ["one", "two"] and not r.invalid
        r = await sync(store, ads_dir, 1001.0)
        assert sorted(r.unchanged) == ["one", "two"]
        write_ad(ads_dir, "one", GOOD.replace("cpm = 10.0", "cpm = 12.5"))
        write_ad(ads_dir, "two", GOOD.replace("duration = 10", "duration = 9000"))
        r = await sync(store, ads_dir, 1002.0)
        assert r.updated == ["one"] and len(r.invalid) == 1
        records = {a.slug: a for a in await load_ads(store)}
        assert records["one"].state.cpm == 12.5
        assert "duration" in records["two"].state.problem  # kept, but it will not play
        assert records["one"].state.dayparts[0].start_min == 22 * 60
        shutil.rmtree(ads_dir / "one")
        write_ad(ads_dir, "two")
        r = await sync(store, ads_dir, 1003.0)
        assert r.removed == ["one"] and r.updated == ["two"]
        records = {a.slug: a for a in await load_ads(store)}
        assert list(records) == ["two"] and records["two"].state.problem == ""
        deleted = await store.fetchone("SELECT status FROM ads WHERE slug = 'one'")
        assert deleted["status"] == "deleted"
        # the folder comes back: the ad is active again
        write_ad(ads_dir, "one")
        r = await sync(store, ads_dir, 1004.0)
        assert r.updated == ["one"]
        assert (await store.fetchone("SELECT status FROM ads WHERE slug = 'one'"))["status"] == "active"
    finally:
        await store.close()


def _config(tmp_path, ads_dir):
    return config_from_dict({"ads": {"dir": str(ads_dir)}, "storage": {"data_dir": str(tmp_path / "data")}})


def _parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    return parser.parse_args(argv)


def test_cli_validate_sync_list(tmp_path, capsys):
    ads_dir = tmp_path / "ads"
    write_ad(ads_dir, "fine")
    config = _config(tmp_path, ads_dir)
    args = _parse(["ads", "validate"])
    assert args.func(args, config) == 0
    assert "ok: fine" in capsys.readouterr().out
    write_ad(ads_dir, "broken", GOOD.replace('moods = ["happy"]', 'moods = ["glad"]'))
    assert args.func(args, config) == 1
    err = capsys.readouterr().err
    assert f"{ads_dir / 'broken' / 'ad.toml'}: targeting.moods: unknown value 'glad'" in err
    assert "Traceback" not in err
    args = _parse(["ads", "sync"])
    assert args.func(args, config) == 1  # a problem was reported ...
    out = capsys.readouterr().out
    assert "added: fine" in out  # ... but the good ad was synced
    args = _parse(["ads", "list", "--json"])
    assert args.func(args, config) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["slug"] for a in listed] == ["fine"] and listed[0]["dayparts"] == ["mon,tue,wed,thu,fri 22:00-02:00"]


SCREEN = GOOD.replace('media = "creative.html"', 'media = "creative.html"\nmedia_portrait = "portrait.html"').replace(
    "[mobile]", '[safe_zone]\nside = "right"\nsize = 0.2\n\n[mobile]\nlanding_url = "https://example.test/offer?x=1"'
)


async def test_portrait_creative_safe_zone_and_landing_url_reach_the_panel(tmp_path):
    folder = write_ad(tmp_path / "ads", "screen-ad", SCREEN)
    (folder / "portrait.html").write_text("<html><body>tall</body></html>", encoding="utf-8")
    spec = load_ad(folder)
    assert spec.media_portrait == "portrait.html" and spec.media_portrait_type == "html"
    assert spec.safe_zone == ("right", 0.2)
    assert spec.details["landing_url"] == "https://example.test/offer?x=1"
    before = spec.sha256
    (folder / "portrait.html").write_text("<html><body>taller</body></html>", encoding="utf-8")
    assert load_ad(folder).sha256 != before  # a new portrait creative is a change to sync
    store = Store(tmp_path / "db.sqlite", 60)
    await store.open()
    try:
        await sync(store, tmp_path / "ads", 1000.0)
        (record,) = await load_ads(store)
        assert "screen" not in record.details  # the phone page's details stay as they were
        assert record.panel_info() == {
            "landing_url": "https://example.test/offer?x=1",
            "safe_zone": {"side": "right", "size": 0.2},
            "media_portrait_url": "/media/ads/screen-ad/portrait.html",
            "media_portrait_type": "html",
        }
    finally:
        await store.close()


@pytest.mark.parametrize(
    "change, key, words",
    [
        (('media_portrait = "portrait.html"', 'media_portrait = "gone.html"'), "media_portrait", "file not found"),
        (('side = "right"', 'side = "rigth"'), "safe_zone.side", 'did you mean "right"'),
        (("size = 0.2", "size = 0.9"), "safe_zone.size", "out of range"),
        (
            ('landing_url = "https://example.test/offer?x=1"', 'landing_url = "example.test"'),
            "mobile.landing_url",
            "https://",
        ),
    ],
)
def test_screen_keys_are_checked(tmp_path, change, key, words):
    folder = write_ad(tmp_path, "bad-ad", SCREEN.replace(*change))
    (folder / "portrait.html").write_text("<html></html>", encoding="utf-8")
    lines = problems(folder)
    assert any(line.startswith(f"{folder / 'ad.toml'}: {key}: ") and words in line for line in lines), lines
