"""Helpers shared by the admin tests (no tests here): a small stand-in appliance around a real
Store on a real SQLite file, the real aiohttp app from `create_app`, and a logged-in client."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from signage.config import config_from_dict
from signage.events import Hub
from signage.store import Store
from signage.web.admin.auth import hash_password
from signage.web.server import create_app

PASSWORD = "correct horse battery"
#: a cheap hash for tests (the real default is 600,000 iterations)
PASSWORD_HASH = hash_password(PASSWORD, iterations=1000)


class FakeCamera:
    def __init__(self) -> None:
        self.state = "running"

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "source": "photos", "fps": 5.0, "frames": 120, "dropped": 3,
                "error": "" if self.state == "running" else "no frames", "reopens": 0}


class FakeAppliance:
    """The attributes web handlers use (`config hub store camera base_url status()`)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.base_url = "http://192.0.2.10:8080"  # where the server listens (QR codes)
        self.hub = Hub()
        self.store = Store(config.db_path, flush_seconds=60)
        self.camera = FakeCamera()
        self.started_at = time.time()
        self.component_errors: dict[str, str] = {}

    async def status(self) -> dict[str, Any]:
        return {"device": {"id": self.config.device.id, "location": self.config.device.location},
                "uptime_s": round(time.time() - self.started_at, 1), "camera": self.camera.status(),
                "database": await self.store.status(), "errors": dict(self.component_errors)}


def make_config(tmp_path: Path, *, password_hash: str = PASSWORD_HASH, **sections: Any) -> Any:
    raw: dict[str, Any] = {
        "device": {"id": "test-screen", "location": "Lobby, 1st floor"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "ads": {"dir": str(tmp_path / "ads")},
        "admin": {"password_hash": password_hash},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    (tmp_path / "ads").mkdir(exist_ok=True)
    return config_from_dict(raw, base_dir=tmp_path)


async def start(appliance: Any) -> TestClient:
    await appliance.store.open()
    client = TestClient(TestServer(create_app(appliance)))
    await client.start_server()
    return client


async def stop(client: TestClient, appliance: Any) -> None:
    await client.close()
    await appliance.store.close()


def hidden(html: str, name: str) -> str:
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), html)
    assert m, f"no hidden field {name} in page"
    return m.group(1)


async def login(client: TestClient, password: str = PASSWORD) -> str:
    """Log in through the real form; returns the session's CSRF token."""
    r = await client.get("/admin/login")
    token = hidden(await r.text(), "csrf_token")
    r = await client.post("/admin/login", data={"csrf_token": token, "password": password, "next": "/admin"},
                          allow_redirects=False)
    assert r.status == 303, await r.text()
    r = await client.get("/admin")
    assert r.status == 200
    return hidden(await r.text(), "csrf_token")
