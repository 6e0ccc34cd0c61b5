"""Being supervised: event-loop lag, and systemd's readiness and watchdog protocol.

`LoopLag` is a task that sleeps a short interval and records how late it wakes up: the lag
every other task on the loop sees (a handler that blocks, a burst of work). Its p50/p99 over
the last minute are in `/api/status` and `/metrics`.

`sd_notify` sends one datagram to the socket systemd names in `NOTIFY_SOCKET` (the whole
protocol: "READY=1", "WATCHDOG=1", "STATUS=...", "STOPPING=1"). `Watchdog` pings systemd
every half `WatchdogSec`, but only while the appliance says it is healthy; when it is not (or
the loop is blocked, so the ping task cannot run) systemd kills and restarts the unit.

`RestartBackoff` makes the delay between restarts grow when runs keep ending early: systemd 252
(Debian and Raspberry Pi OS Bookworm) restarts at a fixed `RestartSec` (`RestartSteps=` came in
254) and, with a start limit, gives up for good -- a dark screen until someone comes. So the
unit restarts forever and the appliance itself waits 3 s, 6 s, 12 s ... at most 5 minutes
before starting again after a run that ended within `STABLE_S` of its start. A run that lasted
that long, or a clean stop, resets the count; so does a reboot (the state lives in the unit's
RuntimeDirectory, a tmpfs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import SystemdEnvironment
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

__all__ = ["LoopLag", "RestartBackoff", "Watchdog", "sd_notify"]


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

    def restart_window(self) -> None:
        """Judge from now on: start-up work (imports, the database, templates, the first
        decision) stalls the loop once, and with only a few seconds of samples a p99 is their
        maximum, so one start-up stall read as an unhealthy loop and withheld the watchdog's
        first pings on a busy machine. The worst lag ever (``max_ever_ms``) keeps it."""
        self._samples.clear()

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


class RestartBackoff:
    """A growing wait before starting again after runs that ended early (see the module doc).

    The state file holds how many runs in a row ended early and whether the current run has
    proved itself: `starting()` counts the previous run as early unless it was marked `stable()`.
    """

    #: a run this long (or a clean stop) counts as healthy and resets the count
    STABLE_S = 600.0

    def __init__(self, path: Path, base_s: float = 3.0, max_s: float = 300.0) -> None:
        self.path = path
        self.base_s = base_s
        self.max_s = max_s
        self.early_runs = 0

    def _read(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("restart back-off state %s unreadable (%s): starting without delay", self.path, exc)
            return None
        return state if isinstance(state, dict) else None

    def _write(self, state: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a full or read-only disk must not stop the start
            log.warning("cannot write restart back-off state %s: %s", self.path, exc.strerror or exc)

    def starting(self) -> float:
        """Record this start; the seconds to wait before going on (0 after a healthy run)."""
        state = self._read()
        early = state is not None and not state.get("stable", False)
        previous = state.get("early_runs", 0) if state else 0
        self.early_runs = (int(previous) + 1) if early and isinstance(previous, int) else 0
        self._write({"early_runs": self.early_runs, "stable": False, "started": time.time()})
        if self.early_runs == 0:
            return 0.0
        return min(self.max_s, self.base_s * 2 ** min(self.early_runs - 1, 20))

    def stable(self) -> None:
        """This run is healthy (it lasted STABLE_S, or stops cleanly): the next start waits not."""
        self.early_runs = 0
        self._write({"early_runs": 0, "stable": True, "started": time.time()})
