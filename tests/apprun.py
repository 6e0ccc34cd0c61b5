"""Run the real appliance as a separate process, the way `./scripts/run` does."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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
            raise AssertionError(f"app did not stop within {timeout}s after SIGTERM") from None
        return self.proc.returncode, time.monotonic() - t0, err


