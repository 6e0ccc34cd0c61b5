"""Photo check: upload a photo and see what the appliance sees -- boxes, the five landmarks,
mood, age group and gender drawn on it.

The photo is decoded, analysed and drawn in memory, in a worker thread, and discarded: it is
never written to disk or the database. The drawn image goes back only to the admin who
uploaded it, inline in the answer page (a data: URL), with `Cache-Control: no-store`.

When exactly one face is found the page also shows "the emoticon of this expression": drawn by
`signage/web/emoticon.py` from the estimated mood and mask only (never from the photo), and
downloadable as SVG or PNG from `/admin/photo/emoticon.{svg,png}?mood=...&mask=0|1` -- a link
that carries the two attributes, so nothing of the photo has to be kept for the download.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from aiohttp import BodyPartReader, web
from markupsafe import Markup

from ...vocabulary import MASK_THRESHOLD, MOOD_DISPLAY_ORDER, normalise_mood
from ..emoticon import LABELS, emoticon_png, emoticon_svg
from ..guard import MULTIPART_ERRORS
from ..keys import APPLIANCE
from .auth import CSRF_FIELD, tokens_match
from .core import CSRF_MESSAGE, SESSION_KEY, admin_route, refuse, render

log = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
_ANALYZER = web.AppKey("photo_analyzer", dict)
_LOCK = web.AppKey("photo_lock", asyncio.Lock)

NO_FACE = "No face found. Try a sharper, well-lit photo where the face is at least 24 pixels wide."
MANY_FACES = "More than one face: {n} faces found. All are shown; the appliance treats each as one person."


class PhotoError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _get_analyzer(app: web.Application) -> Any:
    """The running vision pipeline's analyzer when there is one, else our own (loaded once)."""
    appliance = app[APPLIANCE]
    if appliance.vision.analyzer is not None:
        return appliance.vision.analyzer
    holder = app[_ANALYZER]
    if "analyzer" not in holder:
        from ...vision.analyzer import FaceAnalyzer

        holder["analyzer"] = FaceAnalyzer(appliance.config.vision)
    return holder["analyzer"]


def header_size(data: bytes) -> tuple[int, int]:
    """Width and height as the file's header declares them (nothing is decoded)."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we check below
            with Image.open(io.BytesIO(data)) as im:
                return int(im.width), int(im.height)
    except Image.DecompressionBombError:
        raise PhotoError(
            413, "The photo is too large (its header declares a huge image); at most 40 megapixels."
        ) from None
    except (OSError, ValueError, SyntaxError):  # Pillow's words for an unreadable header
        raise PhotoError(
            415, "The photo could not be decoded (damaged or unsupported). Upload a JPEG, PNG or WebP image."
        ) from None


def decode_image(data: bytes) -> Any:
    import cv2
    import numpy as np

    if not data:
        raise PhotoError(400, "The file is empty. Choose a photo (JPEG, PNG or WebP).")
    head = data[:16]
    known = (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head.startswith(b"BM")
    )
    if not known:
        raise PhotoError(415, "This file is not a photo the check can read. Upload a JPEG, PNG or WebP image.")
    # The size in the header, before decoding: a small file can declare a huge image (a 1 MB
    # PNG of 20000x20000 pixels decodes to 1.2 GB), which would get the appliance killed.
    width, height = header_size(data)
    if width * height > MAX_PIXELS:
        raise PhotoError(413, f"The photo is too large ({width}x{height} pixels); at most 40 megapixels.")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise PhotoError(
            415, "The photo could not be decoded (damaged or unsupported). Upload a JPEG, PNG or WebP image."
        )
    if bgr.shape[0] * bgr.shape[1] > MAX_PIXELS:
        raise PhotoError(413, f"The photo is too large ({bgr.shape[1]}x{bgr.shape[0]} pixels); at most 40 megapixels.")
    return bgr


def draw(bgr: Any, faces: list[Any]) -> bytes:
    """The photo with each face's box, landmarks and labels drawn on it, as JPEG bytes."""
    import cv2

    img = bgr.copy()
    h, w = img.shape[:2]
    scale = max(1.0, max(h, w) / 900.0)
    thick = max(1, int(round(2 * scale)))
    font = 0.5 * scale
    for i, f in enumerate(faces):
        x, y, bw, bh = (int(round(v)) for v in f.box)
        colour = (60, 200, 60) if f.frontal else (0, 170, 255)
        cv2.rectangle(img, (x, y), (x + bw, y + bh), colour, thick)
        if f.landmarks is not None:
            for lx, ly in f.landmarks.reshape(-1, 2):
                cv2.circle(img, (int(round(lx)), int(round(ly))), max(2, thick + 1), (255, 80, 40), -1)
        label = f"#{i + 1} {f.emotion} · {f.age_group} · {f.gender}".replace("·", "|")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, max(1, thick - 1))
        ty = y - 6 if y - th - 8 > 0 else y + bh + th + 6
        cv2.rectangle(img, (x, ty - th - 4), (x + tw + 6, ty + base), colour, -1)
        cv2.putText(
            img, label, (x + 3, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, font, (20, 20, 20), max(1, thick - 1), cv2.LINE_AA
        )
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 88])
    if not ok:
        raise PhotoError(500, "Could not draw the result.")
    return buf.tobytes()


def analyse_photo(analyzer: Any, data: bytes) -> dict[str, Any]:
    """Runs in a worker thread: decode, analyse, draw. Nothing is stored."""
    bgr = decode_image(data)
    faces = analyzer.analyze(bgr)
    drawn = draw(bgr, faces)
    return {
        "width": int(bgr.shape[1]),
        "height": int(bgr.shape[0]),
        "faces": [f.to_json() | {"frontal": f.frontal} for f in faces],
        "image": "data:image/jpeg;base64," + base64.b64encode(drawn).decode("ascii"),
    }


async def _read_upload(request: web.Request) -> bytes:
    """Stream the multipart body: CSRF token first, then at most MAX_PHOTO_BYTES of photo."""
    try:
        return await _read_multipart(request)
    except MULTIPART_ERRORS:
        raise PhotoError(
            400, "The upload arrived damaged (not a well-formed form). Choose the photo and send the form again."
        ) from None


async def _read_multipart(request: web.Request) -> bytes:
    if not request.content_type.startswith("multipart/"):
        raise PhotoError(400, "Send the photo with the form (multipart upload).")
    sess = request[SESSION_KEY]
    reader = await request.multipart()
    csrf_ok = tokens_match(request.headers.get("X-CSRF-Token"), sess.csrf)
    data = b""
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise PhotoError(400, "The upload is not a plain form (nested multipart).")
        if part.name == CSRF_FIELD:
            csrf_ok = tokens_match((await part.read(decode=True)).decode("utf-8", "replace")[:200], sess.csrf)
        elif part.name == "photo":
            if not csrf_ok:
                raise PhotoError(403, CSRF_MESSAGE)
            chunks, size = [], 0
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > MAX_PHOTO_BYTES:
                    raise PhotoError(
                        413, f"The photo is larger than {MAX_PHOTO_BYTES // (1024 * 1024)} MB. Use a smaller photo."
                    )
                chunks.append(chunk)
            data = b"".join(chunks)
        else:
            await part.release()
    if not csrf_ok:
        raise PhotoError(403, CSRF_MESSAGE)
    if not data:
        raise PhotoError(400, "No photo was sent. Choose a photo file first.")
    return data


@admin_route
async def photo_form(request: web.Request) -> web.Response:
    return render(request, "photo.html", result=None)


@admin_route(multipart=True)
async def photo_check(request: web.Request) -> web.Response:
    try:
        data = await _read_upload(request)
        loop = asyncio.get_running_loop()
        async with request.app[_LOCK]:  # one photo at a time: the Pi has two cores
            try:
                # off the loop: without a running vision pipeline this loads the models
                analyzer = await loop.run_in_executor(None, _get_analyzer, request.app)
            except Exception as exc:  # models missing or broken: say so, the rest of admin works
                raise PhotoError(503, f"Face analysis is not available on this appliance: {exc}") from None
            result = await loop.run_in_executor(None, analyse_photo, analyzer, data)
        del data
    except PhotoError as exc:
        if exc.status == 403:
            return refuse(request, 403, exc.message)
        return render(request, "photo.html", status=exc.status, result=None, error=exc.message)
    n = len(result["faces"])
    message = None
    error = None
    result["emoticon"] = None  # only for exactly one face
    if n == 0:
        error = NO_FACE
    elif n > 1:
        message = MANY_FACES.format(n=n)
    else:
        result["emoticon"] = emoticon_of(result["faces"][0])
    return render(request, "photo.html", result=result, error=error, message=message)


def emoticon_of(face: dict[str, Any]) -> dict[str, Any]:
    """The emoticon of one analysed face: from its mood and mask estimate only."""
    mood = normalise_mood(face.get("emotion"))
    p_mask = face.get("mask")
    mask = p_mask is not None and float(p_mask) >= MASK_THRESHOLD
    query = f"mood={mood}&mask={int(mask)}"
    return {
        "mood": mood,
        "label": LABELS[mood],
        "mask": mask,
        "mask_estimated": p_mask is not None,
        "mask_p": p_mask,
        "svg": Markup(emoticon_svg(mood, mask, 160)),
        "svg_url": f"/admin/photo/emoticon.svg?{query}",
        "png_url": f"/admin/photo/emoticon.png?{query}",
    }


@admin_route
async def photo_emoticon(request: web.Request) -> web.Response:
    """`/admin/photo/emoticon.{svg,png}?mood=<mood>&mask=0|1`: drawn from those two attributes."""
    mood = request.query.get("mood", "")
    if mood not in MOOD_DISPLAY_ORDER or request.query.get("mask", "0") not in ("0", "1"):
        return refuse(request, 400, f"mood must be one of {', '.join(MOOD_DISPLAY_ORDER)} and mask 0 or 1")
    mask = request.query.get("mask") == "1"
    ext = request.match_info["ext"]
    name = f"emoticon-{mood}{'-mask' if mask else ''}.{ext}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if ext == "svg":
        return web.Response(text=emoticon_svg(mood, mask, 512), content_type="image/svg+xml", headers=headers)
    png = await asyncio.to_thread(emoticon_png, mood, mask, 512)
    return web.Response(body=png, content_type="image/png", headers=headers)


def setup(app: web.Application) -> None:
    app[_LOCK] = asyncio.Lock()
    app[_ANALYZER] = {}
    app.router.add_get("/admin/photo", photo_form)
    app.router.add_post("/admin/photo", photo_check)
    app.router.add_get("/admin/photo/emoticon.{ext:svg|png}", photo_emoticon)
