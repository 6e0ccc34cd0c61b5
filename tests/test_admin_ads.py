"""Ad management through the real routes: the folder, the database and the player's view agree."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta

import aiohttp
import pytest
from PIL import Image

from signage.ads import inventory
from signage.ads.selection import Rules, Viewer, eligibility
from signage.app import Appliance
from signage.config import default_config
from test_admin_support import login, make_config, start, stop


def png(size=(64, 48), colour=(200, 80, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def ad_form(csrf, *, slug="fresh-ad", title="Fresh juice", media=None, name="poster.png", **extra):
    f = aiohttp.FormData(default_to_multipart=True)  # as a browser sends an enctype=multipart form
    if csrf is not None:
        f.add_field("csrf_token", csrf)
    fields = {
        "slug": slug,
        "title": title,
        "advertiser": "Fresh Co",
        "duration": "8",
        "frequency_cap": "2",
        "priority": "0",
        "cpm": "12",
        "budget": "300",
        "start": (date.today() - timedelta(days=1)).isoformat(),
        "end": (date.today() + timedelta(days=30)).isoformat(),
        "dayparts": "",
        "description": "Cold-pressed.",
        "website": "https://example.org/fresh",
    }
    fields.update(extra)
    for k, v in fields.items():
        for item in v if isinstance(v, list) else [v]:
            f.add_field(k, item)
    if media is not False:
        # a file object, as a browser streams it (aiohttp warns about large raw bytes bodies)
        f.add_field("media", io.BytesIO(png() if media is None else media), filename=name, content_type="image/png")
    return f


@pytest.fixture
async def env(tmp_path):
    appliance = Appliance(make_config(tmp_path))
    client = await start(appliance)
    csrf = await login(client)
    yield client, appliance, csrf, tmp_path / "ads"
    await stop(client, appliance)


def eligible_now(player, slug):
    rules = Rules.from_config(default_config().ads)
    viewer = Viewer(
        session_id="s",
        mood_p={"happy": 1.0},
        age_p={"20-39": 1.0},
        gender_p={"female": 1.0},
        age=30.0,
        age_label="20-39",
        ad_counts={},
    )
    return eligibility(player.ads[slug].state, [viewer], datetime.now(), rules, minors=[])


async def test_create_edit_pause_resume_delete(env):
    client, appliance, csrf, ads_dir = env
    r = await client.post("/admin/ads/new", data=ad_form(csrf, moods=["happy", "surprise"]), allow_redirects=False)
    assert r.status == 303, await r.text()
    folder = ads_dir / "fresh-ad"
    spec = inventory.load_ad(folder)  # the folder is valid for the inventory itself
    assert spec.title == "Fresh juice" and spec.media == "poster.png" and spec.moods == ("happy", "surprise")
    row = await appliance.store.fetchone("SELECT * FROM ads WHERE slug = 'fresh-ad'")
    assert row["status"] == "active" and row["cpm"] == 12 and json.loads(row["moods"]) == ["happy", "surprise"]
    player = appliance.player
    # the player's own inventory sync ran: it knows the new ad, eligible at once
    assert eligible_now(player, "fresh-ad") == []
    # edit without a new file keeps the media
    r = await client.post(
        "/admin/ads/fresh-ad",
        allow_redirects=False,
        data=ad_form(csrf, title="Fresher juice", media=False, current_media="poster.png"),
    )
    assert r.status == 303, await r.text()
    assert inventory.load_ad(folder).title == "Fresher juice" and (folder / "poster.png").is_file()
    # pause: no longer eligible on the next decision; resume: eligible again
    r = await client.post("/admin/ads/fresh-ad/pause", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    assert "status paused" in eligible_now(player, "fresh-ad")
    r = await client.post("/admin/ads/fresh-ad/pause", data={"csrf_token": csrf})
    assert r.status == 409
    r = await client.post("/admin/ads/fresh-ad/resume", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and eligible_now(player, "fresh-ad") == []
    # an edit keeps the paused/active state (the database owns it)
    await client.post("/admin/ads/fresh-ad/pause", data={"csrf_token": csrf})
    await client.post("/admin/ads/fresh-ad", data=ad_form(csrf, media=False, current_media="poster.png"))
    assert (await appliance.store.fetchone("SELECT status FROM ads WHERE slug='fresh-ad'"))["status"] == "paused"
    # delete keeps the history
    await appliance.store.execute(
        "INSERT INTO plays (ad_id, kind, started_at, ended_at, impressions) VALUES (?, 'ad', 1, 2, 3)", (row["id"],)
    )
    r = await client.post("/admin/ads/fresh-ad/delete", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    assert not folder.exists() and any((ads_dir / "_deleted").iterdir())
    assert (await appliance.store.fetchone("SELECT status FROM ads WHERE slug='fresh-ad'"))["status"] == "deleted"
    assert await appliance.store.scalar("SELECT COUNT(*) FROM plays WHERE ad_id = ?", (row["id"],)) == 1
    assert "fresh-ad" not in player.ads
    r = await client.post("/admin/ads/new", data=ad_form(csrf))
    assert r.status == 409 and "deleted" in await r.text()


async def test_bad_uploads_are_refused_with_clear_messages(env):
    client, appliance, csrf, ads_dir = env
    cases = [
        (ad_form(csrf, media=b"\x89PNG\r\n\x1a\n" + b"0" * (10 * 1024 * 1024 + 10)), 413, "too large"),
        (ad_form(csrf, media=b"<?php system($_GET['c']); ?>", name="shell.png"), 415, "not a real PNG"),
        (ad_form(csrf, media=b"#!/bin/sh\n", name="run.sh"), 415, "Unsupported file type"),
        (ad_form(csrf, media=b"<svg onload=alert(1)/>", name="x.svg"), 415, "Unsupported file type"),
        (ad_form(csrf, name="../../etc/cron.d/evil.png"), 400, "must not contain folders"),
        (ad_form(csrf, name="..\\..\\evil.png"), 400, "must not contain folders"),
        (ad_form(csrf, media=b"\x89PNG\r\n\x1a\n" + b"junk" * 10), 415, "not a valid image"),
        (ad_form(csrf, slug="../escape"), 400, "Slug"),
        (ad_form(csrf, end="2000-01-01"), 400, "flight.end"),
        (ad_form(None), 403, "security token (CSRF)"),
    ]
    for data, status, words in cases:
        r = await client.post("/admin/ads/new", data=data)
        text = await r.text()
        assert r.status == status, (words, r.status, text[-500:])
        assert words in text, (words, text[-800:])
    # nothing was written: no ad folder, no stray staging folder, no row
    assert [p.name for p in ads_dir.iterdir()] == []
    assert await appliance.store.scalar("SELECT COUNT(*) FROM ads") == 0


async def test_ads_list_and_form_render(env):
    client, _, csrf, _ = env
    await client.post("/admin/ads/new", data=ad_form(csrf))
    r = await client.get("/admin/ads")
    html = await r.text()
    assert r.status == 200 and 'data-slug="fresh-ad"' in html and 'id="pause-fresh-ad"' in html
    r = await client.get("/admin/ads/fresh-ad")
    assert r.status == 200 and 'value="Fresh juice"' in await r.text()
    r = await client.get("/admin/ads/nope")
    assert r.status == 404
