"""Component health for the technician's live view: green / amber / red against stated
thresholds, with a sentence that says what the figure means and what to look at.

Pure functions over the appliance's `status()` dict (plus a few measured rates), so the same
judgement is made for the page and for its JSON, and tests can state the thresholds exactly.
`LoopLag` measures the event loop's lag (how late a 0.5 s timer fires): a lag of hundreds of
milliseconds means something blocks the loop, and the panel and every page feel it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Health", "THRESHOLDS", "LoopLag", "RateMeter", "judge", "overall", "ago"]

GREEN, AMBER, RED, GREY = "green", "amber", "red", "grey"
WORDS = {GREEN: "OK", AMBER: "Needs a look", RED: "Problem", GREY: "Not measured yet"}

#: every threshold in one place (the page lists them)
THRESHOLDS: dict[str, Any] = {
    "fps_ok": 0.9,  # analysed fps >= 90 % of the target: green
    "fps_warn": 0.6,  # >= 60 %: amber; below: red
    "drop_slack": 1.25,  # dropped/min up to 125 % of what the rates imply (+30): green
    "drop_warn": 2.0,  # up to 200 % (+120): amber; more: red
    "frame_age_warn_s": 2.0,  # the newest camera frame older than this: amber
    "pending_warn": 1000,  # writes waiting for the database: amber above
    "pending_bad": 10000,  # red above
    "disk_warn_free": 0.15,
    "disk_warn_bytes": 1 << 30,  # < 15 % or < 1 GB free: amber
    "disk_bad_free": 0.05,
    "disk_bad_bytes": 200 << 20,  # < 5 % or < 200 MB free: red
    "lag_warn_ms": 100.0,
    "lag_bad_ms": 500.0,
}


@dataclass(frozen=True)
class Health:
    key: str
    label: str
    level: str  # green | amber | red | grey
    value: str  # the figure, with its unit
    detail: str  # what it means / what to do

    @property
    def word(self) -> str:
        return WORDS[self.level]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "word": self.word}


def ago(ts: float | None, now: float | None = None) -> str:
    """ "12 s ago", "3 min ago", "2 h ago" for an epoch time; "never" for None."""
    if not isinstance(ts, (int, float)) or not ts:
        return "never"
    s = max(0.0, (now or time.time()) - float(ts))
    if s < 90:
        return f"{s:.0f} s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    if s < 172800:
        return f"{s / 3600:.0f} h ago"
    return f"{s / 86400:.0f} days ago"


class RateMeter:
    """Per-minute rate of a growing counter, from samples taken when the page asks (the last
    ~2 minutes are kept); None until two samples at least 5 s apart exist."""

    def __init__(self, window_s: float = 120.0) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, float]] = deque()

    def add(self, value: float, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if self.samples and value < self.samples[-1][1]:
            self.samples.clear()  # the counter restarted (the pipeline restarted)
        self.samples.append((now, float(value)))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window_s:
            self.samples.popleft()
        t0, v0 = self.samples[0]
        if now - t0 < 5.0:
            return None
        return (value - v0) / (now - t0) * 60.0


class LoopLag:
    """How late the event loop runs a timer: the worst lag of the last ~10 s, in milliseconds."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.recent: deque[float] = deque(maxlen=20)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(self.every_s)
            self.recent.append(max(0.0, (loop.time() - t0 - self.every_s) * 1000.0))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="admin-loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @property
    def worst_ms(self) -> float | None:
        return max(self.recent) if self.recent else None


def _num(d: Mapping[str, Any] | None, key: str, default: float = 0.0) -> float:
    v = (d or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def judge_vision(vision: Mapping[str, Any] | None, error: str | None) -> Health:
    label = "Analysis speed"
    if error:
        return Health("vision", label, RED, "off", f"Vision is switched off: {error}")
    if not vision or not vision.get("running"):
        return Health("vision", label, RED, "not running", "The face analysis is not running; see the log.")
    fps, target = _num(vision, "fps"), _num(vision, "fps_target", 0.0)
    value = f"{fps:.1f} of {target:g} frames/s"
    if target <= 0:
        return Health("vision", label, GREY, value, "No target rate is set.")
    share = fps / target
    if share >= THRESHOLDS["fps_ok"]:
        return Health("vision", label, GREEN, value, "Faces are analysed as often as configured.")
    level = AMBER if share >= THRESHOLDS["fps_warn"] else RED
    return Health(
        "vision",
        label,
        level,
        value,
        f"Only {share:.0%} of the target (vision.analysis_fps): the processor is busy or too slow; "
        f"lower the target or the camera resolution.",
    )


def judge_dropped(per_min: float | None, camera_fps: float, target_fps: float) -> Health:
    """Frames the analysis skipped. Some are expected: a camera faster than the analysis target
    gives more frames than are analysed (the newest one is always taken)."""
    label = "Skipped frames"
    expected = max(0.0, camera_fps - target_fps) * 60.0
    if per_min is None:
        return Health("dropped", label, GREY, "measuring…", "Measured over a minute while this page is open.")
    value = f"{per_min:,.0f} per minute"
    note = f"expected about {expected:,.0f}/min: camera {camera_fps:.0f} frames/s, analysis target {target_fps:g}/s"
    if per_min <= expected * THRESHOLDS["drop_slack"] + 30:
        return Health("dropped", label, GREEN, value, f"As expected ({note}).")
    level = AMBER if per_min <= expected * THRESHOLDS["drop_warn"] + 120 else RED
    return Health("dropped", label, level, value, f"More than expected ({note}): the analysis falls behind.")


def judge_camera(camera: Mapping[str, Any] | None) -> Health:
    label = "Camera"
    cam = camera or {}
    state = str(cam.get("state") or "unknown")
    source = cam.get("source") or "?"
    first = cam.get("first_run") or None
    if state == "running":
        age = cam.get("age")
        if isinstance(age, (int, float)) and age > THRESHOLDS["frame_age_warn_s"]:
            return Health(
                "camera", label, AMBER, f"running, last frame {age:.1f} s old", f"{source}: frames come slowly."
            )
        return Health("camera", label, GREEN, f"running at {_num(cam, 'fps'):.0f} frames/s", f"Source: {source}.")
    if state == "starting":
        doing = first.get("line") if isinstance(first, dict) and not first.get("finished") else ""
        return Health(
            "camera",
            label,
            AMBER,
            "starting",
            doing or f"{source}: opening (the first start may download the demo photos).",
        )
    problem = cam.get("error") or cam.get("last_error") or "no frames"
    return Health("camera", label, RED, state, f"{source}: {problem}")


def judge_database(db: Mapping[str, Any] | None, flush_s: float, now: float) -> Health:
    label = "Database"
    d = db or {}
    if d.get("state") != "open":
        return Health("database", label, RED, "closed", d.get("error") or "The database is not open.")
    pending = int(_num(d, "pending_writes"))
    refused = int(_num(d, "refused_writes"))
    value = f"{pending:,} writes waiting · {refused:,} refused"
    if d.get("error") or refused:
        return Health(
            "database", label, RED, value, f"Writes were refused since the start: {d.get('error') or 'see the log'}."
        )
    if pending > THRESHOLDS["pending_bad"]:
        return Health("database", label, RED, value, "Writes pile up: the disk is slow or full.")
    last = d.get("last_flush_at")
    late = pending and isinstance(last, (int, float)) and now - last > max(10.0, 5 * flush_s)
    if pending > THRESHOLDS["pending_warn"] or late:
        return Health("database", label, AMBER, value, f"Last written {ago(last, now)}; writes are waiting.")
    return Health("database", label, GREEN, value, f"Last written {ago(last, now)}.")


def judge_disk(data_dir: Path) -> Health:
    label = "Disk space"
    try:
        du = shutil.disk_usage(data_dir if Path(data_dir).exists() else Path(data_dir).parent)
    except OSError as exc:
        return Health("disk", label, RED, "unknown", f"Cannot read the disk of {data_dir}: {exc.strerror}")
    free_share = du.free / du.total if du.total else 0.0
    value = f"{du.free / (1 << 30):.1f} GB free ({free_share:.0%})"
    if free_share < THRESHOLDS["disk_bad_free"] or du.free < THRESHOLDS["disk_bad_bytes"]:
        return Health("disk", label, RED, value, "Almost full: the database will refuse writes. Free some space.")
    if free_share < THRESHOLDS["disk_warn_free"] or du.free < THRESHOLDS["disk_warn_bytes"]:
        return Health("disk", label, AMBER, value, "Getting full.")
    return Health("disk", label, GREEN, value, f"The data folder's disk ({data_dir}).")


def judge_lag(worst_ms: float | None) -> Health:
    label = "Event-loop lag"
    if worst_ms is None:
        return Health("lag", label, GREY, "measuring…", "Measured every 0.5 s.")
    value = f"{worst_ms:.0f} ms (worst of the last 10 s)"
    if worst_ms < THRESHOLDS["lag_warn_ms"]:
        return Health("lag", label, GREEN, value, "The server answers promptly.")
    level = AMBER if worst_ms < THRESHOLDS["lag_bad_ms"] else RED
    return Health("lag", label, level, value, "Something blocks the server's event loop: pages and the panel lag.")


def judge(
    status: Mapping[str, Any],
    *,
    dropped_per_min: float | None,
    lag_ms: float | None,
    data_dir: Path,
    flush_s: float,
    now: float | None = None,
) -> list[Health]:
    now = time.time() if now is None else now
    vision = status.get("vision") or {}
    camera = status.get("camera") or {}
    errors = status.get("errors") or {}
    return [
        judge_camera(camera),
        judge_vision(vision, errors.get("vision")),
        judge_dropped(dropped_per_min, _num(camera, "fps"), _num(vision, "fps_target")),
        judge_database(status.get("database"), flush_s, now),
        judge_disk(data_dir),
        judge_lag(lag_ms),
    ]


def overall(items: list[Health]) -> str:
    levels = {h.level for h in items}
    return RED if RED in levels else AMBER if AMBER in levels else GREEN
