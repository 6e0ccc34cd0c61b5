"""A real PostgreSQL for tests: Debian's binaries (`initdb` + `pg_ctl`) on a free loopback port in
a temporary folder, with password (SCRAM) authentication so a screen's URL really logs in.

PostgreSQL refuses to run as root: under root the cluster belongs to the `postgres` system user
(created by Debian's package) and its folder lives outside pytest's root-only tmp folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]
ADMIN_PASSWORD = "admin-secret-for-tests"


def pg_bin(name: str) -> str:
    for d in BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(
        f"PostgreSQL's {name} not found: apt-get install postgresql (./scripts/test does it as root)", pytrace=False
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="signage-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            shutil.chown(self.root, user="postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self.user:
            shutil.chown(pwfile, user="postgres")
        self._run(
            [
                pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ]
        )
        pwfile.unlink()
        self.start()

    def _run(self, cmd: list[str]) -> None:
        r = subprocess.run(cmd, user=self.user, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {r.stdout}\n{r.stderr}")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres:{ADMIN_PASSWORD}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} -c fsync=off"
        self._run(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        self._run([pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def running(self) -> bool:
        return (
            subprocess.run(
                [pg_bin("pg_ctl"), "-D", str(self.data), "status"], user=self.user, capture_output=True
            ).returncode
            == 0
        )

    def destroy(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def wait_for(predicate, timeout: float, what: str, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def pg():
    """A running PostgreSQL for one test module (import this fixture into the module)."""
    server = PgServer()
    try:
        yield server
    finally:
        server.destroy()
