"""Photo check: real photos through the real models; nothing is written anywhere."""

from __future__ import annotations

import io

import aiohttp
import pytest
from PIL import Image

from signage.app import Appliance
from test_admin_support import login, make_config, start, stop

ROOT_MODELS = __import__("pathlib").Path(__file__).resolve().parents[1] / "models"


@pytest.fixture
async def env(tmp_path):
    appliance = Appliance(make_config(tmp_path, vision={"models_dir": str(ROOT_MODELS)}))
    client = await start(appliance)
    csrf = await login(client)
    yield client, appliance, csrf, tmp_path
    await stop(client, appliance)


def form(csrf, data, name="photo.jpg", with_csrf=True):
    f = aiohttp.FormData()
    if with_csrf:
        f.add_field("csrf_token", csrf)
    # a file object, as a browser streams it (aiohttp warns about large raw bytes bodies)
    f.add_field("photo", io.BytesIO(data), filename=name, content_type="image/jpeg")
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


async def test_group_and_no_face_messages(env, photos, no_face_photo):
    client, _, csrf, _ = env
    r = await client.post("/admin/photo", data=form(csrf, photos("2007_007763").read_bytes()))
    html = await r.text()
    assert r.status == 200 and "More than one face" in html
    r = await client.post("/admin/photo", data=form(csrf, no_face_photo.read_bytes()))
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


# --- the emoticon of the expression (one face only; drawn from attributes) ------------------------


def emoticon_attrs(html):
    import re

    m = re.search(r'<div class="emoticon" data-mood="(\w+)" data-mask="([01])">', html)
    return (m.group(1), m.group(2)) if m else None


async def test_one_face_gets_the_emoticon_of_its_expression(env, photos):
    import re

    client, _, csrf, tmp_path = env
    before = files_under(tmp_path)
    r = await client.post("/admin/photo", data=form(csrf, photos("astronaut").read_bytes()))
    html = await r.text()
    assert r.status == 200 and 'id="photo-emoticon"' in html
    mood, mask = emoticon_attrs(html)
    table_mood = re.search(r'<table id="faces-table">.*?<tr><td>1</td><td>(\w+) ', html, re.S).group(1)
    assert mood == table_mood and mask == "0"
    assert "vision.mask" in html  # says masks were not estimated (off by default)
    assert "<svg" in html.split('id="photo-emoticon"')[1]
    svg_url = re.search(r'href="(/admin/photo/emoticon\.svg\?[^"]+)"', html).group(1).replace("&amp;", "&")
    png_url = re.search(r'href="(/admin/photo/emoticon\.png\?[^"]+)"', html).group(1).replace("&amp;", "&")
    r = await client.get(svg_url)
    assert r.status == 200 and r.headers["Content-Type"].startswith("image/svg+xml")
    assert f"emoticon-{mood}.svg" in r.headers["Content-Disposition"] and "<svg" in await r.text()
    r = await client.get(png_url)
    assert r.status == 200 and r.headers["Content-Type"] == "image/png"
    png = Image.open(io.BytesIO(await r.read()))
    assert png.size == (512, 512)
    assert files_under(tmp_path) == before  # neither the photo nor the emoticon was written


async def test_no_emoticon_for_no_face_or_several(env, photos):
    client, _, csrf, _ = env
    html = await (await client.post("/admin/photo", data=form(csrf, photos("2007_007763").read_bytes()))).text()
    assert "More than one face" in html and 'id="photo-emoticon"' not in html
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buf, "PNG")
    html = await (await client.post("/admin/photo", data=form(csrf, buf.getvalue(), "grey.png"))).text()
    assert "No face found" in html and 'id="photo-emoticon"' not in html


async def test_emoticon_downloads_need_login_and_valid_attributes(env):
    client, _, _, _ = env
    assert (await client.get("/admin/photo/emoticon.svg?mood=happy&mask=0")).status == 200
    r = await client.get("/admin/photo/emoticon.svg?mood=nope&mask=0")
    assert r.status == 400
    r = await client.get("/admin/photo/emoticon.svg?mood=happy&mask=2")
    assert r.status == 400
    await client.post("/admin/logout")
    client.session.cookie_jar.clear()
    r = await client.get("/admin/photo/emoticon.svg?mood=happy&mask=1")
    assert r.status == 401


async def test_a_masked_face_gets_a_masked_emoticon(tmp_path, photos):
    import cv2

    from signage.vision.detector import RetinaFaceDetector
    from signage.vision.models import load_model
    from test_vision_mask import draw_surgical_mask

    # vision.mask on; a stricter face score: the drawn mask also makes a weak whole-head "face"
    appliance = Appliance(
        make_config(tmp_path, vision={"models_dir": str(ROOT_MODELS), "mask": True, "detect_score": 0.7})
    )
    client = await start(appliance)
    try:
        csrf = await login(client)
        img = cv2.imread(str(photos("astronaut")), cv2.IMREAD_COLOR)
        (det,) = RetinaFaceDetector(load_model(ROOT_MODELS, "detector", "fp32"), score=0.7).detect(img)
        jpeg = cv2.imencode(".jpg", draw_surgical_mask(img, det))[1].tobytes()
        html = await (await client.post("/admin/photo", data=form(csrf, jpeg))).text()
        assert "1 face found" in html, html[-2000:]
        mood, mask = emoticon_attrs(html)
        assert mask == "1" and "with a face mask" in html
        assert f"/admin/photo/emoticon.png?mood={mood}&amp;mask=1" in html
        r = await client.get(f"/admin/photo/emoticon.svg?mood={mood}&mask=1")
        assert "with a mask" in await r.text()
        html = await (await client.post("/admin/photo", data=form(csrf, photos("astronaut").read_bytes()))).text()
        assert emoticon_attrs(html)[1] == "0" and "without a face mask" in html
    finally:
        await stop(client, appliance)
