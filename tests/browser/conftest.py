"""Browser tests: headless Debian Chromium (driven by Playwright's Python client with
`executable_path`, never a downloaded browser) against the real aiohttp server.

The server is the real `Appliance` (camera on the `photos` source -> the real `VisionPipeline`
with the ONNX models in `models/` -> `Audience` -> `Player`, the real SQLite file), run in its own
thread and event loop like the appliance process. What stands in front of the camera is a folder
of real photos from the shared `photos` fixture (tests/conftest.py); `LiveServer.show()` changes
them at run time (the photos source re-lists its folder at every loop), e.g. a picture with nobody in it
(no human face: nobody there) and then a group photo (people arrive). Nothing is scripted: every
box, mood and session comes from the models.

Test-only dependency: `playwright` (PyPI, in the `test` extra) -- its Python API is a stable way
to drive Chromium (touch taps, viewports, element screenshots) without writing a CDP client.
Chromium itself comes from Debian (`apt-get install -y chromium`); without it these tests skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from support import HoldableClock

REPO = Path(__file__).resolve().parents[2]
# The README's screenshots are taken by these tests from the real appliance. They are written
# into docs/screenshots only when asked (SIGNAGE_UPDATE_SCREENSHOTS=1 ./scripts/test -m browser),
# so an ordinary test run leaves the work tree clean.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("SIGNAGE_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="signage-screenshots-"))
)
HEALING = REPO / "assets" / "healing"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--hide-scrollbars",
]
#: seconds each photo stays before the photos source moves on (and re-lists its folder): how
#: quickly a change made by `LiveServer.show()` reaches the camera
PHOTO_SECONDS = 1.0


def chromium_executable() -> str | None:
    for name in (
        os.environ.get("SIGNAGE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if name and Path(name).exists():
            return name
    return None


def wait_for(fn: Callable[[], Any], timeout: float = 30.0, what: str = "condition", every: float = 0.1):
    """Poll `fn` until it returns something truthy (returned); exceptions count as not yet."""
    end = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except Exception as exc:  # the page may be navigating, the server busy
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(every)


# --- the server ------------------------------------------------------------------------------


def _font(size: int):
    from PIL import ImageFont

    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",):
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default(size=size)


def make_test_ads(root: Path, duration: int = 6) -> Path:
    """Two short ads of our own (an image with a portrait version, and an HTML creative with a
    landing page), any audience, all day."""
    from PIL import Image, ImageDraw

    ads = root / "ads"
    common = textwrap.dedent("""
        age_restricted = false
        [targeting]
        moods = []
        age_groups = []
        genders = []
        [pricing]
        cpm = 8.0
        budget = 500.0
        [flight]
        start = 2020-01-01
        end = 2099-12-31
    """)
    a = ads / "sunrise-bakery"
    a.mkdir(parents=True)
    img = Image.new("RGB", (1920, 1080))
    d = ImageDraw.Draw(img)
    for y in range(1080):  # warm gradient
        t = y / 1079
        d.line([(0, y), (1920, y)], fill=(int(255 - 40 * t), int(170 - 90 * t), int(90 + 40 * t)))
    d.ellipse((1260, 180, 1700, 620), fill=(255, 226, 140))
    d.rounded_rectangle((120, 640, 980, 900), radius=40, fill=(80, 40, 30))
    d.text((140, 200), "Sunrise Bakery", font=_font(120), fill=(60, 25, 15))
    d.text((146, 360), "Warm croissants from 7 am", font=_font(64), fill=(70, 35, 20))
    d.text((170, 700), "2 for 1 today", font=_font(110), fill=(255, 230, 190))
    img.save(a / "creative.png", optimize=True)
    # the same ad made for portrait screens: the panel picks it on a portrait screen
    img = Image.new("RGB", (1080, 1920), (235, 150, 100))
    d = ImageDraw.Draw(img)
    d.ellipse((300, 980, 780, 1460), fill=(255, 226, 140))
    d.text((90, 220), "Sunrise\nBakery", font=_font(150), fill=(60, 25, 15))
    d.text((96, 640), "Warm croissants from 7 am", font=_font(58), fill=(70, 35, 20))
    img.save(a / "creative-portrait.png", optimize=True)
    (a / "ad.toml").write_text(
        textwrap.dedent("""
        title = "Sunrise Bakery"
        advertiser = "Sunrise Bakery Ltd"
        media = "creative.png"
        media_portrait = "creative-portrait.png"
        duration = {duration}
    """).format(duration=duration)
        + common
        + textwrap.dedent("""
        [mobile]
        description = "Croissants, sourdough and cinnamon buns baked on site every morning."
        address = "12 Harbour Street"
        phone = "+1 555 0123"
        website = "https://sunrise-bakery.example"
        map_url = "https://www.openstreetmap.org/search?query=12%20Harbour%20Street"
        coupon = "SUNRISE2FOR1"
    """)
    )
    b = ads / "green-wave-bikes"
    b.mkdir()
    (b / "creative.html").write_text(
        textwrap.dedent("""\
        <!doctype html><html><head><meta charset="utf-8"><style>
        html,body{margin:0;height:100%;overflow:hidden;font-family:system-ui,"DejaVu Sans",sans-serif}
        body{display:grid;place-items:center;background:linear-gradient(135deg,#0b6e4f,#08a045 55%,#c7f9cc);color:#fff}
        .c{text-align:center} h1{font-size:11vmin;margin:0;letter-spacing:-.02em}
        p{font-size:4.5vmin;margin:2vmin 0 0} .w{font-size:20vmin;animation:r 3s linear infinite;display:inline-block}
        @keyframes r{to{transform:rotate(360deg)}}
        </style></head><body><div class="c"><div class="w">&#x2699;</div><h1>Green Wave Bikes</h1>
        <p>City e-bikes &middot; first ride free</p></div></body></html>
    """)
    )
    (b / "ad.toml").write_text(
        textwrap.dedent("""
        title = "Green Wave Bikes"
        advertiser = "Green Wave"
        media = "creative.html"
        duration = {duration}
    """).format(duration=duration)
        + common
        + textwrap.dedent("""
        [mobile]
        description = "Electric city bikes at 40 stations. Your first 30-minute ride is free."
        address = "Station 1, Central Park Gate"
        phone = "+1 555 0144"
        website = "https://greenwave.example"
        landing_url = "https://greenwave.example/first-ride?lang=en"
        coupon = "FIRSTRIDE"
    """)
    )
    return ads


class LiveServer:
    """The real appliance and its web server on 127.0.0.1, in a thread of their own."""

    def __init__(self, config) -> None:
        self.config = config
        self.photos_dir = Path(config.camera.photos_dir)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._thread, daemon=True, name="live-server")
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.url = ""
        self.appliance: Any = None
        self._generation = 0
        #: the appliance's time: a test holds it while it looks at a state (`held()`)
        self.clock = HoldableClock()

    def _thread(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the test
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        from aiohttp import web

        from signage.app import Appliance, public_base_url
        from signage.web.server import create_app

        self.appliance = Appliance(self.config, clock=self.clock)
        await self.appliance.start()
        app = create_app(self.appliance)
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.config.web.port)
        await site.start()
        self.appliance.base_url = public_base_url(self.config, self.config.web.port)
        self.url = f"http://127.0.0.1:{self.config.web.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        self.ready.wait(120)
        if self.error:
            raise self.error
        if self.appliance.component_errors:
            raise AssertionError(f"the appliance started with errors: {self.appliance.component_errors}")
        return self

    def held(self) -> AbstractContextManager[None]:
        """Time stands still for the appliance (its player keeps the state on screen) while the
        test looks: a screenshot on a starved machine may take longer than a test ad lasts."""
        return self.clock.held()

    # -- what the camera sees -------------------------------------------------------------------
    def show(self, *photos: Path) -> None:
        """Put these real photos (and only these) in front of the camera. The new files are
        linked before the old ones go, so the folder is never empty (the source would fail)."""
        self._generation += 1
        old = list(self.photos_dir.iterdir())
        for i, p in enumerate(photos):
            (self.photos_dir / f"{self._generation:03d}-{i}-{p.name}").symlink_to(p)
        for p in old:
            p.unlink()

    def status(self) -> dict[str, Any]:
        """`GET /api/status`, as a technician's tool would read it."""
        with urllib.request.urlopen(self.url + "/api/status", timeout=10) as r:
            return json.load(r)

    def people(self) -> list[dict[str, Any]]:
        return self.status()["audience"]["people"]

    def wait_people(self, at_least: int = 1, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Poll until vision has found at least this many people in front of the screen."""
        return wait_for(
            lambda: (lambda p: p if len(p) >= at_least else None)(self.people()),
            timeout,
            f"vision to find {at_least}+ people",
        )

    def wait_nobody(self, timeout: float = 60.0) -> dict[str, Any]:
        """Poll until vision has analysed frames of the current photos and sees nobody."""

        def check():
            s = self.status()
            looking = s["camera"]["state"] == "running" and s["vision"]["frames_analysed"] > 0
            return s if looking and s["audience"]["present"] == 0 and s["vision"]["faces"] == 0 else None

        return wait_for(check, timeout, "vision to see nobody")

    # -- the server side ------------------------------------------------------------------------
    def restart_web(
        self, down_s: float = 2.0, went_down: threading.Event | None = None, come_back: threading.Event | None = None
    ) -> None:
        """Stop the web server (every WebSocket drops) and start it again on the same port,
        as after a restart of the process's server side: `down_s` later, or when the test sets
        `come_back` (at most 120 s); `went_down` is set once the server is down."""

        async def _restart():
            from aiohttp import web

            from signage.web.server import create_app

            await self.runner.cleanup()
            if went_down is not None:
                went_down.set()
            if come_back is not None:
                await asyncio.to_thread(come_back.wait, 120)
            else:
                await asyncio.sleep(down_s)
            self.runner = web.AppRunner(create_app(self.appliance), shutdown_timeout=1.0)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.config.web.port).start()

        self.run(_restart(), 180)

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def _stop():
            await self.runner.cleanup()
            await self.appliance.stop()

        try:
            self.run(_stop(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def db(self) -> sqlite3.Connection:
        con = sqlite3.connect(f"file:{self.config.db_path}?mode=ro", uri=True, timeout=5)
        con.row_factory = sqlite3.Row
        return con


def start_live(root: Path, first_photos: list[Path], *, ad_seconds: int = 6, **sections: dict[str, Any]) -> LiveServer:
    """The real appliance on the `photos` camera source, showing `first_photos`, with two ads of
    our own and the repository's healing scenes; `sections` add to or override the config."""
    from signage.config import config_from_dict

    ads = make_test_ads(root, ad_seconds)
    pdir = root / "photos"
    pdir.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    raw: dict[str, dict[str, Any]] = {
        "camera": {"source": "photos", "photos_dir": str(pdir), "photo_seconds": PHOTO_SECONDS, "fps": 10.0},
        # a loaded 2-core machine also runs Chromium: 5 analysed frames a second is plenty
        "vision": {"models_dir": str(REPO / "models"), "analysis_fps": 5.0},
        "ads": {"dir": str(ads), "healing_dir": str(HEALING)},
        "web": {"host": "127.0.0.1", "port": port},
        "storage": {"data_dir": str(root / "data"), "flush_seconds": 0.5},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    server = LiveServer(config_from_dict(raw, base_dir=root))
    server.show(*first_photos)
    return server.start()


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = chromium_executable()
    # A missing browser fails the browser tests (it does not skip them: CI must not pass
    # without running them); `-m "not browser"` leaves them out on purpose.
    if exe is None:
        pytest.fail(
            "Debian chromium is not installed (apt-get install -y chromium); "
            "the browser tests need it (or run: -m 'not browser')",
            pytrace=False,
        )
    return exe


@pytest.fixture(scope="module")
def browser(chromium):
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event loop
    running in the thread while it is open, and an asyncio test that a parallel worker or a
    shuffled order runs after a browser module must find no loop running."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, photos, no_face_photo) -> LiveServer:
    """The panel tests' appliance: it starts in front of a picture with nobody in it
    (healing); the tests bring people with `live.show(...)`."""
    server = start_live(
        tmp_path_factory.mktemp("live"),
        [no_face_photo],
        player={"rating_seconds": 7.0, "healing_min_seconds": 2.0, "idle_healing_seconds": 60.0, "poll_seconds": 0.1},
        # a shop whose guest Wi-Fi reaches the screen: the QR opens our phone pages
        web={"qr_mode": "lan"},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page_or_el, name: str, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        if full_page:
            page_or_el.screenshot(path=str(path), full_page=True)
        else:
            page_or_el.screenshot(path=str(path))
        return path

    return take


# --- reading what is on screen -----------------------------------------------------------------


def zbar_decode(png: bytes) -> list[str]:
    """Every QR code zbarimg (Debian zbar-tools) finds in a screenshot, as a phone would read it;
    None when zbarimg is not installed."""
    import subprocess
    import tempfile

    exe = shutil.which("zbarimg")
    if exe is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(png)
        f.flush()
        out = subprocess.run(
            [exe, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", f.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
    return [line for line in out.stdout.splitlines() if line.strip()]


def axe_source() -> str | None:
    """axe-core's browser bundle (npm `axe-core`, installed into .cache/npm by scripts/test)."""
    for p in (os.environ.get("SIGNAGE_AXE_JS"), REPO / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"):
        if p and Path(p).is_file():
            return Path(p).read_text(encoding="utf-8")
    return None


def axe_serious(page) -> list[dict[str, Any]]:
    """Serious and critical WCAG 2.1 A/AA violations axe-core finds on the page as it is now."""
    src = axe_source()
    if src is None:
        pytest.skip("axe-core is not installed (npm install --prefix .cache/npm axe-core, or ./scripts/test)")
    page.add_script_tag(content=src)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]
