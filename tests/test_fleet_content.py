"""Fleet content plane: `fleet publish` writes content-addressed blobs and one manifest per
group; a screen's ContentPuller fetches them from a real HTTP server on loopback (aiohttp's
static files, with ETag), verifies sha256, validates with the `ads validate` code, swaps the
inventory atomically and syncs it into the real SQLite store."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web

from signage.ads.inventory import sync
from signage.config import default_config
from signage.fleet.content import ContentError, ContentPuller, publish, with_pulled_inventory
from signage.store import Store

ROOT = Path(__file__).resolve().parent.parent
ADS = ("hug-in-a-mug", "sunny-smoothies")


def make_inventory(path: Path, default_share: float | None = None) -> Path:
    for slug in ADS:
        shutil.copytree(ROOT / "assets" / "ads" / slug, path / "ads" / slug)
    share = f"budget_share = {default_share}\n" if default_share else ""
    (path / "groups.toml").write_text(f'[groups.canary]\nads = ["*"]\n\n[groups.default]\nads = ["*"]\n{share}')
    return path


def retitle(inventory: Path, slug: str, title: str) -> None:
    toml = inventory / "ads" / slug / "ad.toml"
    lines = [f'title = "{title}"' if line.startswith("title =") else line for line in toml.read_text().splitlines()]
    toml.write_text("\n".join(lines) + "\n")


@pytest.fixture
async def bucket(tmp_path):
    """OUT_DIR served by a real static web server on loopback; counts conditional requests."""
    out = tmp_path / "bucket"
    out.mkdir()
    seen = {"if_none_match": 0}

    @web.middleware
    async def count(request, handler):
        if request.headers.get("If-None-Match"):
            seen["if_none_match"] += 1
        return await handler(request)

    app = web.Application(middlewares=[count])
    app.router.add_static("/", out)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield out, f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


class Screen:
    def __init__(self, tmp: Path, url: str, group: str) -> None:
        cfg = default_config(tmp)
        cfg = dataclasses.replace(
            cfg,
            storage=dataclasses.replace(cfg.storage, data_dir=tmp / "data"),
            fleet=dataclasses.replace(cfg.fleet, content_url=url, group=group),
        )
        self.config = with_pulled_inventory(cfg)
        self.store = Store(self.config.db_path, flush_seconds=60)
        self.synced = 0

    async def reload(self) -> None:  # what the player's sync_inventory does with the folder
        await sync(self.store, self.config.ads.dir, time.time())
        self.synced += 1

    async def __aenter__(self) -> Screen:
        await self.store.open()
        self.puller = ContentPuller(self.config, self.store, self.reload)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.store.close()

    async def titles(self) -> dict[str, str]:
        return {
            r["slug"]: r["title"]
            for r in await self.store.fetchall("SELECT slug, title FROM ads WHERE status != 'deleted'")
        }


async def test_a_published_bundle_reaches_a_screen_then_etag_saves_the_download(tmp_path, bucket):
    out, url, seen = bucket
    inv = make_inventory(tmp_path / "inv", default_share=0.5)
    result = publish(inv, out)
    assert set(result) == {"canary", "default"} and all("(live)" in v for v in result.values())
    async with Screen(tmp_path / "s1", url, "default") as screen:
        assert await screen.titles() == {}
        assert await screen.puller.poll_once() is True
        titles = await screen.titles()
        assert set(titles) == set(ADS)
        assert screen.config.ads.dir.is_symlink()
        # the group's budget share rode in the manifest: each screen may spend half
        budget = await screen.store.scalar("SELECT budget FROM ads WHERE slug = 'hug-in-a-mug'")
        assert budget == pytest.approx(150.0)
        version = screen.puller.version
        assert await screen.store.scalar("SELECT value FROM meta WHERE key = 'fleet.content_version'") == version
        assert await screen.puller.poll_once() is False  # unchanged: answered 304 Not Modified
        assert seen["if_none_match"] == 1 and screen.puller.status()["not_modified"] == 1
        assert screen.synced == 1


async def test_canary_gets_a_new_version_before_the_others(tmp_path, bucket):
    out, url, _ = bucket
    inv = make_inventory(tmp_path / "inv")
    publish(inv, out)
    async with Screen(tmp_path / "canary", url, "canary") as canary, Screen(tmp_path / "shop", url, "default") as shop:
        assert await canary.puller.poll_once() and await shop.puller.poll_once()
        old = await shop.titles()
        retitle(inv, "hug-in-a-mug", "Hug in a Mug: winter menu")
        result = publish(inv, out)
        assert "waits for --promote" in result["default"]
        assert await canary.puller.poll_once() is True
        assert (await canary.titles())["hug-in-a-mug"] == "Hug in a Mug: winter menu"
        assert await shop.puller.poll_once() is False
        assert await shop.titles() == old  # the others keep the version the canary had before
        # the CLI promotes exactly what the canary runs
        r = subprocess.run(
            [sys.executable, "-m", "signage", "fleet", "publish", str(inv), str(out), "--promote"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert await shop.puller.poll_once() is True
        assert (await shop.titles())["hug-in-a-mug"] == "Hug in a Mug: winter menu"
        installed = lambda s: json.loads((s.config.ads.dir / ".manifest.json").read_text())["ads"]  # noqa: E731
        assert installed(shop) == installed(canary)  # the very files the canary ran
        # an inventory edited after the canary got it is not promoted blindly
        retitle(inv, "sunny-smoothies", "Untested")
        with pytest.raises(Exception, match="canary group is not on this version"):
            publish(inv, out, promote=True)


async def test_a_corrupt_or_invalid_bundle_is_refused_and_the_old_inventory_kept(tmp_path, bucket):
    out, url, _ = bucket
    inv = make_inventory(tmp_path / "inv")
    publish(inv, out)
    async with Screen(tmp_path / "s", url, "canary") as screen:
        assert await screen.puller.poll_once()
        good_version, good_titles = screen.puller.version, await screen.titles()
        current = screen.config.ads.dir.resolve()
        # 1. a blob corrupted in the bucket (bit rot, a truncated upload, tampering)
        retitle(inv, "hug-in-a-mug", "Changed")
        publish(inv, out)
        manifest = json.loads((out / "manifests" / "canary.json").read_text())
        blob = out / "blobs" / manifest["ads"]["hug-in-a-mug"]["files"]["ad.toml"]["sha256"]
        blob.write_bytes(blob.read_bytes().replace(b"Changed", b"Chanted"))
        with pytest.raises(ContentError, match="sha256"):
            await screen.puller.poll_once()
        assert screen.puller.version == good_version and await screen.titles() == good_titles
        assert screen.config.ads.dir.resolve() == current
        assert "sha256" in screen.puller.status()["last_error"]
        # 2. a bundle whose files are intact but whose ad does not validate (`ads validate`)
        bad = b'title = "Broken"\nmedia = "missing.jpg"\nduration = -3\n'
        digest = __import__("hashlib").sha256(bad).hexdigest()
        (out / "blobs" / digest).write_bytes(bad)
        manifest["ads"]["hug-in-a-mug"]["files"]["ad.toml"] = {"sha256": digest, "size": len(bad)}
        manifest["version"] = "0123456789abcdef"
        (out / "manifests" / "canary.json").write_text(json.dumps(manifest))
        with pytest.raises(ContentError, match="refused, the old inventory keeps playing"):
            await screen.puller.poll_once()
        assert screen.puller.version == good_version and await screen.titles() == good_titles
        assert screen.config.ads.dir.resolve() == current
        assert sorted(p.name for p in current.iterdir() if not p.name.startswith(".")) == sorted(ADS)


def test_publish_refuses_an_invalid_inventory(tmp_path):
    inv = make_inventory(tmp_path / "inv")
    (inv / "ads" / "sunny-smoothies" / "ad.toml").write_text('title = "x"\n')
    r = subprocess.run(
        [sys.executable, "-m", "signage", "fleet", "publish", str(inv), str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "sunny-smoothies" in r.stderr
    assert not (tmp_path / "out" / "manifests").exists()


@pytest.mark.slow
def test_a_running_screen_pulls_from_a_static_web_server_and_keeps_playing(tmp_path, photos):
    """The real appliance with `[fleet] content_url`, fed by Python's own static file server
    (no ETag: the manifest's version alone decides)."""
    import socket
    import sqlite3
    import urllib.request

    from apprun import RunningApp, write_config
    from pgserver import wait_for

    out = tmp_path / "bucket"
    inv = make_inventory(tmp_path / "inv")
    publish(inv, out)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app = None
    try:
        cfg = write_config(
            tmp_path,
            [photos("t1")],
            fleet=f'content_url = "http://127.0.0.1:{port}"\ngroup = "canary"\ncontent_poll_s = 5',
        )
        app = RunningApp(cfg, tmp_path / "data")
        content = lambda: app.get("/api/status")["fleet"]["content"]  # noqa: E731
        first = wait_for(lambda: content()["version"], 60, "the first bundle")
        db = tmp_path / "data" / "signage.db"

        def titles() -> dict:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                return dict(con.execute("SELECT slug, title FROM ads WHERE status = 'active'").fetchall())

        assert set(wait_for(lambda: titles() or None, 30, "the ads to be synced")) == set(ADS)
        with urllib.request.urlopen(f"{app.base}/media/ads/hug-in-a-mug/creative.html", timeout=10) as r:
            assert r.status == 200
        retitle(inv, "hug-in-a-mug", "Hug in a Mug: spring menu")
        publish(inv, out)
        wait_for(lambda: content()["version"] not in (None, first), 60, "the new version")
        wait_for(lambda: titles().get("hug-in-a-mug") == "Hug in a Mug: spring menu", 30, "the new title")
        assert app.get("/api/status")["player"]  # still playing
        code, _, err = app.terminate()
        app = None
        assert code == 0, err
    finally:
        if app is not None:
            app.terminate()
        server.terminate()
        server.wait(timeout=10)
