"""`python -m signage fleet export-config DIR`: the operations plane as files for existing
engines (docs/fleet.md). Nothing here runs: Prometheus and Grafana read what is written.

DIR/prometheus/prometheus.yml        scrape config, screens discovered from screens/*.yml
DIR/prometheus/screens/screens.yml   the screen list: one `- targets: [...]` line per screen
DIR/prometheus/signage-alerts.yml    alert rules (screen down, camera down, no analysed frames,
                                     no upload for N hours, outbox filling, disk low, clock)
DIR/grafana/provisioning/datasources/signage.yml   PostgreSQL + Prometheus data sources
DIR/grafana/provisioning/dashboards/signage.yml    dashboard provider
DIR/grafana/dashboards/*.json        campaign delivery, screen health, audience mix

Dashboard SQL reads only the central views and tables (sql/), with Grafana's macros
($__timeFilter, $__timeFrom(), $__timeTo(), $__timeGroupAlias) and a `$screen` variable.
YAML is written by a small emitter (block style, JSON-quoted strings) to avoid a dependency.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["export_config", "alert_rules", "dashboards", "PG_UID", "PROM_UID"]

PG_UID, PROM_UID = "signage-pg", "signage-prom"
JOB = "signage"


# --- YAML -------------------------------------------------------------------------------------


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(value: Any, indent: int = 0) -> str:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_scalar(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 2).lstrip()
                lines.append(f"{pad}- {body}")
            else:
                lines.append(f"{pad}- {_scalar(item) if not isinstance(item, (dict, list)) else json.dumps(item)}")
    else:
        lines.append(pad + _scalar(value))
    return "\n".join(lines)


# --- Prometheus -------------------------------------------------------------------------------


def prometheus_config() -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "30s", "evaluation_interval": "30s"},
        "rule_files": ["signage-alerts.yml"],
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "scrape_timeout": "10s",
                # Relative to this file: add or remove a screen by editing that file; Prometheus
                # notices without a restart.
                "file_sd_configs": [{"files": ["screens/*.yml"], "refresh_interval": "1m"}],
            }
        ],
    }


SCREENS_EXAMPLE = """\
# One line per screen: its address (host:port of `python -m signage run`) and its group.
# Prometheus re-reads this file by itself; every series also carries the screen's own
# device and location labels from its [device] section.
- targets: ["127.0.0.1:8080"]
  labels: {group: "default"}
"""


def alert_rules(no_upload_hours: float = 6.0) -> dict[str, Any]:
    hours = f"{no_upload_hours:g}"
    secs = int(no_upload_hours * 3600)

    def rule(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": for_,
            "labels": {"severity": severity},
            "annotations": {"summary": summary},
        }

    return {
        "groups": [
            {
                "name": "signage",
                "rules": [
                    rule(
                        "ScreenDown",
                        f'up{{job="{JOB}"}} == 0',
                        "5m",
                        "critical",
                        "Screen {{ $labels.instance }} has not answered /metrics for 5 minutes",
                    ),
                    rule(
                        "CameraDown",
                        "signage_camera_up == 0",
                        "5m",
                        "warning",
                        "Camera of {{ $labels.device }} ({{ $labels.location }}) delivers no frames",
                    ),
                    rule(
                        "NoAnalysedFrames",
                        "rate(signage_frames_analysed_total[10m]) == 0 and on(instance) signage_camera_up == 1",
                        "10m",
                        "warning",
                        "{{ $labels.device }} receives frames but analyses none (vision down?)",
                    ),
                    rule(
                        "NoUpload",
                        f"(time() - signage_fleet_last_ship_timestamp_seconds > {secs} and "
                        f"signage_fleet_last_ship_timestamp_seconds > 0) or (signage_fleet_last_ship_timestamp_seconds == 0 "
                        f"and on(instance) signage_uptime_seconds > {secs})",
                        "5m",
                        "warning",
                        f"{{{{ $labels.device }}}} has not shipped to the central database for {hours} hours",
                    ),
                    rule(
                        "OutboxFilling",
                        "signage_fleet_outbox_rows / signage_fleet_outbox_max_rows > 0.8",
                        "15m",
                        "warning",
                        "Outbox of {{ $labels.device }} is {{ $value | humanizePercentage }} full",
                    ),
                    rule(
                        "OutboxDropping",
                        "increase(signage_fleet_outbox_dropped_total[1h]) > 0",
                        "0m",
                        "critical",
                        "{{ $labels.device }}'s outbox is full: rows are no longer recorded for shipping",
                    ),
                    rule(
                        "DiskLow",
                        "signage_data_disk_free_bytes / signage_data_disk_size_bytes < 0.1",
                        "15m",
                        "warning",
                        "Disk of {{ $labels.device }} is {{ $value | humanizePercentage }} free",
                    ),
                    rule(
                        "ClockNotSynchronised",
                        "signage_clock_synced == 0",
                        "1h",
                        "warning",
                        "{{ $labels.device }}'s clock is not NTP-synchronised: its rows are flagged",
                    ),
                ],
            }
        ]
    }


# --- Grafana ----------------------------------------------------------------------------------


def datasources() -> dict[str, Any]:
    # ${...} is expanded by Grafana from its environment when it reads the file: the password
    # never sits in this file.
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Signage PostgreSQL",
                "uid": PG_UID,
                "type": "postgres",
                "access": "proxy",
                "url": "${SIGNAGE_PG_ADDRESS}",
                "user": "${SIGNAGE_PG_USER}",
                "jsonData": {
                    "database": "${SIGNAGE_PG_DATABASE}",
                    "sslmode": "${SIGNAGE_PG_SSLMODE}",
                    "postgresVersion": 1500,
                    "timescaledb": False,
                },
                "secureJsonData": {"password": "${SIGNAGE_PG_PASSWORD}"},
                "editable": False,
            },
            {
                "name": "Signage Prometheus",
                "uid": PROM_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": "${SIGNAGE_PROMETHEUS_URL}",
                "isDefault": True,
                "editable": False,
            },
        ],
    }


def dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "signage",
                "folder": "Signage",
                "type": "file",
                "disableDeletion": True,
                "options": {"path": "${SIGNAGE_GRAFANA_DASHBOARDS}"},
            }
        ],
    }


_SCREEN_VAR = {
    "name": "screen",
    "label": "Screen",
    "type": "query",
    "datasource": {"type": "postgres", "uid": PG_UID},
    "query": "SELECT device_id FROM fleet.screens ORDER BY 1",
    "multi": True,
    "includeAll": True,
    "refresh": 1,
    "current": {"text": "All", "value": "$__all"},
}


def _sql_panel(title: str, sql: str, kind: str = "table", fmt: str = "table", description: str = "") -> dict[str, Any]:
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": {"type": "postgres", "uid": PG_UID},
        "targets": [
            {
                "refId": "A",
                "datasource": {"type": "postgres", "uid": PG_UID},
                "rawQuery": True,
                "editorMode": "code",
                "format": fmt,
                "rawSql": sql.strip(),
            }
        ],
    }


def _prom_panel(title: str, expr: str, legend: str = "{{device}}", unit: str = "") -> dict[str, Any]:
    return {
        "title": title,
        "type": "timeseries",
        "datasource": {"type": "prometheus", "uid": PROM_UID},
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "targets": [
            {"refId": "A", "datasource": {"type": "prometheus", "uid": PROM_UID}, "expr": expr, "legendFormat": legend}
        ],
    }


REACH_NOTE = (
    "Reach counts anonymous sessions, not people: COUNT(DISTINCT (device_id, session_id)) over the "
    "selected period. Never add reach across rows, hours or days."
)

_AD_PLAYS = "fleet.plays p WHERE p.kind = 'ad' AND $__timeFilter(p.started_at) AND p.device_id IN ($screen)"


def dashboards() -> dict[str, dict[str, Any]]:
    campaign = [
        _sql_panel(
            "Campaigns in the period",
            "SELECT * FROM fleet.campaign_report($__timeFrom(), $__timeTo())",
            description=REACH_NOTE,
        ),
        _sql_panel(
            "Reach in the period (sessions, not people)",
            """
SELECT COUNT(DISTINCT (x.device_id, x.session_id)) AS "reach (sessions)"
FROM fleet.exposures x
JOIN fleet.plays p ON p.device_id = x.device_id AND p.uuid = x.play_uuid AND p.started_at = x.play_started_at
WHERE p.kind = 'ad' AND $__timeFilter(p.started_at) AND p.device_id IN ($screen)
  AND x.present_s >= fleet.setting('min_exposure_s') - 1e-9""",
            kind="stat",
            description=REACH_NOTE,
        ),
        _sql_panel(
            "Impressions (OTS) per hour and campaign",
            f"""
SELECT $__timeGroupAlias(p.started_at, '1h'), p.ad_slug AS metric, SUM(p.impressions) AS impressions
FROM {_AD_PLAYS}
GROUP BY 1, 2 ORDER BY 1""",
            kind="timeseries",
            fmt="time_series",
        ),
        _sql_panel(
            "Spend per screen and campaign",
            f"""
SELECT p.device_id AS screen, p.ad_slug AS campaign, COUNT(*) AS plays, SUM(p.impressions) AS impressions,
       SUM(p.watchers) AS watchers, round(SUM(p.spend)::numeric, 4) AS spend
FROM {_AD_PLAYS}
GROUP BY 1, 2 ORDER BY spend DESC""",
        ),
        _sql_panel(
            "Daily delivery (reach per row: do not add)",
            """
SELECT * FROM fleet.daily_delivery
WHERE day BETWEEN ($__timeFrom())::date AND ($__timeTo())::date AND device_id IN ($screen)
ORDER BY day, device_id, ad_slug""",
            description=REACH_NOTE,
        ),
    ]
    health = [
        _prom_panel("Screen up", f'up{{job="{JOB}"}}', legend="{{instance}}"),
        _prom_panel("Camera up", "signage_camera_up"),
        _prom_panel("Frames analysed per second", "rate(signage_frames_analysed_total[5m])"),
        _prom_panel("Outbox rows waiting", "signage_fleet_outbox_rows"),
        _prom_panel("Seconds since last upload", "time() - signage_fleet_last_ship_timestamp_seconds", unit="s"),
        _prom_panel(
            "Data disk free", "signage_data_disk_free_bytes / signage_data_disk_size_bytes", unit="percentunit"
        ),
        _prom_panel(
            "Errors per minute",
            "sum by (device, component) (rate(signage_errors_total[5m])) * 60",
            legend="{{device}} {{component}}",
        ),
        _sql_panel("What the centre has from each screen", "SELECT * FROM fleet.screen_delivery ORDER BY device_id"),
    ]
    audience = (
        [
            _sql_panel(
                "Sessions per hour",
                """
SELECT $__timeGroupAlias(started_at, '1h'), COUNT(*) AS sessions
FROM fleet.sessions WHERE $__timeFilter(started_at) AND device_id IN ($screen)
GROUP BY 1 ORDER BY 1""",
                kind="timeseries",
                fmt="time_series",
            ),
        ]
        + [
            _sql_panel(
                f"{title} (sessions, not people)",
                f"""
SELECT COALESCE({col}, 'unknown') AS {col}, COUNT(*) AS sessions
FROM fleet.sessions WHERE $__timeFilter(started_at) AND device_id IN ($screen)
GROUP BY 1 ORDER BY 2 DESC""",
                kind="piechart",
            )
            for title, col in (("Mood", "mood"), ("Age group", "age_group"), ("Gender", "gender"))
        ]
        + [
            _sql_panel(
                "Segments per day",
                """
SELECT * FROM fleet.audience_segments
WHERE day BETWEEN ($__timeFrom())::date AND ($__timeTo())::date AND device_id IN ($screen)
ORDER BY day, device_id, sessions DESC""",
            ),
        ]
    )
    out = {}
    for uid, title, panels in (
        ("signage-campaigns", "Signage: campaign delivery across screens", campaign),
        ("signage-health", "Signage: screen health", health),
        ("signage-audience", "Signage: audience mix", audience),
    ):
        for i, panel in enumerate(panels):
            panel["id"] = i + 1
            panel["gridPos"] = {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8}
        out[uid] = {
            "uid": uid,
            "title": title,
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "time": {"from": "now-7d", "to": "now"},
            "timezone": "browser",
            "tags": ["signage"],
            "templating": {"list": [dict(_SCREEN_VAR)]},
            "panels": panels,
        }
    return out


def export_config(out_dir: Path, *, no_upload_hours: float = 6.0) -> list[Path]:
    out_dir = Path(out_dir)
    files: dict[Path, str] = {
        Path("prometheus/prometheus.yml"): to_yaml(prometheus_config()),
        Path("prometheus/signage-alerts.yml"): to_yaml(alert_rules(no_upload_hours)),
        Path("grafana/provisioning/datasources/signage.yml"): to_yaml(datasources()),
        Path("grafana/provisioning/dashboards/signage.yml"): to_yaml(dashboard_provider()),
    }
    for uid, board in dashboards().items():
        files[Path(f"grafana/dashboards/{uid}.json")] = json.dumps(board, indent=2)
    written = []
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        written.append(path)
    screens = out_dir / "prometheus/screens/screens.yml"
    if not screens.exists():  # the operator's list: never overwritten
        screens.parent.mkdir(parents=True, exist_ok=True)
        screens.write_text(SCREENS_EXAMPLE, encoding="utf-8")
        written.append(screens)
    return written
