"""Photo check: real photos through the real models; nothing is written anywhere."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from test_admin_support import FakeAppliance, login, make_config, start, stop

ROOT_MODELS = __import__("pathlib").Path(__file__).resolve().parents[1] / "models"


@pytest.fixture
async def env(tmp_path):
    appliance = FakeAppliance(make_config(tmp_path, vision={"models_dir": str(ROOT_MODELS)}))
    client = await start(appliance)
    csrf = await login(client)
    yield client, appliance, csrf, tmp_path
    await stop(client, appliance)


def form(csrf, data, name="photo.jpg", with_csrf=True):
    f = aiohttp.FormData()
    if with_csrf:
        f.add_field("csrf_token", csrf)
    f.add_field("photo", data, filename=name, content_type="image/jpeg")
    return f


def files_under(path):
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("signage.db"))


async def test_one_face_is_drawn_and_nothing_is_stored(env, photos):
    client, _, csrf, tmp_path = env
    before = files_under(tmp_path)
    r = await client.post("/admin/photo", data=form(csrf, photos("astronaut").read_bytes()))
    html = await r.text()
    assert r.status == 200, html
    assert "1 face found" in html and 'src="data:image/jpeg;base64,' in html
    assert "No face found" not in html and "More than one face" not in html
    assert 'id="faces-table"' in html and ("female" in html or "male" in html)
    assert files_under(tmp_path) == before
    assert r.headers["Cache-Control"] == "no-store"


async def test_group_and_no_face_messages(env, photos):
    client, _, csrf, _ = env
    r = await client.post("/admin/photo", data=form(csrf, photos("2007_007763").read_bytes()))
    html = await r.text()
    assert r.status == 200 and "More than one face" in html
    r = await client.post("/admin/photo", data=form(csrf, photos("dogs").read_bytes()))
    assert r.status == 200 and "No face found" in await r.text()
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buf, "PNG")
    r = await client.post("/admin/photo", data=form(csrf, buf.getvalue(), "grey.png"))
    assert r.status == 200 and "No face found" in await r.text()


async def test_bad_uploads_are_refused(env):
    client, _, csrf, _ = env
    r = await client.post("/admin/photo", data=form(csrf, b"#!/bin/sh\necho hi\n", "x.jpg"))
    assert r.status == 415 and "not a photo" in await r.text()
    r = await client.post("/admin/photo", data=form(csrf, b"\xff\xd8\xff" + b"0" * (11 * 1024 * 1024)))
    assert r.status == 413 and "larger than 10 MB" in await r.text()
    r = await client.post("/admin/photo", data=form(csrf, b"\xff\xd8\xff", with_csrf=False))
    assert r.status == 403
