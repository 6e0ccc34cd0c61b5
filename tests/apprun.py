"""Run the real appliance as a separate process, the way `./scripts/run` does."""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: every appliance process started here: any left running when the test process ends (a test
#: that failed before it stopped them all) is killed, so it cannot eat the CPU of later runs
_STARTED: list[subprocess.Popen] = []


@atexit.register
def _kill_leftovers() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
        "storage": "flush_seconds = 0.5",
    }
    sections.update(extra)
    cfg.write_text("\n".join(f"[{k}]\n{v}\n" for k, v in sections.items()))
    return cfg


class RunningApp:
    def __init__(self, config: Path, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        # stdout and stderr to files, not pipes: nobody reads a pipe while the app runs (a full
        # one blocks it), and a killed app's pipe would be left open
        n = 0
        while (config.parent / f"app-stderr-{n}.log").exists():
            n += 1
        self.stderr_path = config.parent / f"app-stderr-{n}.log"
        self.stdout_path = config.parent / f"app-stdout-{n}.log"
        with open(self.stderr_path, "w") as stderr, open(self.stdout_path, "w") as stdout:
            self.proc = subprocess.Popen(  # the child keeps its own descriptors
                [
                    sys.executable,
                    "-m",
                    "signage",
                    "--config",
                    str(config),
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--data-dir",
                    str(data_dir),
                ],
                cwd=ROOT,
                stdout=stdout,
                stderr=stderr,
                text=True,
                env={**os.environ, **(env or {})},
            )
        _STARTED.append(self.proc)
        self.base = None
        deadline = time.time() + 120
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r"panel:\s+(http://\S+)/panel", self.stdout_path.read_text(errors="replace"))
            if m:
                self.base = m.group(1)
                break
            time.sleep(0.1)
        if self.base is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("app did not start:\n" + self.stdout_path.read_text() + self.stderr())

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def terminate(self, timeout: float = 15) -> tuple[int, float, str]:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"app did not stop within {timeout}s after SIGTERM") from None
        return self.proc.returncode, time.monotonic() - t0, self.stderr()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def status_until(self, check, timeout: float = 60.0, what: str = "condition") -> dict:
        """Poll /api/status until `check(status)` is true; the last status."""
        deadline = time.time() + timeout
        status = {}
        while time.time() < deadline:
            status = self.get("/api/status")
            if check(status):
                return status
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}: {json.dumps(status)[:2000]}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


ADMIN_PASSWORD = "soak-and-fault-tests"


def admin_section() -> str:
    """An [admin] config section with ADMIN_PASSWORD (few PBKDF2 iterations: tests only)."""
    from signage.web.admin.auth import MIN_ITERATIONS, hash_password

    return f'password_hash = "{hash_password(ADMIN_PASSWORD, iterations=MIN_ITERATIONS)}"'


async def admin_login(http, base: str) -> str:
    """Log in through the real form with an aiohttp ClientSession; the session's CSRF token."""

    def hidden(html: str, name: str) -> str:
        m = re.search(rf'name="{name}" value="([^"]+)"', html)
        assert m, f"no hidden field {name}"
        return m.group(1)

    async with http.get(base + "/admin/login") as r:
        token = hidden(await r.text(), "csrf_token")
    async with http.post(
        base + "/admin/login",
        data={"csrf_token": token, "password": ADMIN_PASSWORD, "next": "/admin"},
        allow_redirects=False,
    ) as r:
        assert r.status == 303, await r.text()
    async with http.get(base + "/admin/photo") as r:
        assert r.status == 200
        return hidden(await r.text(), "csrf_token")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmHWM")
