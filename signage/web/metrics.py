"""`/metrics`: the appliance in Prometheus text format (version 0.0.4), for a fleet watched by
an existing Prometheus + Grafana. Every series carries `device` and `location` labels from
`[device]` in config.toml.

Sources, read at scrape time (cheap: a few indexed SQL aggregates and in-memory counters):
* proof of play (SQLite): plays, impressions (OTS) and watcher impressions, spend, per kind;
  these counters never go down (retention keeps plays, which are anonymous aggregates);
* the audience model: sessions started/ended since start, people present and watching now;
* the camera: up/down, measured fps, frames, dropped frames, reconnects;
* vision: analysis fps and per-stage latency histograms (`signage_stage_seconds`);
* decisions and errors, counted from the hub (`player.state`, `decision`, `*.error` topics)
  and from each component's status.

Stage latencies: whoever times a stage calls `stage_histograms(appliance).observe(stage, s)`
(or `.observe_many({...})`). A vision component whose `status()` carries a `stage_seconds`
histogram snapshot (`{stage: {"buckets": {le: count}, "sum": s, "count": n}}`) is used as is.
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
import logging
import math
import shutil
import time
from typing import Any, Iterable, Mapping

from aiohttp import web

from .keys import APPLIANCE

log = logging.getLogger(__name__)

__all__ = ["setup", "render_metrics", "StageHistograms", "stage_histograms", "Exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: seconds; a Pi 4 runs detection in ~10-40 ms and a full frame in ~20-100 ms
STAGE_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


# --- histograms ------------------------------------------------------------------------------

class Histogram:
    def __init__(self, buckets: Iterable[float] = STAGE_BUCKETS) -> None:
        self.bounds = sorted(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # last = +Inf only
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        if value is None or not math.isfinite(value) or value < 0:
            return
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, n in zip(self.bounds + [math.inf], self.counts):
            running += n
            out.append((_fmt_le(bound), running))
        return out


class StageHistograms:
    """Latency of each analysis stage (detect, classify, track, frame, ...), in seconds."""

    def __init__(self, buckets: Iterable[float] = STAGE_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.stages: dict[str, Histogram] = {}

    def observe(self, stage: str, seconds: float) -> None:
        h = self.stages.get(stage)
        if h is None:
            h = self.stages[stage] = Histogram(self.buckets)
        h.observe(float(seconds))

    def observe_many(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            try:
                self.observe(str(stage), float(seconds))
            except (TypeError, ValueError):
                continue


def stage_histograms(appliance: Any) -> StageHistograms:
    """The appliance's stage histograms (created on first use)."""
    h = getattr(appliance, "stage_histograms", None)
    if not isinstance(h, StageHistograms):
        h = StageHistograms()
        try:
            setattr(appliance, "stage_histograms", h)
        except AttributeError:
            pass
    return h


# --- text format ------------------------------------------------------------------------------

def _fmt_le(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))


def _fmt_value(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _escape_label(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


class Exposition:
    """Builds one scrape. Families are written whole (HELP, TYPE, samples) in order."""

    def __init__(self, common: Mapping[str, str]) -> None:
        self.common = dict(common)
        self.lines: list[str] = []
        self._seen: set[str] = set()

    def _labels(self, labels: Mapping[str, Any] | None, extra: Mapping[str, str] | None = None) -> str:
        merged = {**self.common, **(labels or {}), **(extra or {})}
        if not merged:
            return ""
        return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in merged.items()) + "}"

    def _head(self, name: str, kind: str, help_text: str) -> None:
        if name in self._seen:
            raise ValueError(f"metric family {name} written twice")
        self._seen.add(name)
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[Mapping[str, Any] | None, float]]) -> None:
        """kind: counter (name must end in _total) or gauge."""
        self._head(name, kind, help_text)
        for labels, value in samples:
            if value is None:
                continue
            self.lines.append(f"{name}{self._labels(labels)} {_fmt_value(value)}")

    def gauge(self, name: str, help_text: str, value: float | None, labels: Mapping[str, Any] | None = None) -> None:
        self.family(name, "gauge", help_text, [(labels, value)])

    def counter(self, name: str, help_text: str, value: float | None, labels: Mapping[str, Any] | None = None) -> None:
        self.family(name, "counter", help_text, [(labels, value)])

    def histogram(self, name: str, help_text: str,
                  series: Iterable[tuple[Mapping[str, Any], list[tuple[str, int]], float, int]]) -> None:
        self._head(name, "histogram", help_text)
        for labels, cumulative, total, count in series:
            for le, n in cumulative:
                self.lines.append(f"{name}_bucket{self._labels(labels, {'le': le})} {n}")
            self.lines.append(f"{name}_sum{self._labels(labels)} {_fmt_value(float(total))}")
            self.lines.append(f"{name}_count{self._labels(labels)} {int(count)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# --- event counters (from the hub) --------------------------------------------------------------

class EventCounters:
    """Counts decisions and errors seen on the hub since start."""

    def __init__(self) -> None:
        self.decisions: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def on_event(self, topic: str, data: Mapping[str, Any]) -> None:
        if topic == "player.state":
            # every new play is the outcome of one decision: an ad, or healing content
            state = str(data.get("state") or "")
            if state in ("ad", "healing"):
                self.decisions[state] = self.decisions.get(state, 0) + 1
        if topic.endswith(".error") or topic == "error":
            comp = str(data.get("component") or topic.rsplit(".", 1)[0] or "unknown")
            self.errors[comp] = self.errors.get(comp, 0) + 1


EVENT_COUNTERS: web.AppKey = web.AppKey("metrics_event_counters", EventCounters)


async def _count_events(app: web.Application) -> Any:
    appliance = app[APPLIANCE]
    counters = app[EVENT_COUNTERS]
    sub = appliance.hub.subscribe(maxsize=1024)

    async def pump() -> None:
        async for event in sub:
            try:
                counters.on_event(event.topic, event.data if isinstance(event.data, Mapping) else {})
            except Exception:  # pragma: no cover - never let the counter die
                log.exception("metrics: could not count event %s", event.topic)

    task = asyncio.create_task(pump(), name="metrics-events")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    sub.close()


# --- collection -------------------------------------------------------------------------------

async def _call(obj: Any, *names: str) -> Any:
    if obj is None:
        return None
    for name in names:
        fn = getattr(obj, name, None)
        if callable(fn):
            try:
                value = fn()
                return await value if inspect.isawaitable(value) else value
            except Exception as exc:
                log.warning("metrics: %s.%s() failed: %s", type(obj).__name__, name, exc)
                return None
    return None


def _num(d: Any, *keys: str) -> float | None:
    if not isinstance(d, Mapping):
        return None
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


async def render_metrics(appliance: Any, counters: EventCounters | None = None) -> str:
    cfg = appliance.config
    ex = Exposition({"device": cfg.device.id, "location": cfg.device.location})
    ex.gauge("signage_info", "Always 1; labels identify the screen.", 1)
    ex.gauge("signage_uptime_seconds", "Seconds since the appliance started.",
             round(time.time() - getattr(appliance, "started_at", time.time()), 3))

    # proof of play
    rows = []
    try:
        rows = await appliance.store.fetchall(
            "SELECT kind, COUNT(*) AS plays, COALESCE(SUM(completed), 0) AS completed, "
            "COALESCE(SUM(impressions), 0) AS impressions, COALESCE(SUM(watchers), 0) AS watchers, "
            "COALESCE(SUM(spend), 0) AS spend FROM plays WHERE ended_at IS NOT NULL GROUP BY kind")
        db_ok = 1
    except Exception as exc:
        log.warning("metrics: cannot read plays: %s", exc)
        db_ok = 0
    by_kind = {r["kind"]: r for r in rows}
    kinds = ("ad", "healing")
    ex.family("signage_plays_total", "counter", "Finished plays (proof of play), by kind.",
              [({"kind": k}, int(by_kind.get(k, {}).get("plays", 0))) for k in kinds])
    ex.family("signage_plays_completed_total", "counter", "Finished plays that ran their full duration.",
              [({"kind": k}, int(by_kind.get(k, {}).get("completed", 0))) for k in kinds])
    ad = by_kind.get("ad", {})
    ex.counter("signage_impressions_total",
               "Ad impressions (OTS): sessions exposed to a play for at least audience.min_exposure_s.",
               int(ad.get("impressions", 0)))
    ex.counter("signage_watcher_impressions_total",
               "Ad impressions by watchers (sessions frontal to the screen for at least audience.watcher_s).",
               int(ad.get("watchers", 0)))
    ex.counter("signage_spend_total", "Money spent by ads (price x impressions / 1000), in the ads' currency.",
               float(ad.get("spend", 0.0)))
    ex.gauge("signage_database_up", "1 when the database answered this scrape.", db_ok)
    dbs = await _call(appliance.store, "status") or {}
    ex.gauge("signage_database_size_bytes", "Size of the SQLite files (db + WAL).", _num(dbs, "size_bytes"))
    ex.gauge("signage_database_pending_writes", "Writes waiting for the next batched flush.",
             _num(dbs, "pending_writes"))

    # audience
    audience = getattr(appliance, "audience", None)
    snap = await _call(audience, "snapshot") or {}
    started = getattr(audience, "sessions_started", None) if audience is not None else None
    ended = getattr(audience, "sessions_ended", None) if audience is not None else None
    ex.counter("signage_sessions_started_total",
               "Anonymous audience sessions (confirmed face tracks) started since start. Sessions, not people.",
               started if isinstance(started, int) else _num(snap, "sessions_started"))
    ex.counter("signage_sessions_ended_total", "Audience sessions ended since start.",
               ended if isinstance(ended, int) else _num(snap, "sessions_ended"))
    ex.gauge("signage_audience_present", "Sessions in front of the screen now.", _num(snap, "present") or 0)
    ex.gauge("signage_audience_watching", "Sessions facing the screen now.", _num(snap, "watching") or 0)

    # camera
    cam = await _call(getattr(appliance, "camera", None), "status") or {}
    state = cam.get("state") if isinstance(cam, Mapping) else None
    ex.gauge("signage_camera_up", "1 while the camera delivers frames, else 0.", 1 if state == "running" else 0)
    ex.gauge("signage_camera_fps", "Frames per second the camera delivers (measured).", _num(cam, "fps") or 0.0)
    ex.counter("signage_camera_frames_total", "Frames received from the camera since start.", _num(cam, "frames"))
    ex.counter("signage_camera_dropped_frames_total",
               "Frames dropped because analysis was busy (latest-frame slot).", _num(cam, "dropped"))
    ex.counter("signage_camera_reopens_total", "Camera reconnect attempts since start.", _num(cam, "reopens"))

    # vision
    vis = await _call(getattr(appliance, "vision", None), "status") or {}
    ex.gauge("signage_analysis_fps", "Frames analysed per second (measured).",
             _num(vis, "fps", "analysis_fps") or 0.0)
    ex.counter("signage_frames_analysed_total", "Frames analysed since start.",
               _num(vis, "frames", "frames_analysed", "analysed"))
    series = []
    snapshot = vis.get("stage_seconds") if isinstance(vis, Mapping) else None
    if isinstance(snapshot, Mapping) and snapshot:
        for stage, h in snapshot.items():
            try:
                buckets = sorted(((float(le), int(n)) for le, n in h["buckets"].items()), key=lambda x: x[0])
                series.append(({"stage": stage}, [(_fmt_le(le), n) for le, n in buckets],
                               float(h["sum"]), int(h["count"])))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    else:
        for stage, h in sorted(stage_histograms(appliance).stages.items()):
            series.append(({"stage": stage}, h.cumulative(), h.sum, h.count))
    ex.histogram("signage_stage_seconds", "Latency of each analysis stage, in seconds.", series)

    # decisions and errors
    counters = counters or EventCounters()
    ex.family("signage_decisions_total", "counter", "Player decisions since start, by outcome.",
              [({"outcome": k}, v) for k, v in sorted(counters.decisions.items())])
    comp_errors = dict(getattr(appliance, "component_errors", {}) or {})
    ex.family("signage_errors_total", "counter", "Errors reported on the event hub since start, by component.",
              [({"component": k}, v) for k, v in sorted(counters.errors.items())])
    ex.family("signage_component_error", "gauge", "1 for each component reporting a problem now.",
              [({"component": k}, 1) for k in sorted(comp_errors)])
    cam_err = 1 if isinstance(cam, Mapping) and cam.get("error") else 0
    ex.gauge("signage_camera_error", "1 while the camera reports a problem.", cam_err)
    ex.gauge("signage_database_error", "1 while the last database flush failed (it is retried).",
             1 if isinstance(dbs, Mapping) and dbs.get("error") else 0)
    try:
        disk = shutil.disk_usage(cfg.storage.data_dir)
        ex.gauge("signage_data_disk_free_bytes", "Free bytes on the disk holding storage.data_dir.", disk.free)
        ex.gauge("signage_data_disk_size_bytes", "Size of the disk holding storage.data_dir.", disk.total)
    except OSError:
        pass
    fleet = getattr(appliance, "fleet", None)
    if fleet is not None:
        _fleet_metrics(ex, await fleet.status())
    return ex.text()


def _fleet_metrics(ex: "Exposition", fleet: Mapping[str, Any]) -> None:
    """Fleet mode only (docs/fleet.md): the outbox and the content version."""
    clock = fleet.get("clock_synced")
    ex.gauge("signage_clock_synced", "1 while the system clock is NTP-synchronised.",
             None if clock is None else int(bool(clock)))
    billing = fleet.get("billing")
    if isinstance(billing, Mapping):
        ex.gauge("signage_fleet_outbox_rows", "Rows waiting in the outbox for the central database.",
                 _num(billing, "outbox_rows"))
        ex.gauge("signage_fleet_outbox_max_rows", "Most rows the outbox keeps (fleet.outbox_max_rows).",
                 _num(billing, "outbox_max_rows"))
        ex.counter("signage_fleet_outbox_dropped_total", "Rows NOT recorded for shipping because the outbox was full.",
                   _num(billing, "outbox_dropped"))
        ex.gauge("signage_fleet_outbox_refused_rows", "Outbox rows the central database refused (kept aside, "
                 "not resent).", _num(billing, "outbox_refused"))
        ex.counter("signage_fleet_shipped_rows_total", "Outbox rows shipped since start.", _num(billing, "shipped_rows"))
        ex.gauge("signage_fleet_last_ship_timestamp_seconds",
                 "Unix time of the last successful contact with the central database (0 = none since start).",
                 _num(billing, "last_ship_at") or 0)
        ex.gauge("signage_fleet_ship_error", "1 while the last shipment failed (it is retried with back-off).",
                 1 if billing.get("last_error") else 0)
    content = fleet.get("content")
    if isinstance(content, Mapping):
        ex.gauge("signage_fleet_content_info", "Always 1; the label names the content version playing.", 1,
                 {"version": content.get("version") or "", "group": content.get("group") or ""})
        ex.gauge("signage_fleet_content_error", "1 while the last content poll failed or was refused.",
                 1 if content.get("last_error") else 0)


async def metrics_handler(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    counters = request.app.get(EVENT_COUNTERS)
    text = await render_metrics(appliance, counters)
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})


def setup(app: web.Application) -> None:
    app[EVENT_COUNTERS] = EventCounters()
    app.cleanup_ctx.append(_count_events)
    app.router.add_get("/metrics", metrics_handler)
