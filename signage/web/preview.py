"""The technician's camera preview (`web.camera_preview`, off by default).

Off: this module registers nothing, so no route of the appliance can return a camera image.
On: `GET /api/camera/preview.jpg` answers with the newest camera frame as a small JPEG
(at most PREVIEW_MAX_SIDE pixels on its long side), encoded in a worker thread, at most
PREVIEW_FPS times a second: requests in between get the last encoding again. The JPEG lives
in memory only -- it is never written to disk or the database -- and is sent with
`Cache-Control: no-store`. The panel then shows it in a small corner, and the privacy page
says that the preview is switched on.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .keys import APPLIANCE

if TYPE_CHECKING:
    from ..app import Appliance

PREVIEW_PATH = "/api/camera/preview.jpg"
PREVIEW_MAX_SIDE = 320
PREVIEW_FPS = 2.0
_STATE = web.AppKey("camera_preview_state", dict)


def enabled(appliance: Appliance) -> bool:
    return appliance.config.web.camera_preview


def encode_preview(image: Any, max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """A small JPEG of a BGR frame (runs in a worker thread)."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_side / float(max(h, w)))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 70])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


async def camera_preview(request: web.Request) -> web.Response:
    app = request.app[APPLIANCE]
    state = request.app[_STATE]
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    async with state["lock"]:  # one encoding at a time; concurrent requests share it
        now = time.monotonic()
        if state["jpeg"] is None or now - state["at"] >= 1.0 / PREVIEW_FPS:
            # peek: a frame only the preview saw still counts as dropped by vision
            frame = app.camera.peek()
            if frame is None:
                return web.json_response({"error": "no camera frame yet"}, status=503, headers=headers)
            if frame.seq != state["seq"]:
                state["jpeg"] = await asyncio.to_thread(encode_preview, frame.image)
                state["seq"] = frame.seq
                state["encoded"] += 1
            state["at"] = now
        jpeg = state["jpeg"]
    return web.Response(body=jpeg, content_type="image/jpeg", headers=headers)


def setup(app: web.Application) -> None:
    if not enabled(app[APPLIANCE]):
        return  # off: no route, no way to ask for a frame
    app[_STATE] = {"lock": asyncio.Lock(), "jpeg": None, "at": 0.0, "seq": None, "encoded": 0}
    app.router.add_get(PREVIEW_PATH, camera_preview)
