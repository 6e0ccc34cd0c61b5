"""Being supervised: event-loop lag, and systemd's readiness and watchdog protocol.

`LoopLag` is a task that sleeps a short interval and records how late it wakes up: the lag
every other task on the loop sees (a handler that blocks, a burst of work). Its p50/p99 over
the last minute are in `/api/status` and `/metrics`.

`sd_notify` sends one datagram to the socket systemd names in `NOTIFY_SOCKET` (the whole
protocol: "READY=1", "WATCHDOG=1", "STATUS=...", "STOPPING=1"). `Watchdog` pings systemd
every half `WatchdogSec`, but only while the appliance says it is healthy; when it is not (or
the loop is blocked, so the ping task cannot run) systemd kills and restarts the unit.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .config import SystemdEnvironment
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

__all__ = ["LoopLag", "Watchdog", "sd_notify"]


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


class LoopLag:
    """How late the event loop runs a task that asked to wake after `interval` seconds."""

    def __init__(self, interval: float = 0.1, window_s: float = 60.0) -> None:
        self.interval = interval
        self._samples: deque[float] = deque(maxlen=max(10, int(window_s / interval)))
        self._task: asyncio.Task | None = None
        self.last_tick = 0.0
        self.max_s = 0.0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - due)
            self._samples.append(lag)
            self.max_s = max(self.max_s, lag)
            self.last_tick = time.monotonic()

    def status(self) -> dict[str, Any]:
        values = sorted(self._samples)
        return {
            "p50_ms": round(_percentile(values, 0.5) * 1000, 2),
            "p99_ms": round(_percentile(values, 0.99) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2) if values else 0.0,
            "max_ever_ms": round(self.max_s * 1000, 2),
            "samples": len(values),
            "window_s": round(len(values) * self.interval, 1),
        }


def sd_notify(message: str, notify_socket: str) -> bool:
    """Send one sd_notify datagram; False when not supervised or the socket is gone."""
    if not notify_socket:
        return False
    addr = "\0" + notify_socket[1:] if notify_socket.startswith("@") else notify_socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(message.encode("utf-8"))
        return True
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", notify_socket, exc)
        return False


class Watchdog:
    """Tell systemd we are ready, then keep pinging it while `problems()` returns nothing."""

    def __init__(self, env: SystemdEnvironment, problems: Callable[[], list[str]]) -> None:
        self.env = env
        self.problems = problems
        self._task: asyncio.Task | None = None
        self.pings = 0
        self.withheld = 0
        self.last_problems: list[str] = []

    @property
    def supervised(self) -> bool:
        return bool(self.env.notify_socket)

    def ready(self, status: str) -> None:
        sd_notify(f"READY=1\nSTATUS={status}", self.env.notify_socket)
        if self.env.watchdog_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="watchdog")

    async def stopping(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        sd_notify("STOPPING=1", self.env.notify_socket)

    def check_once(self) -> bool:
        """Ping if healthy. True when a ping was sent (or would be, unsupervised)."""
        problems = self.problems()
        if problems:
            self.withheld += 1
            if problems != self.last_problems:
                log.error("unhealthy, not pinging the systemd watchdog: %s", "; ".join(problems))
                sd_notify("STATUS=unhealthy: " + "; ".join(problems)[:200], self.env.notify_socket)
            self.last_problems = problems
            return False
        if self.last_problems:
            log.warning("healthy again, pinging the systemd watchdog")
            sd_notify("STATUS=running", self.env.notify_socket)
        self.last_problems = []
        self.pings += 1
        sd_notify("WATCHDOG=1", self.env.notify_socket)
        return True

    async def _run(self) -> None:
        period = max(0.5, self.env.watchdog_s / 2)
        while True:
            try:
                self.check_once()
            except Exception:  # a broken check must not ping: log it and let systemd act
                log.exception("watchdog health check failed")
            await asyncio.sleep(period)
