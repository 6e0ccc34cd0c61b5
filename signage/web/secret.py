"""The web server's signing secret, kept in the data folder so it outlives a restart.

Two things are signed with it: the phones' device cookies (one vote per play per device) and
the keys the kiosk's /panel page gets for `/api/panel/*`. Were it made afresh at every start,
a restart (a power cut, the watchdog, an update) would let every phone vote again and would
leave an open panel holding a key nobody accepts.

The file holds 32 random bytes, hex, mode 0600, written atomically. Each use gets its own key
derived from it (`derive`), so a cookie signature can never pass as a panel key. When the data
folder cannot be written (the appliance runs degraded, issue 10), the secret lives in memory
only for this run and the log says so: votes and panels still work until the next start.
Deleting the file revokes every cookie and panel key at the next start.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["SECRET_FILE", "load_secret", "derive"]

SECRET_FILE = "web-secret"
_SECRET_BYTES = 32


def _read(path: Path) -> bytes | None:
    try:
        raw = path.read_text(encoding="ascii").strip()
        value = bytes.fromhex(raw)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeError) as exc:
        log.warning("web secret %s is unreadable (%s): making a new one", path, exc)
        return None
    if len(value) < _SECRET_BYTES:
        log.warning("web secret %s is too short: making a new one", path)
        return None
    return value


def _write(path: Path, value: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_secret(data_dir: Path) -> bytes:
    """The secret in `data_dir/web-secret`, made on first use. Never raises: a folder that
    cannot be written gives a secret for this run only (logged)."""
    path = Path(data_dir) / SECRET_FILE
    value = _read(path)
    if value is not None:
        return value
    value = secrets.token_bytes(_SECRET_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, value)
    except OSError as exc:
        log.warning(
            "cannot keep the web secret in %s (%s): phones may vote again and panels reload their "
            "key after the next restart",
            path,
            exc.strerror or exc,
        )
    return value


def derive(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose ("device-cookie", "panel-key"), independent of the others."""
    return hmac.new(secret, purpose.encode("ascii"), hashlib.sha256).digest()
