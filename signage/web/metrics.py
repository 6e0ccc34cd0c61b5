"""`/metrics`: the appliance in Prometheus text format (version 0.0.4), for a fleet watched by
an existing Prometheus + Grafana. Every series carries `device` and `location` labels from
`[device]` in config.toml.

Sources, read at scrape time (cheap: a few indexed SQL aggregates and in-memory counters):
* proof of play (SQLite): plays, impressions (OTS) and watcher impressions, spend, per kind;
  these counters never go down (retention keeps plays, which are anonymous aggregates);
* the audience model: sessions started/ended since start, people present and watching now;
* the camera: up/down, measured fps, frames, dropped frames, reconnects;
* vision: analysis fps and per-stage latency histograms (`signage_stage_seconds`);
* the player's ad decisions by outcome, and errors each component counted since start
  (frames vision failed to analyse, player errors it recovered from, database writes refused).

Stage latencies: the appliance observes every analysed frame's stage timings in its
`stage_histograms` (`signage/stats.py`); this module only renders them.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..reports import public
from .keys import APPLIANCE

if TYPE_CHECKING:
    from ..app import Appliance

log = logging.getLogger(__name__)

__all__ = ["setup", "render_metrics", "Exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# --- text format ------------------------------------------------------------------------------


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

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, Any] | None, float | None]]
    ) -> None:
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

    def histogram(
        self, name: str, help_text: str, series: Iterable[tuple[Mapping[str, Any], list[tuple[str, int]], float, int]]
    ) -> None:
        self._head(name, "histogram", help_text)
        for labels, cumulative, total, count in series:
            for le, n in cumulative:
                self.lines.append(f"{name}_bucket{self._labels(labels, {'le': le})} {n}")
            self.lines.append(f"{name}_sum{self._labels(labels)} {_fmt_value(float(total))}")
            self.lines.append(f"{name}_count{self._labels(labels)} {int(count)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


# --- collection -------------------------------------------------------------------------------


def _num(d: Mapping[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


async def render_metrics(appliance: Appliance) -> str:
    cfg = appliance.config
    ex = Exposition({"device": cfg.device.id, "location": cfg.device.location})
    ex.gauge("signage_info", "Always 1; labels identify the screen.", 1)
    ex.gauge(
        "signage_uptime_seconds",
        "Seconds since the appliance started.",
        round(appliance.clock.now() - appliance.started_at, 3),
    )

    # proof of play
    by_kind: dict[str, dict[str, Any]] = {}
    try:
        by_kind = await public.proof_of_play(appliance.store)
        db_ok = 1
    except Exception as exc:
        log.warning("metrics: cannot read plays: %s", exc)
        db_ok = 0
    kinds = ("ad", "healing")
    ex.family(
        "signage_plays_total",
        "counter",
        "Finished plays (proof of play), by kind.",
        [({"kind": k}, int(by_kind.get(k, {}).get("plays", 0))) for k in kinds],
    )
    ex.family(
        "signage_plays_completed_total",
        "counter",
        "Finished plays that ran their full duration.",
        [({"kind": k}, int(by_kind.get(k, {}).get("completed", 0))) for k in kinds],
    )
    ad = by_kind.get("ad", {})
    ex.counter(
        "signage_impressions_total",
        "Ad impressions (OTS): sessions exposed to a play for at least audience.min_exposure_s.",
        int(ad.get("impressions", 0)),
    )
    ex.counter(
        "signage_watcher_impressions_total",
        "Ad impressions by watchers (sessions frontal to the screen for at least audience.watcher_s).",
        int(ad.get("watchers", 0)),
    )
    ex.counter(
        "signage_spend_total",
        "Money spent by ads (price x impressions / 1000), in the ads' currency.",
        float(ad.get("spend", 0.0)),
    )
    ex.gauge("signage_database_up", "1 when the database answered this scrape.", db_ok)
    dbs = await appliance.store.status()
    ex.gauge("signage_database_size_bytes", "Size of the SQLite files (db + WAL).", _num(dbs, "size_bytes"))
    ex.gauge(
        "signage_database_pending_writes", "Writes waiting for the next batched flush.", _num(dbs, "pending_writes")
    )
    ex.gauge(
        "signage_database_spilled_writes",
        "Writes kept only in the spill file (not yet in the database).",
        _num(dbs, "spilled_writes"),
    )
    ex.counter(
        "signage_database_refused_writes_total",
        "Writes the database refused for good (dropped).",
        _num(dbs, "refused_writes"),
    )
    ex.counter(
        "signage_database_shed_writes_total",
        "Audience records shed because too many writes were waiting (never proof of play).",
        _num(dbs, "shed_writes"),
    )
    ex.gauge(
        "signage_database_degraded",
        "1 while the database runs in memory, fails writes, or was replaced after corruption.",
        1 if dbs.get("state") in ("memory", "failing") or dbs.get("problem") else 0,
    )
    lag = appliance.loop_lag.status()
    ex.family(
        "signage_event_loop_lag_seconds",
        "gauge",
        "How late the event loop runs a timer, over the last minute.",
        [({"quantile": "0.5"}, lag["p50_ms"] / 1000), ({"quantile": "0.99"}, lag["p99_ms"] / 1000)],
    )

    # audience
    audience = appliance.audience
    snap = audience.snapshot()
    ex.counter(
        "signage_sessions_started_total",
        "Anonymous audience sessions (confirmed face tracks) started since start. Sessions, not people.",
        audience.sessions_started,
    )
    ex.counter("signage_sessions_ended_total", "Audience sessions ended since start.", audience.sessions_ended)
    ex.gauge("signage_audience_present", "Sessions in front of the screen now.", snap["present"])
    ex.gauge("signage_audience_watching", "Sessions facing the screen now.", snap["watching"])

    # camera
    cam = appliance.camera.status()
    ex.gauge("signage_camera_up", "1 while the camera delivers frames, else 0.", 1 if cam["state"] == "running" else 0)
    ex.gauge("signage_camera_fps", "Frames per second the camera delivers (measured).", cam["fps"])
    ex.counter("signage_camera_frames_total", "Frames received from the camera since start.", cam["frames"])
    ex.counter(
        "signage_camera_dropped_frames_total",
        "Frames dropped because analysis was busy (latest-frame slot).",
        cam["dropped"],
    )
    ex.counter("signage_camera_reopens_total", "Camera reconnect attempts since start.", cam["reopens"])

    # vision
    vis = appliance.vision.status()
    ex.gauge("signage_analysis_fps", "Frames analysed per second (measured).", vis["fps"])
    ex.counter("signage_frames_analysed_total", "Frames analysed since start.", vis["frames_analysed"])
    ex.histogram(
        "signage_stage_seconds",
        "Latency of each analysis stage, in seconds.",
        [
            ({"stage": stage}, h.cumulative(), h.sum, h.count)
            for stage, h in sorted(appliance.stage_histograms.stages.items())
        ],
    )

    # decisions and errors
    player = appliance.player.status()
    ex.family(
        "signage_decisions_total",
        "counter",
        "Ad decisions the player took since start, by outcome: an ad chosen, or healing kept "
        "(none eligible, nobody settled in front of the screen, a mood rule).",
        [
            ({"outcome": "ad"}, player["decisions_ad"]),
            ({"outcome": "healing"}, player["decisions"] - player["decisions_ad"]),
        ],
    )
    ex.family(
        "signage_errors_total",
        "counter",
        "Errors since start, by component: frames vision failed to analyse, player errors it "
        "recovered from by showing healing content, database writes refused.",
        [
            ({"component": "vision"}, vis["errors"]),
            ({"component": "player"}, player["errors"]),
            ({"component": "database"}, dbs["refused_writes"]),
        ],
    )
    comp_errors = dict(appliance.component_errors)
    ex.family(
        "signage_component_error",
        "gauge",
        "1 for each component reporting a problem now.",
        [({"component": k}, 1) for k in sorted(comp_errors)],
    )
    cam_err = 1 if cam["error"] else 0
    ex.gauge("signage_camera_error", "1 while the camera reports a problem.", cam_err)
    ex.gauge(
        "signage_database_error",
        "1 while the last database flush failed (it is retried).",
        1 if dbs.get("error") else 0,
    )
    try:
        disk = shutil.disk_usage(cfg.storage.data_dir)
        ex.gauge("signage_data_disk_free_bytes", "Free bytes on the disk holding storage.data_dir.", disk.free)
        ex.gauge("signage_data_disk_size_bytes", "Size of the disk holding storage.data_dir.", disk.total)
    except OSError:
        pass
    fleet = appliance.fleet
    if fleet is not None:
        _fleet_metrics(ex, await fleet.status())
    return ex.text()


def _fleet_metrics(ex: Exposition, fleet: Mapping[str, Any]) -> None:
    """Fleet mode only (docs/fleet.md): the outbox and the content version."""
    clock = fleet.get("clock_synced")
    ex.gauge(
        "signage_clock_synced",
        "1 while the system clock is NTP-synchronised.",
        None if clock is None else int(bool(clock)),
    )
    billing = fleet.get("billing")
    if isinstance(billing, Mapping):
        ex.gauge(
            "signage_fleet_outbox_rows",
            "Rows waiting in the outbox for the central database.",
            _num(billing, "outbox_rows"),
        )
        ex.gauge(
            "signage_fleet_outbox_max_rows",
            "Most rows the outbox keeps (fleet.outbox_max_rows).",
            _num(billing, "outbox_max_rows"),
        )
        ex.counter(
            "signage_fleet_outbox_dropped_total",
            "Rows NOT recorded for shipping because the outbox was full.",
            _num(billing, "outbox_dropped"),
        )
        ex.gauge(
            "signage_fleet_outbox_refused_rows",
            "Outbox rows the central database refused (kept aside, not resent).",
            _num(billing, "outbox_refused"),
        )
        ex.counter(
            "signage_fleet_shipped_rows_total", "Outbox rows shipped since start.", _num(billing, "shipped_rows")
        )
        ex.gauge(
            "signage_fleet_last_ship_timestamp_seconds",
            "Unix time of the last successful contact with the central database (0 = none since start).",
            _num(billing, "last_ship_at") or 0,
        )
        ex.gauge(
            "signage_fleet_ship_error",
            "1 while the last shipment failed (it is retried with back-off).",
            1 if billing.get("last_error") else 0,
        )
    content = fleet.get("content")
    if isinstance(content, Mapping):
        ex.gauge(
            "signage_fleet_content_info",
            "Always 1; the label names the content version playing.",
            1,
            {"version": content.get("version") or "", "group": content.get("group") or ""},
        )
        ex.gauge(
            "signage_fleet_content_error",
            "1 while the last content poll failed or was refused.",
            1 if content.get("last_error") else 0,
        )


async def metrics_handler(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    text = await render_metrics(appliance)
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": CONTENT_TYPE})


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_handler)
