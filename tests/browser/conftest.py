"""Browser tests: headless Debian Chromium (driven by Playwright's Python client with
`executable_path`, never a downloaded browser) against the real aiohttp server.

The server runs in its own thread and event loop, like the appliance process. It is the lead's
real `Appliance` (camera `photos` source, vision, audience, player) when `signage.app` wires a
player; until then it is the real `Player` and `Audience` with the real store, hub, inventory
sync and web app, fed by a scripted stand-in for vision (`ScriptedVision`, boxes and moods only).
The mode is printed in the test report header.

Test-only dependency: `playwright` (PyPI, in the `test` extra) -- its Python API is a stable way
to drive Chromium (touch taps, viewports, element screenshots) without writing a CDP client.
Chromium itself comes from Debian (`apt-get install -y chromium`); without it these tests skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--autoplay-policy=no-user-gesture-required", "--hide-scrollbars"]


def chromium_executable() -> str | None:
    for name in (os.environ.get("SIGNAGE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if name and Path(name).exists():
            return name
    return None


# --- the server ------------------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont
    for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",):
        if Path(p).exists():
            return ImageFont.truetype(p, size)
    return ImageFont.load_default(size=size)


def make_test_ads(root: Path) -> Path:
    """Two short ads of our own (an image and an HTML creative), any audience, all day."""
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
    (a / "ad.toml").write_text(textwrap.dedent("""
        title = "Sunrise Bakery"
        advertiser = "Sunrise Bakery Ltd"
        media = "creative.png"
        duration = 6
    """) + common + textwrap.dedent("""
        [mobile]
        description = "Croissants, sourdough and cinnamon buns baked on site every morning."
        address = "12 Harbour Street"
        phone = "+1 555 0123"
        website = "https://sunrise-bakery.example"
        map_url = "https://www.openstreetmap.org/search?query=12%20Harbour%20Street"
        coupon = "SUNRISE2FOR1"
    """))
    b = ads / "green-wave-bikes"
    b.mkdir()
    (b / "creative.html").write_text(textwrap.dedent("""\
        <!doctype html><html><head><meta charset="utf-8"><style>
        html,body{margin:0;height:100%;overflow:hidden;font-family:system-ui,"DejaVu Sans",sans-serif}
        body{display:grid;place-items:center;background:linear-gradient(135deg,#0b6e4f,#08a045 55%,#c7f9cc);color:#fff}
        .c{text-align:center} h1{font-size:11vmin;margin:0;letter-spacing:-.02em}
        p{font-size:4.5vmin;margin:2vmin 0 0} .w{font-size:20vmin;animation:r 3s linear infinite;display:inline-block}
        @keyframes r{to{transform:rotate(360deg)}}
        </style></head><body><div class="c"><div class="w">&#x2699;</div><h1>Green Wave Bikes</h1>
        <p>City e-bikes &middot; first ride free</p></div></body></html>
    """))
    (b / "ad.toml").write_text(textwrap.dedent("""
        title = "Green Wave Bikes"
        advertiser = "Green Wave"
        media = "creative.html"
        duration = 6
    """) + common + textwrap.dedent("""
        [mobile]
        description = "Electric city bikes at 40 stations. Your first 30-minute ride is free."
        address = "Station 1, Central Park Gate"
        phone = "+1 555 0144"
        website = "https://greenwave.example"
        coupon = "FIRSTRIDE"
    """))
    return ads


def healing_dir(root: Path) -> Path:
    """The repository's demo scenes when there, else one calm picture of our own."""
    demo = REPO / "assets" / "healing"
    if (demo / "scenes.toml").exists():
        return demo
    from PIL import Image
    h = root / "healing"
    h.mkdir()
    img = Image.linear_gradient("L").resize((1920, 1080)).convert("RGB")
    img.save(h / "calm.jpg")
    (h / "scenes.toml").write_text('[[scene]]\nid = "calm"\nfile = "calm.jpg"\ntitle = "Calm"\n'
                                   'season = "any"\ntime_of_day = "any"\n')
    return h


class ScriptedVision:
    """Stands in for camera + vision until the lead wires them: hands the real Audience one
    frame every 0.2 s with the scripted faces (pixel boxes in a 640x480 frame, a mood)."""

    def __init__(self, audience) -> None:
        self.audience = audience
        self.faces: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None
        self._known: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _run(self) -> None:
        from signage.audience import TrackObs, VisionFrame
        while True:
            tracks = [TrackObs(track_id=f["id"], confirmed=True, box=tuple(f["box"]), frame_w=640, frame_h=480,
                               frontal=True, emotion_scores={f["mood"]: 0.9, "neutral": 0.1},
                               age_group_scores={"20-39": 0.8, "40-59": 0.2},
                               gender_scores={"female": 0.5, "male": 0.5})
                      for f in self.faces]
            ids = {f["id"] for f in self.faces}
            closed = list(self._known - ids)
            self._known = ids
            self.audience.on_vision(VisionFrame(tracks, closed))
            await asyncio.sleep(0.2)


class LiveServer:
    def __init__(self, config, mode: str) -> None:
        self.config = config
        self.mode = mode  # "appliance" (the lead's wiring) or "stand-in vision"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._thread, daemon=True, name="live-server")
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.url = ""
        self.appliance: Any = None
        self.vision: ScriptedVision | None = None

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
        from signage.app import public_base_url
        from signage.web.server import create_app

        if self.mode == "appliance":
            from signage.app import Appliance
            self.appliance = Appliance(self.config)
            await self.appliance.start()
        else:
            self.appliance = await self._stand_in()
        app = create_app(self.appliance)
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.config.web.port)
        await site.start()
        self.appliance.base_url = public_base_url(self.config, self.config.web.port)
        self.url = f"http://127.0.0.1:{self.config.web.port}"

    async def _stand_in(self):
        from signage.ads.inventory import sync
        from signage.audience import Audience
        from signage.events import Hub
        from signage.player import Player
        from signage.store import Store

        hub = Hub()
        store = Store(self.config.db_path, self.config.storage.flush_seconds)
        await store.open()
        await sync(store, Path(self.config.ads.dir), time.time())
        audience = Audience(self.config.audience, hub, store)
        audience.start()
        player = Player(self.config, store, hub, audience)
        await player.start()
        self.vision = ScriptedVision(audience)
        self.vision.start()

        async def status():
            return {"device": {"id": self.config.device.id}, "database": await store.status()}

        return SimpleNamespace(config=self.config, hub=hub, store=store, audience=audience, player=player,
                               camera=None, base_url="", component_errors={}, status=status,
                               started_at=time.time())

    def start(self) -> "LiveServer":
        self.thread.start()
        self.ready.wait(120)
        if self.error:
            raise self.error
        return self

    def restart_web(self, down_s: float = 2.0) -> None:
        """Stop the web server (every WebSocket drops) and start it again on the same port,
        as after a restart of the process's server side."""
        async def _restart():
            from aiohttp import web
            from signage.web.server import create_app
            await self.runner.cleanup()
            await asyncio.sleep(down_s)
            self.runner = web.AppRunner(create_app(self.appliance), shutdown_timeout=1.0)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.config.web.port).start()
        self.run(_restart(), 30)

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def show_faces(self, faces: list[dict[str, Any]]) -> None:
        """Stand-in mode: who stands in front of the camera (the photos do it in appliance mode)."""
        if self.vision is not None:
            self.loop.call_soon_threadsafe(setattr, self.vision, "faces", faces)

    def stop(self) -> None:
        async def _stop():
            if self.vision:
                await self.vision.stop()
            await self.runner.cleanup()
            a = self.appliance
            if self.mode == "appliance":
                await a.stop()
            else:
                await a.player.stop()
                await a.audience.stop()
                await a.store.close()
        try:
            self.run(_stop(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def db(self) -> sqlite3.Connection:
        con = sqlite3.connect(f"file:{self.config.db_path}?mode=ro", uri=True, timeout=5)
        con.row_factory = sqlite3.Row
        return con


def appliance_has_player() -> bool:
    try:
        from signage.app import Appliance
    except Exception:
        return False
    import inspect
    src = inspect.getsource(Appliance)
    return "self.player" in src and "self.audience" in src


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> str:
    exe = chromium_executable()
    if exe is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium); "
                    "the browser tests need it")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install -e '.[test]')")
    return exe


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, request) -> LiveServer:
    from signage.config import config_from_dict

    root = tmp_path_factory.mktemp("live")
    ads = make_test_ads(root)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mode = "appliance" if appliance_has_player() else "stand-in vision"
    camera: dict[str, Any] = {"source": "photos", "photo_seconds": 3600.0}
    if mode == "appliance":
        photos = request.getfixturevalue("photos")
        pdir = root / "photos"
        pdir.mkdir()
        for i, p in enumerate(photos("astronaut", "tom_hanks")):
            (pdir / f"{i}-{p.name}").symlink_to(p)
        camera["photos_dir"] = str(pdir)
    raw = {
        "camera": camera,
        "vision": {"models_dir": str(REPO / "models")},
        "player": {"rating_seconds": 7.0, "healing_min_seconds": 2.0, "idle_healing_seconds": 60.0,
                   "poll_seconds": 0.1},
        "ads": {"dir": str(ads), "healing_dir": str(healing_dir(root))},
        "web": {"host": "127.0.0.1", "port": port},
        "storage": {"data_dir": str(root / "data"), "flush_seconds": 0.5},
    }
    server = LiveServer(config_from_dict(raw, base_dir=root), mode).start()
    print(f"\nbrowser tests: server mode = {mode}")
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


def wait_for(fn: Callable[[], Any], timeout: float = 30.0, what: str = "condition", every: float = 0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
        except Exception as exc:  # the page may be navigating
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
