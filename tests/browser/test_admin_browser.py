"""Admin pages in headless Chromium against the real server and a real SQLite file filled by a
real run of the appliance (camera on the `photos` source showing a real photo of two smiling
adults, real vision, audience and player).

Uses the shared browser fixtures of tests/browser/conftest.py; its own appliance is started here
because the admin needs a password in the config."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import pytest

from signage.web.admin.auth import hash_password
from signage.web.admin.core import ADMIN_STATE

from .conftest import start_live, wait_for

pytestmark = pytest.mark.browser

PASSWORD = "browser test password"
#: dlib's 2008_001009.jpg (PASCAL VOC): two smiling adults facing the camera
PEOPLE = "2008_001009"


@pytest.fixture(scope="module")
def admin_live(tmp_path_factory, photos):
    server = start_live(
        tmp_path_factory.mktemp("admin-live"),
        [photos(PEOPLE)],
        ad_seconds=3,
        device={"id": "lobby-screen-1", "location": "Main lobby"},
        player={"rating_seconds": 1.0, "healing_min_seconds": 1.0, "idle_healing_seconds": 60.0, "poll_seconds": 0.1},
        admin={"password_hash": hash_password(PASSWORD, iterations=2000)},
    )
    try:
        # let the player run: a few complete ad plays with the audience vision found
        wait_for(
            lambda: (
                server.db()
                .execute("SELECT COUNT(*) FROM plays WHERE kind='ad' AND ended_at IS NOT NULL AND impressions > 0")
                .fetchone()[0]
                >= 2
            ),
            timeout=90,
            what="two ad plays with impressions",
        )
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def login(page, url, password=PASSWORD):
    page.goto(url + "/admin/login")
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")


def csrf_of(page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value")


def test_wrong_password_then_login_and_live_view(admin_live, page, shot):
    url = admin_live.url
    resp = page.goto(url + "/admin")
    assert resp.status == 401 and "Please log in" in page.content()
    shot(page, "admin-login")
    page.fill("input[name=password]", "not the password")
    with page.expect_response(lambda r: r.url.endswith("/admin/login") and r.request.method == "POST") as info:
        page.click("#login-form button[type=submit]")
    assert info.value.status == 401
    assert page.locator(".alert").inner_text() == "Wrong password."
    login(page, url)
    assert page.url.endswith("/admin")
    wait_for(
        lambda: page.locator("#people-now").inner_text().strip() not in ("", "–", "0"),
        timeout=20,
        what="people now on the live view",
    )
    assert page.locator("#camera-state").count() == 1
    shot(page, "admin-live")


def test_report_matches_sql_and_csv_downloads(admin_live, page, shot, tmp_path):
    url = admin_live.url
    login(page, url)
    today = date.today().isoformat()
    page.goto(f"{url}/admin/reports?since={today}&until={today}")
    # what the page shows now; then the same from the file
    shown_plays = int(page.locator("#t-plays").inner_text().replace(",", ""))
    shown_imp = int(page.locator("#t-impressions").inner_text().replace(",", ""))
    since = datetime.combine(date.today(), datetime.min.time()).timestamp()
    con = admin_live.db()
    row = con.execute(
        "SELECT COUNT(DISTINCT p.id) FROM plays p WHERE p.kind='ad' AND p.started_at >= ? AND p.started_at < ?",
        (since, since + 86400),
    ).fetchone()
    imp = con.execute(
        "SELECT COUNT(*) FROM exposures x JOIN plays p ON p.id = x.play_id WHERE p.kind='ad' "
        "AND p.started_at >= ? AND p.started_at < ? AND x.present_s >= 1 - 1e-9",
        (since, since + 86400),
    ).fetchone()
    # the player keeps playing between the page and the check: the page must not exceed the
    # file, and the file may be at most a couple of plays ahead
    assert 1 <= shown_plays <= row[0] <= shown_plays + 3
    assert 1 <= shown_imp <= imp[0] <= shown_imp + 6
    # per ad on the page vs SQL for a play set frozen in the past: the report of plays that
    # started before the page was rendered
    shot(page, "admin-reports")
    with page.expect_download() as dl:
        page.click("#csv-links a:has-text('ads')")
    path = tmp_path / "ads.csv"
    dl.value.save_as(path)
    rows = [r for r in csv.reader(io.StringIO(path.read_text())) if r and not r[0].startswith("#")]
    header, body = rows[0], rows[1:]
    total_csv = sum(int(r[header.index("impressions")]) for r in body)
    assert shown_imp <= total_csv <= imp[0] + 6
    page.goto(f"{url}/admin/plays?since={today}&until={today}")
    assert page.locator("#plays-table tr").count() > 1
    shot(page, "admin-proof-of-play")


def test_create_ad_with_upload_becomes_eligible_then_pause_stops_it(admin_live, page, shot, tmp_path):
    from PIL import Image, ImageDraw

    from signage.ads.selection import Rules

    url = admin_live.url
    login(page, url)
    img = Image.new("RGB", (1280, 720), (30, 110, 200))
    ImageDraw.Draw(img).text((80, 300), "Harbour Cafe", fill=(255, 255, 255))
    poster = tmp_path / "Harbour Café poster.png"
    img.save(poster)
    page.goto(url + "/admin/ads/new")
    page.fill("input[name=slug]", "harbour-cafe")
    page.fill("input[name=title]", "Harbour Cafe")
    page.fill("input[name=advertiser]", "Harbour Cafe Ltd")
    page.fill("input[name=duration]", "3")
    page.fill("input[name=start]", "2020-01-01")
    page.fill("input[name=end]", "2099-12-31")
    page.set_input_files("input[name=media]", str(poster))
    shot(page, "admin-ad-form")
    with page.expect_navigation():
        page.click("#save-ad")
    assert "/admin/ads?saved=harbour-cafe" in page.url
    assert page.locator('tr[data-slug="harbour-cafe"][data-status="active"]').count() == 1
    shot(page, "admin-ads")
    player = admin_live.appliance.player
    rules = Rules.from_config(admin_live.config.ads)

    def why_not(slug):
        return admin_live.run(_eligibility(player, slug, rules))

    wait_for(lambda: why_not("harbour-cafe") == [], timeout=10, what="the new ad to be eligible")
    stored = sorted(p.name for p in (Path(admin_live.config.ads.dir) / "harbour-cafe").iterdir())
    assert stored == ["ad.toml", "harbour-caf-poster.png"]  # a safe name, under the ads folder
    with page.expect_navigation():
        page.click("#pause-harbour-cafe")
    assert page.locator('tr[data-slug="harbour-cafe"][data-status="paused"]').count() == 1
    assert "status paused" in why_not("harbour-cafe")
    # and the next decisions never pick it
    n0 = admin_live.db().execute("SELECT COALESCE(MAX(id), 0) FROM plays").fetchone()[0]
    # two more ads are decided with the people still there (each ad lasts 3 s)
    wait_for(
        lambda: (
            admin_live.db().execute("SELECT COUNT(*) FROM plays WHERE kind='ad' AND id > ?", (n0,)).fetchone()[0] >= 2
        ),
        timeout=60,
        what="two more ad decisions",
    )
    picked = (
        admin_live.db()
        .execute(
            "SELECT COUNT(*) FROM plays p JOIN ads a ON a.id = p.ad_id WHERE a.slug='harbour-cafe' AND p.id > ?", (n0,)
        )
        .fetchone()[0]
    )
    assert picked == 0


async def _eligibility(player, slug, rules):
    from signage.ads.selection import eligibility

    ad = player.ads.get(slug)
    if ad is None:
        return ["not loaded"]
    return [r for r in eligibility(ad.state, [], datetime.now(), rules, minors=[])]


def test_refusals_with_status_and_message(admin_live, page):
    url = admin_live.url
    login(page, url)
    page.goto(url + "/admin/ads")
    csrf = csrf_of(page)
    req = page.request
    # missing CSRF token
    r = req.post(url + "/admin/ads/sunrise-bakery/pause", form={}, max_redirects=0)
    assert r.status == 403 and "security token (CSRF) is missing or wrong" in r.text()
    # uploads
    base = {
        "csrf_token": csrf,
        "slug": "upload-test",
        "title": "T",
        "duration": "3",
        "cpm": "1",
        "budget": "10",
        "start": "2020-01-01",
        "end": "2099-12-31",
    }

    def post(name, data, mime="image/png"):
        return req.post(
            url + "/admin/ads/new",
            max_redirects=0,
            multipart={**base, "media": {"name": name, "mimeType": mime, "buffer": data}},
        )

    r = post("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (10 * 1024 * 1024 + 1))
    assert r.status == 413 and "too large" in r.text()
    r = post("notes.png", b"this is text, not an image")
    assert r.status == 415 and "not a real PNG" in r.text()
    r = post("payload.exe", b"MZ\x90\x00", "application/octet-stream")
    assert r.status == 415 and "Unsupported file type" in r.text()
    r = post("../../../../tmp/evil.png", b"\x89PNG\r\n\x1a\n")
    assert r.status == 400 and "must not contain folders" in r.text()
    assert not (Path(admin_live.config.ads.dir) / "upload-test").exists()
    # expired session
    state = admin_live.runner.app[ADMIN_STATE]
    for s in list(state.sessions._by_token.values()):
        s.expires_at = 0.0
    resp = page.goto(url + "/admin/reports")
    assert resp.status == 401
    assert "Your session has expired. Please log in again." in page.locator(".notice").inner_text()


def test_photo_check(admin_live, page, shot, photos):
    url = admin_live.url
    login(page, url)
    page.goto(url + "/admin/photo")
    page.set_input_files("input[name=photo]", str(photos("astronaut")))
    with page.expect_navigation():
        page.click("#photo-form button[type=submit]")
    assert "1 face found" in page.locator("#photo-result h2").inner_text()
    assert page.locator("#photo-drawn").evaluate("img => img.naturalWidth") > 0
    shot(page, "admin-photo-check")
