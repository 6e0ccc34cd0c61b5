"""Fleet end to end (issue 15): a real PostgreSQL, `fleet init-db`, two screens added with
`fleet add-screen`, two real appliances (photos camera source with demo photos, real models,
real SQLite) shipping with `[fleet]`. One is killed with SIGKILL while it ships, PostgreSQL is
stopped for a while, everything restarts, `fleet ship` drains what is left, and then:

* the central rows equal each screen's rows, table by table;
* the central campaign report equals the sum of the screens' own reports for additive metrics,
  and its reach equals a direct COUNT(DISTINCT (device_id, session_id)).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from apprun import ROOT, RunningApp, write_config
from pgserver import wait_for
from signage.reports.delivery import ad_report
from signage.store import Store

pytestmark = pytest.mark.slow

SCREENS = ("shop-a", "shop-b")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signage", *args], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def screen_config(tmp: Path, device: str, url: str, photos: list[Path]) -> Path:
    return write_config(
        tmp,
        photos,
        device=f'id = "{device}"',
        vision=f'models_dir = "{ROOT / "models"}"\nanalysis_fps = 4.0',
        player="rating_seconds = 1.0\nhealing_min_seconds = 1.0\nidle_healing_seconds = 3.0",
        fleet=f'database_url = "{url}"\nship_interval_s = 1.0\nretry_max_s = 2.0\nconnect_timeout_s = 2',
    )


def fleet_status(app: RunningApp) -> dict:
    return app.get("/api/status")["fleet"]["billing"]


def engage(app: RunningApp, db: Path) -> None:
    """A phone opens the QR page of the latest ad play and votes: a mobile visit and a rating."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        row = con.execute(
            "SELECT token FROM plays WHERE kind = 'ad' AND token IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return
    # a phone keeps the cookie its page view set: a vote counts once per play per phone
    phone = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    phone.open(f"{app.base}/m/{row[0]}", timeout=10).read()
    req = urllib.request.Request(
        f"{app.base}/m/{row[0]}/rate", data=b"value=like", method="POST", headers={"Origin": app.base}
    )
    try:
        phone.open(req, timeout=10).read()
    except urllib.error.HTTPError as exc:  # the 303 to the thanks page is fine
        assert exc.code in (303, 200), exc


def local_rows(db: Path) -> dict[str, dict]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        q = lambda sql: [dict(r) for r in con.execute(sql)]  # noqa: E731
        return {
            "plays": {
                r["uuid"]: r
                for r in q(
                    "SELECT uuid, kind, ad_slug, ad_sha256, started_at, ended_at, "
                    "completed, impressions, watchers, spend FROM plays"
                )
            },
            "sessions": {
                r["id"]: r
                for r in q(
                    "SELECT id, started_at, ended_at, dwell_s, attention_s, age_group, gender, mood FROM sessions"
                )
            },
            "exposures": {
                (r["play_uuid"], r["session_id"]): r
                for r in q(
                    "SELECT p.uuid AS play_uuid, x.session_id, x.present_s, x.watching_s "
                    "FROM exposures x JOIN plays p ON p.id = x.play_id"
                )
            },
            "ratings": {
                r["uuid"]: r
                for r in q(
                    "SELECT r.uuid, p.uuid AS play_uuid, r.value, r.source "
                    "FROM ratings r JOIN plays p ON p.id = r.play_id"
                )
            },
            "mobile_visits": {
                r["uuid"]: r
                for r in q("SELECT v.uuid, p.uuid AS play_uuid FROM mobile_visits v JOIN plays p ON p.id = v.play_id")
            },
        }
    finally:
        con.close()


def central_rows(admin_url: str, device: str) -> dict[str, dict]:
    with psycopg.connect(admin_url) as c:

        def q(sql: str) -> list[dict]:
            cur = c.execute(sql, (device,))
            names = [d.name for d in cur.description]
            return [dict(zip(names, r, strict=False)) for r in cur.fetchall()]

        ep = "extract(epoch FROM {0})::float8 AS {0}"
        return {
            "plays": {
                r["uuid"]: r
                for r in q(
                    f"SELECT uuid::text, kind, ad_slug, ad_sha256, {ep.format('started_at')}, {ep.format('ended_at')}, "
                    "completed::int AS completed, impressions, watchers, spend FROM fleet.plays WHERE device_id = %s"
                )
            },
            "sessions": {
                r["id"]: r
                for r in q(
                    f"SELECT session_id AS id, {ep.format('started_at')}, {ep.format('ended_at')}, dwell_s, "
                    "attention_s, age_group, gender, mood FROM fleet.sessions WHERE device_id = %s"
                )
            },
            "exposures": {
                (r["play_uuid"], r["session_id"]): r
                for r in q(
                    "SELECT play_uuid::text, session_id, present_s, watching_s FROM fleet.exposures WHERE device_id = %s"
                )
            },
            "ratings": {
                r["uuid"]: r
                for r in q("SELECT uuid::text, play_uuid::text, value, source FROM fleet.ratings WHERE device_id = %s")
            },
            "mobile_visits": {
                r["uuid"]: r
                for r in q("SELECT uuid::text, play_uuid::text FROM fleet.mobile_visits WHERE device_id = %s")
            },
        }


def same(a: dict, b: dict) -> bool:
    for k, v in a.items():
        w = b[k]
        if isinstance(v, float) or isinstance(w, float):
            if v is None or w is None or abs(v - w) > 2e-6:
                return False
        elif v != w:
            return False
    return True


def test_two_screens_crash_outage_restart_then_central_equals_screens(pg, tmp_path, photos):  # noqa: F811
    assert cli("fleet", "init-db", "--database-url", pg.admin_url).returncode == 0
    urls = {}
    for device in SCREENS:
        r = cli("fleet", "add-screen", device, "--database-url", pg.admin_url)
        assert r.returncode == 0, r.stderr
        urls[device] = r.stdout.strip()
    pictures = photos("2008_004176", "t1")
    cfgs, dbs, apps = {}, {}, {}
    for device in SCREENS:
        (tmp_path / device).mkdir()
        cfgs[device] = screen_config(tmp_path / device, device, urls[device], pictures)
        dbs[device] = tmp_path / device / "data" / "signage.db"
    try:
        for device in SCREENS:
            apps[device] = RunningApp(cfgs[device], dbs[device].parent)
        # Both screens play, measure and ship.
        wait_for(
            lambda: all((fleet_status(a)["shipped_rows"] or 0) > 20 for a in apps.values()),
            150,
            "both screens to ship plays and sessions",
        )
        for device in SCREENS:
            engage(apps[device], dbs[device])
        status = apps["shop-a"].get("/api/status")["fleet"]["billing"]
        assert "***" in status["database"] and urls["shop-a"].split(":")[2].split("@")[0] not in str(status)
        # kill -9 shop-a while it ships (it ships every second, so it is at most a second away).
        wait_for(lambda: fleet_status(apps["shop-a"])["outbox_rows"] > 0, 30, "shop-a to have rows to ship", step=0.05)
        apps["shop-a"].proc.send_signal(signal.SIGKILL)
        apps["shop-a"].proc.wait(timeout=10)
        # The centre goes away for a while; shop-b keeps playing and keeps its outbox.
        pg.stop()
        wait_for(lambda: fleet_status(apps["shop-b"])["last_error"], 30, "shop-b to notice the outage")
        wait_for(lambda: fleet_status(apps["shop-b"])["outbox_rows"] > 10, 60, "shop-b's outbox to grow")
        b = urllib.request.urlopen(apps["shop-b"].base + "/metrics", timeout=10).read().decode()
        assert "signage_fleet_ship_error" in b and "signage_fleet_outbox_rows" in b
        engage(apps["shop-b"], dbs["shop-b"])
        backlog = fleet_status(apps["shop-b"])["outbox_rows"]
        pg.start()
        # shop-b drains its backlog by itself (back-off retries), without a restart.
        wait_for(
            lambda: (lambda st: st["last_error"] is None and st["outbox_rows"] < backlog)(fleet_status(apps["shop-b"])),
            60,
            "shop-b to drain its backlog after the outage",
        )
        # Restart everything: shop-a after its crash, shop-b cleanly.
        apps["shop-a"] = RunningApp(cfgs["shop-a"], dbs["shop-a"].parent)
        assert apps["shop-b"].terminate()[0] == 0
        apps["shop-b"] = RunningApp(cfgs["shop-b"], dbs["shop-b"].parent)
        wait_for(
            lambda: all(
                fleet_status(a)["last_error"] is None and fleet_status(a)["last_ship_at"] for a in apps.values()
            ),
            60,
            "both screens to ship again",
        )
        time.sleep(3)
    finally:
        for app in apps.values():
            if app.proc.poll() is None:
                code, _, err = app.terminate()
                assert code == 0, err
    for device in SCREENS:
        r = cli("--config", str(cfgs[device]), "fleet", "ship", "--data-dir", str(dbs[device].parent))
        assert r.returncode == 0, r.stderr
        assert "0 left in the outbox" in r.stdout
        r = cli("--config", str(cfgs[device]), "fleet", "status", "--data-dir", str(dbs[device].parent))
        assert "outbox:          0 rows" in r.stdout and "last error:      none" in r.stdout, r.stdout

    # Central rows equal each screen's rows, table by table.
    for device in SCREENS:
        local, remote = local_rows(dbs[device]), central_rows(pg.admin_url, device)
        assert local["plays"] and local["sessions"] and local["exposures"], f"{device} measured nothing"
        for table in local:
            assert set(local[table]) == set(remote[table]), f"{device}: {table} keys differ"
            bad = [k for k in local[table] if not same(local[table][k], remote[table][k])]
            assert not bad, (
                f"{device}: {len(bad)} {table} rows differ, e.g. screen "
                f"{local[table][bad[0]]} centre {remote[table][bad[0]]}"
                if bad
                else ""
            )
    assert sum(len(local_rows(dbs[d])["ratings"]) for d in SCREENS) >= 1

    # The central campaign report = the sum of the screens' reports (additive) and direct reach.
    additive = ("plays", "completed", "impressions", "watchers", "rating_up", "rating_down", "mobile_visits")
    summed: dict[str, dict] = {}
    local_reach: dict[str, int] = {}

    async def screen_reports() -> None:
        for device in SCREENS:
            store = Store(dbs[device], flush_seconds=60)
            await store.open()
            try:
                for r in await ad_report(store, 0.0):
                    s = summed.setdefault(r["slug"], {k: 0 for k in additive} | {"spend": 0.0, "dwell": 0.0})
                    for k in additive:
                        s[k] += r[k]
                    s["spend"] += r["spend"]
                    s["dwell"] += r["dwell_total_s"]
                    local_reach[r["slug"]] = local_reach.get(r["slug"], 0) + r["reach"]
            finally:
                await store.close()

    asyncio.run(screen_reports())
    with psycopg.connect(pg.admin_url) as c:
        cur = c.execute("SELECT * FROM fleet.campaign_delivery")
        names = [d.name for d in cur.description]
        central = {r["ad_slug"]: r for r in (dict(zip(names, row, strict=False)) for row in cur.fetchall())}
        direct_reach = dict(
            c.execute(
                "SELECT p.ad_slug, COUNT(DISTINCT (x.device_id, x.session_id)) FROM fleet.exposures x "
                "JOIN fleet.plays p ON p.device_id = x.device_id AND p.uuid = x.play_uuid "
                "WHERE p.kind = 'ad' GROUP BY p.ad_slug"
            ).fetchall()
        )
    assert summed and set(central) == set(summed)
    assert any(s["impressions"] for s in summed.values()), "no impressions: the test would prove nothing"
    for slug, s in summed.items():
        c = central[slug]
        for k in additive:
            assert c[k] == s[k], (slug, k, c[k], s[k])
        assert abs(c["spend"] - s["spend"]) < 1e-3 and abs(c["dwell_total_s"] - s["dwell"]) < 1e-2
        assert c["reach_sessions"] == direct_reach.get(slug, 0) == local_reach[slug]
