"""Fleet billing plane against a real PostgreSQL: `fleet init-db` / `add-screen`, row-level
security per screen, the transactional outbox and the shipper (idempotent, offline-safe)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from signage.config import default_config
from signage.fleet import central
from signage.fleet.link import prepare_store
from signage.fleet.shipper import ShipError, Shipper
from signage.retention import purge
from signage.store import Store

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "signage", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def centre(pg):
    """The central schema made by the real command, and two screens' URLs."""
    r = cli("fleet", "init-db", "--database-url", pg.admin_url)
    assert r.returncode == 0, r.stderr
    urls = {}
    for device in ("shop-1", "shop-2"):
        r = cli("fleet", "add-screen", device, "--database-url", pg.admin_url)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.splitlines()) == 1, "the URL must be the only line on stdout"
        urls[device] = r.stdout.strip()
    return urls


def screen_config(tmp_path: Path, device: str, url: str, **fleet):
    cfg = default_config(tmp_path)
    return dataclasses.replace(
        cfg,
        device=dataclasses.replace(cfg.device, id=device),
        storage=dataclasses.replace(cfg.storage, data_dir=tmp_path / "data"),
        fleet=dataclasses.replace(cfg.fleet, database_url=url, **fleet),
    )


async def write_activity(store: Store, play_id: int, session: str, t: float) -> None:
    """Rows written the way the player, the audience and the mobile pages write them."""
    store.enqueue(
        "INSERT INTO plays (id, ad_id, kind, token, started_at, decision) VALUES (?, NULL, 'ad', ?, ?, '{}')",
        (play_id, f"tok{play_id}", t),
    )
    store.enqueue(
        "INSERT OR REPLACE INTO sessions (id, started_at, ended_at, dwell_s, attention_s, age_group, "
        "gender, mood, age_group_p, gender_p, mood_p, mask_p) VALUES (?, ?, ?, 4, 2, '20-39', 'female', "
        "'happy', '{}', '{}', '{\"happy\": 0.9}', NULL)",
        (session, t, t + 4),
    )
    store.enqueue(
        "INSERT OR REPLACE INTO exposures (play_id, session_id, present_s, watching_s) VALUES (?, ?, 3.5, 1.5)",
        (play_id, session),
    )
    store.enqueue(
        "UPDATE plays SET ended_at = ?, completed = 1, impressions = 1, watchers = 1, spend = 0.02, "
        "audience = '{\"ots\": 1}' WHERE id = ?",
        (t + 10, play_id),
    )
    await store.flush()
    await store.execute(
        "INSERT OR IGNORE INTO ratings (play_id, value, source, device, created_at) "
        "VALUES (?, 1, 'mobile', 'phone-cookie', ?)",
        (play_id, t + 11),
    )
    await store.execute("INSERT INTO mobile_visits (play_id, created_at) VALUES (?, ?)", (play_id, t + 12))


def central_count(pg, table: str, device: str) -> int:
    with psycopg.connect(pg.admin_url) as c:
        return c.execute(f"SELECT COUNT(*) FROM fleet.{table} WHERE device_id = %s", (device,)).fetchone()[0]


async def test_a_screen_cannot_write_another_screens_rows_nor_read(centre):
    row = (
        "INSERT INTO fleet.mobile_visits (device_id, uuid, play_uuid, created_at) "
        "VALUES (%s, gen_random_uuid(), gen_random_uuid(), now())"
    )
    with psycopg.connect(centre["shop-1"], autocommit=True) as c:
        c.execute(row, ("shop-1",))  # its own rows: allowed
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            c.execute(row, ("shop-2",))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM fleet.plays")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM fleet.mobile_visits")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE fleet.settings SET value = '3650'")


async def test_init_db_is_idempotent_and_refuses_a_newer_schema_untouched(pg, centre):
    r = cli("fleet", "init-db", "--database-url", pg.admin_url)
    assert r.returncode == 0 and "version 1 (was 1)" in r.stdout, r.stderr
    with psycopg.connect(pg.admin_url, autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS newer")
        c.execute("CREATE DATABASE newer")
    newer = pg.admin_url.rsplit("/", 1)[0] + "/newer"
    central.init_db(newer)
    with psycopg.connect(newer, autocommit=True) as c:
        c.execute("UPDATE fleet.schema_version SET version = 99")
        c.execute("DROP VIEW fleet.campaign_delivery")
    r = cli("fleet", "init-db", "--database-url", newer)
    assert r.returncode == 1 and "newer than this signage release" in r.stderr
    assert "admin-secret" not in r.stderr + r.stdout
    with psycopg.connect(newer) as c:  # untouched: the dropped view was not re-created
        assert c.execute("SELECT to_regclass('fleet.campaign_delivery')").fetchone()[0] is None


async def test_outbox_rows_ship_once_even_when_sent_twice(pg, centre, tmp_path):
    cfg = screen_config(tmp_path, "shop-2", centre["shop-2"])
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        t = time.time() - 100
        for i in range(3):
            await write_activity(store, i + 1, f"sess{i}", t + i * 20)
        outbox = await store.fetchall("SELECT * FROM outbox ORDER BY seq")
        assert [r["kind"] for r in outbox].count("play") == 3  # ended plays only, once each
        assert {r["kind"] for r in outbox} == {"play", "exposure", "session", "rating", "mobile_visit"}
        assert all(r["device_id"] == "shop-2" for r in outbox)
        assert "phone-cookie" not in json.dumps(outbox)  # the phone's id stays on the screen
        shipper = Shipper(store, cfg.fleet)
        assert await shipper.ship_pending() == len(outbox)
        assert await store.scalar("SELECT COUNT(*) FROM outbox") == 0
        # A crash after the central COMMIT but before the local DELETE re-sends the batch.
        for r in outbox:
            await store.execute(
                "INSERT INTO outbox (kind, device_id, clock_synced, created_at, payload) VALUES (?, ?, ?, ?, ?)",
                (r["kind"], r["device_id"], r["clock_synced"], r["created_at"], r["payload"]),
            )
        assert await shipper.ship_pending() == len(outbox)
        await shipper.stop()
        for table, n in (("plays", 3), ("sessions", 3), ("exposures", 3), ("ratings", 3), ("mobile_visits", 3)):
            assert central_count(pg, table, "shop-2") == n, table
        local = await store.fetchall("SELECT uuid, started_at, ended_at, spend FROM plays ORDER BY uuid")
        with psycopg.connect(pg.admin_url) as c:
            remote = c.execute(
                "SELECT uuid::text, extract(epoch FROM started_at)::float8, "
                "extract(epoch FROM ended_at)::float8, spend FROM fleet.plays "
                "WHERE device_id = 'shop-2' ORDER BY uuid"
            ).fetchall()
        assert [r["uuid"] for r in local] == [r[0] for r in remote]
        for lr, rr in zip(local, remote, strict=False):
            assert abs(lr["started_at"] - rr[1]) < 1e-5 and abs(lr["ended_at"] - rr[2]) < 1e-5
            assert lr["spend"] == rr[3]
    finally:
        await store.close()


async def test_offline_keeps_the_outbox_and_never_shows_the_password(tmp_path, free_port):
    url = f"postgresql://screen_x:very-secret-pw@127.0.0.1:{free_port}/fleet"
    cfg = screen_config(tmp_path, "shop-x", url, connect_timeout_s=2)
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        await write_activity(store, 1, "s1", time.time())
        before = await store.scalar("SELECT COUNT(*) FROM outbox")
        shipper = Shipper(store, cfg.fleet)
        with pytest.raises(ShipError) as err:
            await shipper.ship_pending()
        assert "very-secret-pw" not in str(err.value)
        assert await store.scalar("SELECT COUNT(*) FROM outbox") == before > 0
        status = await shipper.status()
        assert status["state"] == "error" and status["outbox_rows"] == before
        assert "very-secret-pw" not in json.dumps(status)
    finally:
        await store.close()
    r = cli("--config", str(write_toml(tmp_path, url)), "fleet", "status", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 0, r.stderr
    assert f"outbox:          {before} rows" in r.stdout and "very-secret-pw" not in r.stdout
    r = cli("--config", str(write_toml(tmp_path, url)), "fleet", "ship", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 1 and "outbox is intact" in r.stderr and "very-secret-pw" not in r.stderr


def write_toml(tmp_path: Path, url: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f'[device]\nid = "shop-x"\n[fleet]\ndatabase_url = "{url}"\nconnect_timeout_s = 2\n')
    return p


async def test_a_full_outbox_counts_what_it_drops(tmp_path):
    cfg = screen_config(tmp_path, "shop-x", "postgresql://u:p@127.0.0.1:1/db", outbox_max_rows=100)
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        for i in range(30):  # 5 outbox rows each
            await write_activity(store, i + 1, f"s{i}", time.time())
        assert await store.scalar("SELECT COUNT(*) FROM outbox") == 100
        assert await store.scalar("SELECT value FROM meta WHERE key = 'fleet.outbox_dropped'") == "50"
        assert await store.scalar("SELECT COUNT(*) FROM plays") == 30  # the screen's own data is whole
        status = await Shipper(store, cfg.fleet).status()
        assert status["outbox_full"] and status["state"] == "full" and status["outbox_dropped"] == 50
    finally:
        await store.close()


async def test_a_lone_screen_writes_no_outbox_rows(tmp_path):
    cfg = default_config(tmp_path)
    cfg = dataclasses.replace(cfg, storage=dataclasses.replace(cfg.storage, data_dir=tmp_path / "data"))
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        # even a database that was once in a fleet stops recording when [fleet] is gone
        await store.execute("INSERT INTO meta VALUES ('fleet.device_id', 'old')")
        await prepare_store(store, cfg)
        await write_activity(store, 1, "s1", time.time())
        assert await store.scalar("SELECT COUNT(*) FROM outbox") == 0
        assert await store.scalar("SELECT uuid FROM plays") is not None  # fleet-wide keys all the same
    finally:
        await store.close()


async def test_retention_says_when_it_deletes_unshipped_rows(tmp_path, caplog):
    cfg = screen_config(tmp_path, "shop-x", "postgresql://u:p@127.0.0.1:1/db")
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        old = time.time() - 40 * 86400
        await write_activity(store, 1, "s1", old)
        await store.execute("UPDATE outbox SET created_at = ?", (old,))  # written 40 days ago
        result = await purge(store, 30)
        assert result.unshipped_deleted == 2  # the session and its exposure
        assert "never shipped" in caplog.text
        kinds = sorted(r["kind"] for r in await store.fetchall("SELECT kind FROM outbox"))
        assert kinds == ["mobile_visit", "play", "rating"]  # proof of play is never dropped
    finally:
        await store.close()


async def test_status_metrics_and_live_view_show_the_outbox_never_the_password(tmp_path):
    from signage.app import Appliance
    from signage.web.admin.live import live_data
    from signage.web.metrics import render_metrics

    url = "postgresql://screen_x:very-secret-pw@127.0.0.1:1/fleet"
    cfg = screen_config(tmp_path, "shop-x", url)
    cfg = dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, models_dir=ROOT / "models"))
    appliance = Appliance(cfg)  # not started: no camera, no models; the store is real
    await appliance.store.open()
    try:
        await prepare_store(appliance.store, cfg)
        await write_activity(appliance.store, 1, "s1", time.time())
        status = await appliance.status()
        billing = status["fleet"]["billing"]
        assert billing["outbox_rows"] == 5 and billing["last_ship_at"] is None
        assert billing["database"] == "postgresql://screen_x:***@127.0.0.1:1/fleet"
        live = await live_data(appliance)
        assert live["fleet"]["billing"]["outbox_rows"] == 5
        text = await render_metrics(appliance)
        assert 'signage_fleet_outbox_rows{device="shop-x",location=""} 5' in text
        assert "signage_fleet_last_ship_timestamp_seconds" in text
        for shown in (json.dumps(status), json.dumps(live, default=str), text):
            assert "very-secret-pw" not in shown
    finally:
        await appliance.store.close()


@pytest.mark.parametrize(
    "fleet, message",
    [
        ({"database_url": "mysql://u:hunter2pw@h/db"}, "must look like postgresql://"),
        ({"database_url": "postgresql://u:hunter2pw@h:notaport/db"}, "not a URL"),
        ({"database_url": "postgresql://u:hunter2pw@host"}, "must look like postgresql://"),
        ({"content_url": "ftp://cdn/x"}, "must be an http:// or https:// URL"),
        ({"group": "shop floor"}, "fleet.group"),
        ({"ship_interval_s": 0}, "between 1 and 86400"),
    ],
)
def test_fleet_keys_are_checked_and_the_password_never_echoed(fleet, message):
    from signage.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match=message) as err:
        config_from_dict({"fleet": fleet})
    assert "hunter2pw" not in str(err.value)


def test_a_valid_fleet_section_loads():
    from signage.config import config_from_dict

    cfg = config_from_dict(
        {
            "fleet": {
                "database_url": "postgresql://screen_a:pw@db.example:5432/fleet?sslmode=require",
                "content_url": "https://cdn.example/signage",
                "group": "canary",
            }
        }
    )
    assert cfg.fleet.shipping and cfg.fleet.pulling and cfg.fleet.group == "canary"
    assert not config_from_dict({}).fleet.shipping  # a lone screen by default


async def test_step_4_gives_existing_history_fleet_keys_without_losing_a_row(tmp_path):
    import sqlite3

    from signage.store import schema

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    for version, script in schema.MIGRATIONS:
        if version <= 3:
            con.executescript(script)
    con.execute("PRAGMA user_version=3")
    con.execute(
        "INSERT INTO ads (id, slug, title, media, media_type, duration_s, updated_at, source_sha256) "
        "VALUES (1, 'cafe', 'Cafe', 'a.jpg', 'image', 5, 0, 'feed')"
    )
    for i in range(1, 4):
        con.execute(
            "INSERT INTO plays (id, ad_id, kind, started_at, ended_at) VALUES (?, 1, 'ad', ?, ?)", (i, i, i + 1)
        )
        con.execute(
            "INSERT INTO ratings (play_id, value, source, device, created_at) VALUES (?, 1, 'panel', '', ?)", (i, i)
        )
        con.execute("INSERT INTO mobile_visits (play_id, created_at) VALUES (?, ?)", (i, i))
    con.commit()
    con.close()
    store = Store(path, flush_seconds=60)
    await store.open()
    try:
        plays = await store.fetchall("SELECT id, uuid, ad_slug, ad_sha256 FROM plays ORDER BY id")
        assert [p["id"] for p in plays] == [1, 2, 3]
        assert len({p["uuid"] for p in plays}) == 3
        assert all(
            re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", p["uuid"])
            for p in plays
        )
        assert {(p["ad_slug"], p["ad_sha256"]) for p in plays} == {("cafe", "feed")}
        for table in ("ratings", "mobile_visits"):
            uuids = [r["uuid"] for r in await store.fetchall(f"SELECT uuid FROM {table}")]
            assert len(uuids) == 3 and len(set(uuids)) == 3 and None not in uuids
        assert await store.scalar("SELECT COUNT(*) FROM outbox") == 0  # history is not shipped by itself
    finally:
        await store.close()


async def test_a_row_the_centre_refuses_is_set_aside_and_does_not_block_the_others(pg, centre, tmp_path):
    cfg = screen_config(tmp_path, "shop-1", centre["shop-1"])
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        await write_activity(store, 1, "refuse-a", time.time())
        # A row whose data the centre's constraints refuse (here: a kind it does not know).
        bad = json.loads(await store.scalar("SELECT payload FROM outbox WHERE kind = 'play'"))
        bad.update(uuid="00000000-0000-4000-8000-000000000001", kind="billboard")
        await store.execute(
            "INSERT INTO outbox (kind, device_id, clock_synced, created_at, payload) "
            "VALUES ('play', 'shop-1', 1, ?, ?)",
            (time.time(), json.dumps(bad)),
        )
        await write_activity(store, 2, "refuse-b", time.time())
        before = central_count(pg, "plays", "shop-1")
        shipper = Shipper(store, cfg.fleet)
        assert await shipper.ship_pending() == 10  # both activities, 5 rows each
        await shipper.stop()
        assert central_count(pg, "plays", "shop-1") == before + 2
        left = await store.fetchall("SELECT kind, refused FROM outbox")
        assert len(left) == 1 and "check constraint" in left[0]["refused"]
        status = await shipper.status()
        assert status["outbox_refused"] == 1 and status["last_error"] is None
        assert await shipper.ship_pending() == 0  # not resent
    finally:
        await store.close()


async def test_rows_written_before_the_clock_was_set_ship_flagged(pg, centre, tmp_path):
    """A Pi without RTC may write 1970 times before NTP: they land in the default partition."""
    cfg = screen_config(tmp_path, "shop-1", centre["shop-1"])
    store = Store(cfg.db_path, flush_seconds=60)
    await store.open()
    try:
        await prepare_store(store, cfg)
        await store.execute("UPDATE meta SET value = '0' WHERE key = 'clock.synced'")
        await write_activity(store, 1, "s-1970", 100.0)
        shipper = Shipper(store, cfg.fleet)
        assert await shipper.ship_pending() == 5
        await shipper.stop()
        with psycopg.connect(pg.admin_url) as c:
            row = c.execute(
                "SELECT tableoid::regclass::text, clock_synced FROM fleet.sessions WHERE session_id = 's-1970'"
            ).fetchone()
        assert row == ("fleet.sessions_default", False)
    finally:
        await store.close()
