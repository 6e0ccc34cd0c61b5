"""First run: the commands we suggest work when pasted, `set-password` checks its rules before
asking twice, and a password set while the appliance runs counts at the next login without a
restart (admins already logged in stay logged in)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from signage.app import Appliance
from signage.commands import python_command, signage_command
from signage.config import load_config
from signage.web.admin.auth import hash_password
from signage.web.admin.cli import write_password_hash
from test_admin_support import hidden, login, start, stop

ROOT = Path(__file__).resolve().parents[1]


def test_suggested_commands_name_the_interpreter_that_works(tmp_path):
    venv_python = Path(sys.executable)
    # from the folder the interpreter lives below: a relative path, as a person would type it
    base = venv_python.parents[2]
    assert python_command(base) == str(venv_python.relative_to(base))
    assert python_command(tmp_path) == str(venv_python)  # elsewhere: the full path
    assert signage_command("set-password", cwd=ROOT) == f"{python_command(ROOT)} -m signage set-password"
    assert signage_command("set-password", config_file=ROOT / "config.toml", cwd=ROOT).endswith(
        "-m signage set-password"
    )
    other = signage_command("set-password", config_file=tmp_path / "my screen.toml", cwd=ROOT)
    assert f"--config '{tmp_path / 'my screen.toml'}' set-password" in other
    assert signage_command("run", cwd=ROOT, with_cd=True).startswith(f"cd {ROOT} && ")


def test_the_suggested_command_runs_as_pasted(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[device]\nid = "a"\n')
    line = signage_command("check-config", config_file=cfg, cwd=ROOT, with_cd=True)
    proc = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (line, proc.stderr)
    assert "OK" in proc.stdout


def _read_until(fd: int, wanted: str, timeout: float = 60.0) -> str:
    seen = ""
    end = time.monotonic() + timeout
    while wanted not in seen:
        left = end - time.monotonic()
        assert left > 0, f"timed out waiting for {wanted!r}; saw {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096).decode("utf-8", "replace")
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_set_password_says_the_rule_before_asking_twice(tmp_path):
    """On a terminal: a short password is refused at once (no "Repeat it"), then a good one
    is asked twice and written."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[device]\nid = "a"\n')
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "signage", "--config", str(cfg), "set-password", "--iterations", "1000"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        close_fds=True,
    )
    os.close(follower)
    try:
        out = _read_until(leader, "New admin password:")
        assert "at least 10 characters" in out
        os.write(leader, b"short\n")
        out = _read_until(leader, "New admin password:")
        assert "at least 10 characters (this one has 5); try again" in out
        assert "Repeat" not in out
        os.write(leader, b"a long enough password\n")
        _read_until(leader, "Repeat it:")
        os.write(leader, b"a long enough password\n")
        out = _read_until(leader, "without a restart")
        assert proc.wait(60) == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    from signage.web.admin.auth import verify_password

    assert verify_password("a long enough password", load_config(cfg).admin.password_hash)


async def test_a_password_set_while_running_counts_without_a_restart(tmp_path):
    cfg_file = tmp_path / "config.toml"
    (tmp_path / "ads").mkdir()
    cfg_file.write_text('[device]\nid = "lobby"\n[ads]\ndir = "ads"\n[storage]\ndata_dir = "data"\n')
    appliance = Appliance(load_config(cfg_file))
    client = await start(appliance)
    try:
        r = await client.get("/admin")
        assert r.status == 503
        page = await r.text()
        assert f"-m signage --config {cfg_file} set-password" in page  # names the file this screen reads
        # set-password runs while the appliance runs: the next page asks for the password
        write_password_hash(cfg_file, hash_password("first password!", iterations=1000))
        r = await client.get("/admin")
        assert r.status == 401 and "Please log in" in await r.text()
        await login(client, "first password!")
        # a second change: this session stays, the new password logs in, the old one no more
        write_password_hash(cfg_file, hash_password("second password!", iterations=1000))
        r = await client.get("/admin/reports")
        assert r.status == 200
        r = await client.get("/admin/login")
        assert r.status in (200, 303)
        import aiohttp

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:  # another browser
            url = lambda p: str(client.make_url(p))  # noqa: E731
            async with other.get(url("/admin/login")) as r:
                token = hidden(await r.text(), "csrf_token")
            origin = {"Origin": url("/").rstrip("/")}
            async with other.post(
                url("/admin/login"),
                data={"csrf_token": token, "password": "first password!"},
                allow_redirects=False,
                headers=origin,
            ) as r:
                assert r.status == 401
            async with other.post(
                url("/admin/login"),
                data={"csrf_token": token, "password": "second password!"},
                allow_redirects=False,
                headers=origin,
            ) as r:
                assert r.status == 303
        r = await client.get("/admin/reports")
        assert r.status == 200  # the first admin was never logged out
    finally:
        await stop(client, appliance)
