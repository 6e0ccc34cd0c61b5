"""`fleet export-config`: the Prometheus files pass `promtool check config/rules`, the alert rules
fire when they should (`promtool test rules`), every dashboard PromQL expression parses, and
every dashboard SQL query runs against a real central PostgreSQL holding shipped rows."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from signage.config import default_config
from signage.fleet import central
from signage.fleet.export import PG_UID, PROM_UID, to_yaml
from signage.fleet.link import prepare_store
from signage.fleet.shipper import Shipper
from signage.store import Store

ROOT = Path(__file__).resolve().parent.parent


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool not found: apt-get install prometheus (./scripts/test does it as root)", pytrace=False)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export")
    r = subprocess.run(
        [sys.executable, "-m", "signage", "fleet", "export-config", str(out), "--no-upload-hours", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return out


def run_promtool(*args: str, cwd: Path) -> str:
    r = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_promtool_accepts_the_config_and_rules(exported):
    out = run_promtool("check", "config", "prometheus.yml", cwd=exported / "prometheus")
    assert "SUCCESS" in out
    run_promtool("check", "rules", "signage-alerts.yml", cwd=exported / "prometheus")
    screens = (exported / "prometheus/screens/screens.yml").read_text()
    assert "- targets:" in screens


def test_alert_rules_fire_when_they_should(exported, tmp_path):
    shutil.copy(exported / "prometheus/signage-alerts.yml", tmp_path)
    labels = 'instance="shop:8080", job="signage", device="shop-1", location="hall"'
    tests = {
        "rule_files": ["signage-alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # `up` is Prometheus's own series: target labels only
                    {"series": 'up{instance="shop:8080", job="signage"}', "values": "1 1 0 0 0 0 0 0 0 0"},
                    {"series": f"signage_camera_up{{{labels}}}", "values": "1 1 1 1 1 1 1 1 1 1"},
                    # last shipped at t=0 and never again: 2 h limit
                    {"series": f"signage_fleet_last_ship_timestamp_seconds{{{labels}}}", "values": "1x200"},
                    {"series": f"signage_uptime_seconds{{{labels}}}", "values": "0+60x200"},
                    {"series": f"signage_fleet_outbox_rows{{{labels}}}", "values": "0+100x200"},
                    {"series": f"signage_fleet_outbox_max_rows{{{labels}}}", "values": "10000x200"},
                    {"series": f"signage_data_disk_free_bytes{{{labels}}}", "values": "5x200"},
                    {"series": f"signage_data_disk_size_bytes{{{labels}}}", "values": "100x200"},
                ],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "ScreenDown", "exp_alerts": []},
                    {
                        "eval_time": "8m",
                        "alertname": "ScreenDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "instance": "shop:8080", "job": "signage"},
                                "exp_annotations": {
                                    "summary": "Screen shop:8080 has not answered /metrics for 5 minutes"
                                },
                            }
                        ],
                    },
                    {"eval_time": "60m", "alertname": "NoUpload", "exp_alerts": []},
                    {
                        "eval_time": "130m",
                        "alertname": "NoUpload",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "shop:8080",
                                    "job": "signage",
                                    "device": "shop-1",
                                    "location": "hall",
                                },
                                "exp_annotations": {
                                    "summary": "shop-1 has not shipped to the central database for 2 hours"
                                },
                            }
                        ],
                    },
                    {"eval_time": "60m", "alertname": "OutboxFilling", "exp_alerts": []},
                    {
                        "eval_time": "120m",
                        "alertname": "OutboxFilling",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "shop:8080",
                                    "job": "signage",
                                    "device": "shop-1",
                                    "location": "hall",
                                },
                                "exp_annotations": {"summary": "Outbox of shop-1 is 120% full"},
                            }
                        ],
                    },
                    {
                        "eval_time": "30m",
                        "alertname": "DiskLow",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "shop:8080",
                                    "job": "signage",
                                    "device": "shop-1",
                                    "location": "hall",
                                },
                                "exp_annotations": {"summary": "Disk of shop-1 is 5% free"},
                            }
                        ],
                    },
                    {"eval_time": "30m", "alertname": "CameraDown", "exp_alerts": []},
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(to_yaml(tests) + "\n")
    run_promtool("test", "rules", "tests.yml", cwd=tmp_path)


def dashboards(exported: Path) -> list[dict]:
    boards = [json.loads(p.read_text()) for p in sorted((exported / "grafana/dashboards").glob("*.json"))]
    assert {b["uid"] for b in boards} == {"signage-campaigns", "signage-health", "signage-audience"}
    return boards


def targets(boards: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for b in boards:
        ids = [p["id"] for p in b["panels"]]
        assert len(ids) == len(set(ids)), f"{b['uid']}: panel ids repeat"
        for p in b["panels"]:
            assert p["datasource"]["uid"] in (PG_UID, PROM_UID) and p["gridPos"]["w"] > 0
            for t in p["targets"]:
                assert t["datasource"]["uid"] == p["datasource"]["uid"]
                out.append((f"{b['uid']}: {p['title']}", t))
        for var in b["templating"]["list"]:
            out.append(
                (f"{b['uid']}: variable {var['name']}", {"datasource": var["datasource"], "rawSql": var["query"]})
            )
    return out


def test_grafana_provisioning_names_the_data_sources_the_dashboards_use(exported):
    text = (exported / "grafana/provisioning/datasources/signage.yml").read_text()
    assert f'uid: "{PG_UID}"' in text and f'uid: "{PROM_UID}"' in text
    assert "${SIGNAGE_PG_PASSWORD}" in text  # from Grafana's environment, never in the file
    assert "options:" in (exported / "grafana/provisioning/dashboards/signage.yml").read_text()
    assert targets(dashboards(exported))


def test_every_dashboard_promql_expression_parses(exported, tmp_path):
    exprs = [t["expr"] for _, t in targets(dashboards(exported)) if t["datasource"]["uid"] == PROM_UID]
    assert len(exprs) >= 5
    rules = {
        "groups": [
            {
                "name": "dashboard-exprs",
                "rules": [{"record": f"signage:dashboard_expr_{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    (tmp_path / "exprs.yml").write_text(to_yaml(rules) + "\n")
    run_promtool("check", "rules", "exprs.yml", cwd=tmp_path)


def expand_grafana_macros(sql: str, t_from: str, t_to: str, screens: list[str]) -> str:
    """Grafana's PostgreSQL macros and a multi-value variable, expanded as Grafana does."""
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN '{t_from}' AND '{t_to}'", sql)
    sql = sql.replace("$__timeFrom()", f"'{t_from}'::timestamptz").replace("$__timeTo()", f"'{t_to}'::timestamptz")
    sql = re.sub(r"\$__timeGroupAlias\(([^,]+),\s*'1h'\)", r'floor(extract(epoch from \1)/3600)*3600 AS "time"', sql)
    sql = sql.replace("$screen", ", ".join(f"'{s}'" for s in screens))
    assert "$" not in sql.replace("$$", ""), f"unexpanded macro in: {sql}"
    return sql


async def test_every_dashboard_sql_query_runs_on_the_central_database(pg, exported, tmp_path):  # noqa: F811
    central.init_db(pg.admin_url)
    url = central.add_screen(pg.admin_url, "shop-1")
    cfg = default_config(tmp_path)
    cfg = dataclasses.replace(
        cfg,
        device=dataclasses.replace(cfg.device, id="shop-1"),
        storage=dataclasses.replace(cfg.storage, data_dir=tmp_path / "data"),
        fleet=dataclasses.replace(cfg.fleet, database_url=url),
    )
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        now = time.time()
        await store.execute(
            "INSERT INTO ads (id, slug, title, media, media_type, duration_s, updated_at, source_sha256) "
            "VALUES (1, 'cafe', 'Cafe', 'a.jpg', 'image', 5, ?, 'abc')",
            (now,),
        )
        for i in range(3):
            t = now - 3600 * i
            await store.execute("INSERT INTO plays (id, ad_id, kind, started_at) VALUES (?, 1, 'ad', ?)", (i + 1, t))
            await store.execute(
                "INSERT INTO sessions (id, started_at, ended_at, dwell_s, attention_s, mood, age_group, "
                "gender) VALUES (?, ?, ?, 3, 2, 'happy', '20-39', 'female')",
                (f"s{i}", t, t + 3),
            )
            await store.execute("INSERT INTO exposures VALUES (?, ?, 3, 2)", (i + 1, f"s{i}"))
            await store.execute(
                "UPDATE plays SET ended_at = ?, completed = 1, impressions = 1, watchers = 1, "
                "spend = 0.05 WHERE id = ?",
                (t + 5, i + 1),
            )
        shipper = Shipper(store, cfg.fleet)
        assert await shipper.ship_pending() > 0
        await shipper.stop()
    finally:
        await store.close()
    t_from = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400))
    t_to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 60))
    ran = 0
    with psycopg.connect(pg.admin_url) as c:
        for where, t in targets(dashboards(exported)):
            if t["datasource"]["uid"] != PG_UID:
                continue
            sql = expand_grafana_macros(t["rawSql"], t_from, t_to, ["shop-1"])
            try:
                rows = c.execute(sql).fetchall()
            except psycopg.Error as exc:
                pytest.fail(f"{where}: {exc}\n{sql}")
            assert rows, f"{where}: no rows although shipped data lies in the period\n{sql}"
            ran += 1
    assert ran >= 10
