"""The real appliance as a process: starts on the photos source, answers /healthz and
/api/status, and shuts down cleanly on SIGTERM leaving an intact database."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, photo_paths: list[Path], **extra: str) -> Path:
    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    for p in photo_paths:
        shutil.copy(p, photos_dir / p.name)
    cfg = tmp_path / "config.toml"
    sections = {
        "camera": f'source = "photos"\nphotos_dir = "{photos_dir}"\nphoto_seconds = 3.0\nfps = 10.0',
        "vision": f'models_dir = "{ROOT / "models"}"',
        "ads": f'dir = "{ROOT / "assets" / "ads"}"\nhealing_dir = "{ROOT / "assets" / "healing"}"',
        "storage": 'flush_seconds = 0.5',
    }
    sections.update(extra)
    cfg.write_text("\n".join(f"[{k}]\n{v}\n" for k, v in sections.items()))
    return cfg


class RunningApp:
    def __init__(self, config: Path, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "signage", "--config", str(config), "run", "--host", "127.0.0.1",
             "--port", "0", "--data-dir", str(data_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.base = None
        deadline = time.time() + 120
        lines = []
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"panel:\s+(http://\S+)/panel", line)
            if m:
                self.base = m.group(1)
                break
        if self.base is None:
            self.proc.kill()
            raise AssertionError("app did not start:\n" + "".join(lines) + self.proc.stderr.read())

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def terminate(self, timeout: float = 15) -> tuple[int, float, str]:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("app did not stop within %ss after SIGTERM" % timeout)
        return self.proc.returncode, time.monotonic() - t0, err


@pytest.fixture
def running_app(tmp_path, photos):
    cfg = write_config(tmp_path, photos("astronaut", "sample1"))
    app = RunningApp(cfg, tmp_path / "data")
    yield app
    if app.proc.poll() is None:
        app.proc.kill()


def test_serves_health_and_status_then_stops_cleanly_on_sigterm(running_app):
    assert running_app.get("/healthz") == {"ok": True}
    deadline = time.time() + 60
    while time.time() < deadline:
        status = running_app.get("/api/status")
        if status["camera"]["state"] == "running":
            break
        time.sleep(0.5)
    assert status["camera"]["state"] == "running", status
    assert status["database"]["state"] == "open"
    assert status["uptime_s"] >= 0
    code, took, err = running_app.terminate()
    assert code == 0, err
    assert took < 10
    assert "Traceback" not in err
    con = sqlite3.connect(running_app.data_dir / "signage.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_two_instances_run_side_by_side(tmp_path, photos):
    apps = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            cfg = write_config(tmp_path / name, [photos("astronaut")])
            apps.append(RunningApp(cfg, tmp_path / name / "data"))
        a, b = apps
        assert a.base != b.base
        assert a.get("/healthz")["ok"] and b.get("/healthz")["ok"]
    finally:
        for app in apps:
            app.terminate()


def test_a_database_from_the_future_stops_start_up_with_a_clear_line(tmp_path, photos):
    data = tmp_path / "data"
    data.mkdir()
    con = sqlite3.connect(data / "signage.db")
    con.execute("PRAGMA user_version=999")
    con.commit()
    con.close()
    cfg = write_config(tmp_path, [photos("astronaut")])
    proc = subprocess.run([sys.executable, "-m", "signage", "--config", str(cfg), "run", "--port", "0",
                           "--data-dir", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "newer than this signage release knows" in proc.stderr
    assert "Traceback" not in proc.stderr
