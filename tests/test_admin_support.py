"""Helpers shared by the web tests (no tests here): the real `Appliance` on a real SQLite
file, the real aiohttp app from `create_app`, and a logged-in client.

`start()` opens the appliance's store and serves the app; the appliance's moving parts
(camera, vision, player, audience reaper) are not started unless a test starts them, so what
the database holds is what the test wrote.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from signage.app import Appliance
from signage.config import Config, config_from_dict
from signage.web.admin.auth import hash_password
from signage.web.server import create_app

PASSWORD = "correct horse battery"
#: a cheap hash for tests (the real default is 600,000 iterations)
PASSWORD_HASH = hash_password(PASSWORD, iterations=1000)


def make_config(tmp_path: Path, *, password_hash: str = PASSWORD_HASH, **sections: Any) -> Config:
    raw: dict[str, Any] = {
        "device": {"id": "test-screen", "location": "Lobby, 1st floor"},
        # a long flush period: what a test writes through the player is flushed by the test
        "storage": {"data_dir": str(tmp_path / "data"), "flush_seconds": 60.0},
        "ads": {"dir": str(tmp_path / "ads")},
        "admin": {"password_hash": password_hash},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    (tmp_path / "ads").mkdir(exist_ok=True)
    return config_from_dict(raw, base_dir=tmp_path)


async def start(appliance: Appliance) -> TestClient:
    await appliance.store.open()
    client = TestClient(TestServer(create_app(appliance)))
    await client.start_server()
    return client


async def stop(client: TestClient, appliance: Appliance) -> None:
    await client.close()
    await appliance.store.close()


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert m, f"no hidden field {name} in page"
    return m.group(1)


async def login(client: TestClient, password: str = PASSWORD) -> str:
    """Log in through the real form; returns the session's CSRF token."""
    r = await client.get("/admin/login")
    token = hidden(await r.text(), "csrf_token")
    r = await client.post(
        "/admin/login", data={"csrf_token": token, "password": password, "next": "/admin"}, allow_redirects=False
    )
    assert r.status == 303, await r.text()
    r = await client.get("/admin")
    assert r.status == 200
    return hidden(await r.text(), "csrf_token")
