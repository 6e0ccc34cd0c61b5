"""Composition root: builds every component once, starts them in data-path order and
stops them in reverse. The only module that knows all the others."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .audience import Audience, Clock, RealClock
from .camera import Camera, FrameSource
from .config import Config, SystemdEnvironment, systemd_environment
from .events import Hub
from .fleet.link import FleetLink, prepare_store
from .player import Player
from .retention import Retention
from .stats import StageHistograms
from .store import Store
from .supervision import LoopLag, RestartBackoff, Watchdog, sd_notify
from .tasks import cancel_and_wait
from .vision.analyzer import FaceAnalyzer
from .vision.models import ModelError
from .vision.pipeline import VisionPipeline, VisionResult

log = logging.getLogger(__name__)

#: a camera that stays away this long stops the watchdog pings: systemd restarts the process,
#: which re-probes the device from scratch (a wedged driver often needs that)
CAMERA_GRACE_S = 300.0
#: event-loop lag (p99 over the last minute) beyond which the appliance counts as unhealthy
LOOP_LAG_LIMIT_S = 1.0
#: exit status when writes did not reach the database at shutdown (sysexits EX_TEMPFAIL):
#: they are in the spill file, or lost; systemd and the technician must see it
EXIT_UNSAVED = 75


class Appliance:
    """Everything one running screen has. Web handlers reach it as `request.app[APPLIANCE]`.

    What the hardware or the clock gives can be handed in (tests, other boards):
    `camera_opener` returns an opened `FrameSource` (default: the one `[camera]` names),
    `analyzer` is the vision pipeline's face analyzer (default: loaded from `[vision]` at start,
    and then owned by the pipeline), `clock` is the audience's and the player's time.
    """

    def __init__(
        self,
        config: Config,
        *,
        camera_opener: Callable[[], FrameSource] | None = None,
        analyzer: FaceAnalyzer | None = None,
        clock: Clock | None = None,
    ) -> None:
        if config.fleet.pulling:  # the ads come from the pulled bundle (docs/fleet.md)
            from .fleet.content import with_pulled_inventory

            config = with_pulled_inventory(config)
        self.config = config
        self.clock: Clock = clock or RealClock()
        self.hub = Hub()
        self.store = Store(
            config.db_path,
            config.storage.flush_seconds,
            max_pending=config.storage.max_pending_writes,
            spill_dir=config.storage.spill_dir or None,
        )
        self.camera = Camera(config.camera, cache_dir=config.storage.data_dir / "cache", opener=camera_opener)
        self.audience = Audience(config.audience, self.hub, self.store, self.clock)
        self.player = Player(config, self.store, self.hub, self.audience, self.clock)
        self.vision = VisionPipeline(config.vision, self.camera, self._on_vision, analyzer=analyzer)
        self.stage_histograms = StageHistograms()
        self.retention = Retention(self.store, config.privacy.retention_days)
        #: fleet mode: shipper, clock watcher, content puller (None for a lone screen)
        self.fleet = (
            FleetLink(config, self.store, self.player.sync_inventory)
            if config.fleet.shipping or config.fleet.pulling
            else None
        )
        self.loop_lag = LoopLag()
        # the running play and the open sessions are written at every timed flush
        self.store.add_checkpoint("player", self.player.checkpoint)
        self.store.add_checkpoint("audience", self.audience.checkpoint)
        self.started_at = self.clock.now()
        self.component_errors: dict[str, str] = {}
        #: the URL phones reach this screen at (QR codes); set once the server listens
        self.base_url = config.web.public_url.rstrip("/")

    async def start(self) -> None:
        self.started_at = self.clock.now()
        self.loop_lag.start()
        # A corrupt or unwritable database is moved aside or run in memory (degraded, never
        # dark); only a file from a newer release stops start-up.
        await self.store.open()
        if self.store.problem:
            self.component_errors["database"] = self.store.problem
        await prepare_store(self.store, self.config)  # outbox on or off, before any write
        self.camera.start()
        self.audience.start()
        try:
            # checks every model file; loading them takes seconds on a busy Pi, off the loop
            # (a stalled loop at start read as unhealthy and withheld the watchdog's pings)
            await asyncio.to_thread(self.vision.load)
            self.vision.start()
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
        # Both join their threads (off the loop, side by side): the frame being analysed and the
        # frame being read finish first, which takes seconds on a starved CPU. A thread stuck
        # longer is left behind (the command line then exits without interpreter teardown).
        await asyncio.gather(asyncio.to_thread(self.vision.stop, 5.0), asyncio.to_thread(self.camera.stop, 5.0))
        await asyncio.sleep(0)  # let the tracks the pipeline closed on stop reach the audience
        await self.player.stop()
        await self.audience.stop()
        await self.store.close()
        await self.loop_lag.stop()

    def _on_vision(self, result: VisionResult) -> None:
        """Runs on the loop (the pipeline hands results over with call_soon_threadsafe)."""
        self.audience.on_vision(result)
        self.stage_histograms.observe_many(
            {stage: ms / 1000.0 for stage, ms in result.timings_ms.items() if stage != "total" and ms > 0}
        )

    def health_problems(self) -> list[str]:
        """What keeps the watchdog from pinging systemd: a lagging loop, a camera gone for
        longer than CAMERA_GRACE_S, a player that stopped. Empty when healthy."""
        problems = []
        lag = self.loop_lag.status()
        if lag["p99_ms"] > LOOP_LAG_LIMIT_S * 1000:
            problems.append(f"event loop lag p99 {lag['p99_ms']:.0f} ms")
        cam = self.camera.status()
        if cam["state"] != "running" and time.time() - (cam["since"] or time.time()) > CAMERA_GRACE_S:
            problems.append(f"camera {cam['state']} for more than {CAMERA_GRACE_S:.0f} s ({cam['error']})")
        if not self.player.alive:
            problems.append("the player stopped")
        return problems

    async def status(self) -> dict[str, Any]:
        return {
            "device": {"id": self.config.device.id, "location": self.config.device.location},
            "uptime_s": round(self.clock.now() - self.started_at, 1),
            "camera": self.camera.status(),
            "vision": self.vision.status(),
            "audience": self.audience.snapshot(),
            "player": self.player.status(),
            "database": await self.store.status(),
            "loop_lag": self.loop_lag.status(),
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


#: see serve(): how long the event loop may wait for the GIL held by a vision thread
GIL_SWITCH_S = 0.001


async def serve(config: Config, *, ready: asyncio.Future[str] | None = None) -> int:
    """Run the appliance until SIGTERM/SIGINT, then shut down cleanly. Returns the exit
    status: 0, or EXIT_UNSAVED when writes did not reach the database."""
    from .web.server import create_app

    # A thread that wants the GIL waits up to this long for the holder to let go (default 5 ms);
    # the vision threads hold it in short bursts, so 1 ms keeps the loop's wait short too.
    sys.setswitchinterval(GIL_SWITCH_S)
    systemd = systemd_environment()
    backoff = await _back_off_after_early_exits(config, systemd)
    appliance = Appliance(config)
    await appliance.start()
    try:
        app = create_app(appliance)
    except BaseException:
        await appliance.stop()  # its threads would keep the process alive
        raise
    # idle keep-alive connections are closed after 15 s (aiohttp: 75 s), so a client that opens
    # many and leaves them idle cannot hold file descriptors for long
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0, keepalive_timeout=15.0)
    await runner.setup()
    site = web.TCPSite(runner, config.web.host, config.web.port)
    try:
        await site.start()
    except OSError as exc:
        await appliance.stop()
        await runner.cleanup()
        raise SystemExit(
            f"signage: cannot listen on {config.web.host}:{config.web.port} ({exc.strerror}); "
            f"set web.port or pass --port"
        ) from None
    port = runner.addresses[0][1] if runner.addresses else config.web.port
    base = public_base_url(config, port)
    appliance.base_url = base
    from .web.panel import log_plan

    log_plan(appliance)  # which QR mode is in force; one warning line if phones cannot open it
    print(
        f"signage is running (device {config.device.id})\n"
        f"  panel:   {base}/panel\n"
        f"  mobile:  {base}/m/  (opened from the QR codes on the panel)\n"
        f"  admin:   {base}/admin\n"
        f"  status:  {base}/api/status",
        flush=True,
    )
    if ready is not None and not ready.done():
        ready.set_result(base)
    watchdog = Watchdog(systemd, appliance.health_problems)
    appliance.loop_lag.restart_window()  # health is judged from serving on, not start-up
    watchdog.ready(f"serving {base}")
    proven = asyncio.create_task(_mark_stable_later(backoff), name="restart-backoff") if backoff else None

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
        await cancel_and_wait(proven)
        await watchdog.stopping()
        await runner.cleanup()  # closes sockets and WebSockets
        await appliance.stop()
        log.info("stopped")
    store = appliance.store
    if store.lost_at_close:
        print(
            f"signage: {store.lost_at_close} writes could not be saved and are lost ({store.spill_error})",
            file=sys.stderr,
            flush=True,
        )
    if store.spilled_at_close:
        print(
            f"signage: {store.spilled_at_close} writes are not in the database "
            f"({store.problem or store.last_error}); they are kept in "
            f"{' or '.join(str(p) for p in store.spill_paths)} and written at the next start",
            file=sys.stderr,
            flush=True,
        )
    if store.unsaved_at_close:
        return EXIT_UNSAVED
    if backoff:
        backoff.stable()  # a clean stop is no crash: the next start waits not
    return 0


async def _back_off_after_early_exits(config: Config, systemd: SystemdEnvironment) -> RestartBackoff | None:
    """Under systemd, wait before starting when the last runs ended early (RestartBackoff)."""
    if not systemd.notify_socket:
        return None  # run by hand or by a test: start at once
    state_dir = Path(systemd.runtime_dir) if systemd.runtime_dir else Path(config.storage.data_dir)
    backoff = RestartBackoff(state_dir / "restart-backoff.json")
    delay = backoff.starting()
    if delay > 0:
        log.warning(
            "the last %d run(s) ended within %d minutes of starting: waiting %.0f s before starting again",
            backoff.early_runs,
            RestartBackoff.STABLE_S // 60,
            delay,
        )
        # keep systemd's start timeout from running out while we wait
        sd_notify(
            f"EXTEND_TIMEOUT_USEC={int((delay + 180) * 1e6)}\nSTATUS=waiting {delay:.0f} s after "
            f"{backoff.early_runs} early exit(s)",
            systemd.notify_socket,
        )
        await asyncio.sleep(delay)
    return backoff


async def _mark_stable_later(backoff: RestartBackoff) -> None:
    await asyncio.sleep(RestartBackoff.STABLE_S)
    backoff.stable()
