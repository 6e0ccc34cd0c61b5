"""Being supervised (issue 10): sd_notify readiness and watchdog pings from the real appliance,
pings withheld while unhealthy, the event-loop lag figure, and bounded log volume."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from apprun import RunningApp, write_config
from signage.config import SystemdEnvironment
from signage.logs import RepeatFilter
from signage.supervision import LoopLag, RestartBackoff, Watchdog


def _notify_socket(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(1.0)
    return s


def _received(sock: socket.socket, until: float) -> list[str]:
    got = []
    while time.time() < until:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def test_the_appliance_says_ready_then_pings_the_watchdog_and_says_stopping(tmp_path, photos):
    sock = _notify_socket(tmp_path / "notify")
    try:
        cfg = write_config(tmp_path, [photos("astronaut")])
        app = RunningApp(
            cfg, tmp_path / "data", env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}
        )
        try:
            got = _received(sock, time.time() + 4)
            assert got and got[0].startswith("READY=1\nSTATUS=serving http://127.0.0.1:")
            # every WatchdogSec / 2 while healthy (a starved machine may first lag past 1 s)
            deadline = time.time() + 30
            while got.count("WATCHDOG=1") < 2 and time.time() < deadline:
                got += _received(sock, time.time() + 1)
            assert got.count("WATCHDOG=1") >= 2, got
            code, _, err = app.terminate()
            assert code == 0, err
            assert "STOPPING=1" in _received(sock, time.time() + 1.5)
        finally:
            if app.proc.poll() is None:
                app.proc.kill()
                app.proc.wait()
    finally:
        sock.close()


async def test_pings_are_withheld_while_something_is_unhealthy(tmp_path):
    sock = _notify_socket(tmp_path / "n")
    problems: list[str] = []
    dog = Watchdog(SystemdEnvironment(str(tmp_path / "n"), 0.0), lambda: list(problems))
    try:
        assert dog.check_once() and sock.recv(100) == b"WATCHDOG=1"
        problems.append("camera stalled for more than 300 s")
        assert not dog.check_once()
        assert sock.recv(200).startswith(b"STATUS=unhealthy: camera stalled")
        assert not dog.check_once()
        problems.clear()
        assert dog.check_once()
        assert sock.recv(100) == b"STATUS=running" and sock.recv(100) == b"WATCHDOG=1"
        assert dog.pings == 2 and dog.withheld == 2
    finally:
        sock.close()


async def test_loop_lag_sees_a_blocked_loop():
    lag = LoopLag(interval=0.02)
    lag.start()
    try:
        await asyncio.sleep(0.2)
        time.sleep(0.3)  # a handler that blocks the loop
        await asyncio.sleep(0.1)
        status = lag.status()
        assert status["max_ms"] >= 250 and status["samples"] >= 5
        assert status["p50_ms"] < 250
    finally:
        await lag.stop()


def test_a_repeated_log_line_is_bounded_and_counted():
    f = RepeatFilter(burst=5, period=60.0)
    records = [
        logging.LogRecord("signage.web", logging.WARNING, __file__, 1, "bad request from %s", ("10.0.0.9",), None)
        for _ in range(1000)
    ]
    kept = [r for r in records if f.filter(r)]
    assert len(kept) == 5 and f.suppressed == 995
    later = logging.LogRecord("signage.web", logging.WARNING, __file__, 1, "bad request from %s", ("10.0.0.9",), None)
    later.created = records[-1].created + 61
    assert f.filter(later) and "995 more like this" in later.getMessage()
    other = logging.LogRecord("signage.web", logging.WARNING, __file__, 1, "another problem", (), None)
    assert f.filter(other)


# --- restart back-off ---------------------------------------------------------------------------


def test_restart_backoff_grows_after_early_exits_and_resets_after_a_healthy_run(tmp_path, caplog):
    state = tmp_path / "run" / "restart-backoff.json"

    def start() -> float:
        return RestartBackoff(state).starting()

    assert start() == 0  # first start since boot
    assert [start() for _ in range(9)] == [3, 6, 12, 24, 48, 96, 192, 300, 300]  # each run died early
    RestartBackoff(state).stable()  # a run that lasted, or a clean stop
    assert start() == 0
    assert start() == 3
    state.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert start() == 0
    assert "unreadable" in caplog.text


def test_restart_backoff_never_stops_a_start_when_its_state_cannot_be_written(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # works as root too, unlike a chmod
    backoff = RestartBackoff(blocker / "restart-backoff.json")
    with caplog.at_level(logging.WARNING):
        assert backoff.starting() == 0
        backoff.stable()
    assert "cannot write restart back-off state" in caplog.text


def test_the_appliance_waits_longer_after_each_early_exit_under_systemd(tmp_path, photos):
    """systemd 252 restarts at a fixed RestartSec and, with a start limit, gives up for good;
    the unit now restarts forever and the appliance waits longer after each early exit."""
    sock = _notify_socket(tmp_path / "notify")
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "RUNTIME_DIRECTORY": str(tmp_path / "run")}
    cfg = write_config(tmp_path, [photos("astronaut")])
    try:
        app = RunningApp(cfg, tmp_path / "data", env=env)
        app.kill()  # a crash soon after the start
        _received(sock, time.time() + 0.5)
        t0 = time.monotonic()
        app = RunningApp(cfg, tmp_path / "data", env=env)
        try:
            assert time.monotonic() - t0 >= 3.0
            got = _received(sock, time.time() + 1)
            assert any(m.startswith("EXTEND_TIMEOUT_USEC=") and "waiting 3 s after 1 early exit" in m for m in got)
            assert "waiting 3 s before starting again" in app.stderr()
            code, _, err = app.terminate()  # a clean stop resets the count
            assert code == 0, err
        finally:
            if app.proc.poll() is None:
                app.kill()
        app = RunningApp(cfg, tmp_path / "data", env=env)
        try:
            assert "before starting again" not in app.stderr()
            app.terminate()
        finally:
            if app.proc.poll() is None:
                app.kill()
    finally:
        sock.close()
