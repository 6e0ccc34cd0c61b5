"""Composition root: builds every component once, starts them in data-path order and
stops them in reverse. The only module that knows all the others."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .audience import Audience, Clock, RealClock
from .camera import Camera, FrameSource
from .config import Config
from .events import Hub
from .fleet.link import FleetLink, prepare_store
from .player import Player
from .retention import Retention
from .stats import StageHistograms
from .store import Store
from .vision.analyzer import FaceAnalyzer
from .vision.models import ModelError
from .vision.pipeline import VisionPipeline, VisionResult

log = logging.getLogger(__name__)


class Appliance:
    """Everything one running screen has. Web handlers reach it as `request.app[APPLIANCE]`.

    What the hardware or the clock gives can be handed in (tests, other boards):
    `camera_opener` returns an opened `FrameSource` (default: the one `[camera]` names),
    `analyzer` is the vision pipeline's face analyzer (default: loaded from `[vision]` at start,
    and then owned by the pipeline), `clock` is the audience's and the player's time.
    """

    def __init__(self, config: Config, *, camera_opener: Callable[[], FrameSource] | None = None,
                 analyzer: FaceAnalyzer | None = None, clock: Clock | None = None) -> None:
        if config.fleet.pulling:  # the ads come from the pulled bundle (docs/fleet.md)
            from .fleet.content import with_pulled_inventory
            config = with_pulled_inventory(config)
        self.config = config
        self.clock: Clock = clock or RealClock()
        self.hub = Hub()
        self.store = Store(config.db_path, config.storage.flush_seconds)
        self.camera = Camera(config.camera, cache_dir=config.storage.data_dir / "cache", opener=camera_opener)
        self.audience = Audience(config.audience, self.hub, self.store, self.clock)
        self.player = Player(config, self.store, self.hub, self.audience, self.clock)
        # (ignore: vision's FrameLike protocol declares settable attributes and camera.Frame is
        # frozen; the pipeline only reads them -- vision/pipeline.py should declare them read-only)
        self.vision = VisionPipeline(config.vision, self.camera.latest,  # type: ignore[arg-type]
                                     self._on_vision, analyzer=analyzer)
        self.stage_histograms = StageHistograms()
        self.retention = Retention(self.store, config.privacy.retention_days)
        #: fleet mode: shipper, clock watcher, content puller (None for a lone screen)
        self.fleet = (FleetLink(config, self.store, self.player.sync_inventory)
                      if config.fleet.shipping or config.fleet.pulling else None)
        self.started_at = self.clock.now()
        self.component_errors: dict[str, str] = {}
        #: the URL phones reach this screen at (QR codes); set once the server listens
        self.base_url = config.web.public_url.rstrip("/")

    async def start(self) -> None:
        self.started_at = self.clock.now()
        await self.store.open()  # a database we cannot open is fatal: say so and stop
        await prepare_store(self.store, self.config)  # outbox on or off, before any write
        self.camera.start()
        self.audience.start()
        try:
            self.vision.start()  # checks every model file first
        except ModelError as exc:
            # Without eyes the screen still plays healing content and house ads: say what is
            # wrong (log, /api/status, /metrics) and keep going.
            self.component_errors["vision"] = str(exc)
            log.error("vision disabled: %s", exc)
        await self.player.start()
        self.retention.start()
        if self.fleet is not None:
            self.fleet.start()

    async def stop(self) -> None:
        # Reverse order: stop producing, then flush what was produced.
        if self.fleet is not None:
            await self.fleet.stop()  # unshipped rows stay in the outbox for the next start
        await self.retention.stop()
        await asyncio.to_thread(self.vision.stop)  # joins its thread: off the loop
        await asyncio.to_thread(self.camera.stop)
        await asyncio.sleep(0)  # let the tracks the pipeline closed on stop reach the audience
        await self.player.stop()
        await self.audience.stop()
        await self.store.close()

    def _on_vision(self, result: VisionResult) -> None:
        """Runs on the loop (the pipeline hands results over with call_soon_threadsafe)."""
        self.audience.on_vision(result)
        self.stage_histograms.observe_many(
            {stage: ms / 1000.0 for stage, ms in result.timings_ms.items() if stage != "total" and ms > 0})

    async def status(self) -> dict[str, Any]:
        return {
            "device": {"id": self.config.device.id, "location": self.config.device.location},
            "uptime_s": round(self.clock.now() - self.started_at, 1),
            "camera": self.camera.status(),
            "vision": self.vision.status(),
            "audience": self.audience.snapshot(),
            "player": self.player.status(),
            "database": await self.store.status(),
            "errors": dict(self.component_errors),
            "fleet": await self.fleet.status() if self.fleet is not None else {"enabled": False},
        }


def lan_address() -> str:
    """The address other devices on the LAN reach us at (no packet is sent: UDP connect only
    picks a route), falling back to loopback on an isolated machine."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        address: str = s.getsockname()[0]
        return address
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def public_base_url(config: Config, port: int) -> str:
    if config.web.public_url:
        return config.web.public_url.rstrip("/")
    host = config.web.host
    if host in ("0.0.0.0", "::", ""):
        host = lan_address()
    return f"http://{host}:{port}"


async def serve(config: Config, *, ready: asyncio.Future[str] | None = None) -> None:
    """Run the appliance until SIGTERM/SIGINT, then shut down cleanly."""
    from .web.server import create_app

    appliance = Appliance(config)
    await appliance.start()
    app = create_app(appliance)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, config.web.host, config.web.port)
    try:
        await site.start()
    except OSError as exc:
        await appliance.stop()
        await runner.cleanup()
        raise SystemExit(f"signage: cannot listen on {config.web.host}:{config.web.port} ({exc.strerror}); "
                         f"set web.port or pass --port") from None
    port = runner.addresses[0][1] if runner.addresses else config.web.port
    base = public_base_url(config, port)
    appliance.base_url = base
    from .web.panel import log_plan
    log_plan(appliance)  # which QR mode is in force; one warning line if phones cannot open it
    print(f"signage is running (device {config.device.id})\n"
          f"  panel:   {base}/panel\n"
          f"  mobile:  {base}/m/  (opened from the QR codes on the panel)\n"
          f"  admin:   {base}/admin\n"
          f"  status:  {base}/api/status", flush=True)
    if ready is not None and not ready.done():
        ready.set_result(base)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runner.cleanup()  # closes sockets and WebSockets
        await appliance.stop()
        log.info("stopped")
