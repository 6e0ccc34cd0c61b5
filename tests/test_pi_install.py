"""The Raspberry Pi installer and its files: `install-pi --dry-run`, the systemd unit, shellcheck.

The tools (systemd-analyze, shellcheck: `apt-get install systemd shellcheck`) are skipped when
absent on a developer's machine, but required under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "scripts" / "pi" / "signage.service"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (apt-get install {name}); CI needs it")
        pytest.skip(f"{name} is not installed")
    return path


def _shell_scripts() -> list[Path]:
    """Every tracked shell script: *.sh and files whose first line names bash or sh."""
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    scripts = []
    for name in out.split():
        p = ROOT / name
        if not p.is_file():
            continue
        if p.suffix == ".sh":
            scripts.append(p)
            continue
        with open(p, "rb") as fh:
            first = fh.readline(200)
        if first.startswith(b"#!") and (b"bash" in first or first.rstrip().endswith(b"/sh")):
            scripts.append(p)
    return scripts


def test_install_pi_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    unit_path = Path("/etc/systemd/system/signage.service")
    before = unit_path.stat().st_mtime_ns if unit_path.exists() else None
    venv_stat = (ROOT / ".venv").stat().st_mtime_ns
    env = {**os.environ, "SUDO_USER": "nobody"}
    r = subprocess.run(
        [str(ROOT / "scripts" / "install-pi"), "--dry-run", "--port", "8099"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for expected in (
        "+ apt-get update",
        "python3-picamera2",
        "chromium",
        "SIGNAGE_SYSTEM_SITE_PACKAGES=1",
        "setup_venv ''",
        "check-config",
        "> /etc/systemd/system/signage.service",
        "systemctl daemon-reload",
        "systemctl enable --now signage.service",
        "signage-kiosk.desktop",
        "kiosk.sh",
        "http://localhost:8099/panel",
        "nothing was changed",
    ):
        assert expected in out, f"{expected!r} missing from the dry run:\n{out}"
    # the steps come in the documented order
    order = [
        out.index(s)
        for s in ("== apt packages", "== virtual environment", "== systemd service", "== kiosk browser at login")
    ]
    assert order == sorted(order)
    after = unit_path.stat().st_mtime_ns if unit_path.exists() else None
    assert after == before
    assert (ROOT / ".venv").stat().st_mtime_ns == venv_stat
    assert not (Path("/nonexistent") / ".config").exists()


def test_install_pi_refuses_unknown_option():
    r = subprocess.run(
        [str(ROOT / "scripts" / "install-pi"), "--dry-run", "--bogus"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2
    assert "unknown option: --bogus" in r.stderr


def _render_unit(tmp_path: Path, text: str | None = None) -> Path:
    import getpass

    text = UNIT.read_text() if text is None else text
    text = text.replace("@ROOT@", str(ROOT)).replace("@USER@", getpass.getuser()).replace("@PORT@", "8080")
    dest = tmp_path / "signage.service"
    dest.write_text(text)
    return dest


def _verify(unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("systemd-analyze"), "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs .venv (ExecStart must exist)")
    r = _verify(_render_unit(tmp_path))
    # systemd-analyze exits 0 even for keys it ignores: any message about the unit is a failure
    messages = [line for line in (r.stdout + r.stderr).splitlines() if "signage.service" in line]
    assert r.returncode == 0 and not messages, r.stdout + r.stderr


def test_systemd_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a bad value is reported."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("needs .venv (ExecStart must exist)")
    broken = UNIT.read_text().replace("RestartSec=3", "RestartSec=soon")
    assert broken != UNIT.read_text()
    r = _verify(_render_unit(tmp_path, broken))
    assert "RestartSec" in r.stdout + r.stderr or "sec value" in r.stdout + r.stderr


def test_shell_scripts_pass_shellcheck():
    shellcheck = _tool("shellcheck")
    scripts = _shell_scripts()
    names = {p.relative_to(ROOT).as_posix() for p in scripts}
    assert {"scripts/install-pi", "scripts/check-arm64", "scripts/_setup.sh", ".ci/run"} <= names
    # .shellcheckrc at the repository root holds the project's settings
    r = subprocess.run([shellcheck, *map(str, scripts)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
