"""The technician's camera preview and masked emoji, in headless Chromium against the real
appliance (photos camera source, real models with `vision.mask = true`, real SQLite file) with
`web.camera_preview = true`. In front of the camera: a real photo with a drawn surgical-mask
shape over the face (as in tests/test_vision_mask.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from .conftest import REPO, start_live, wait_for

pytestmark = pytest.mark.browser


def masked_photo(src: Path, dest: Path) -> Path:
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from signage.vision.detector import RetinaFaceDetector
    from signage.vision.models import load_model
    from test_vision_mask import draw_surgical_mask

    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    (det,) = RetinaFaceDetector(load_model(REPO / "models", "detector", "fp32"), score=0.7).detect(img)
    cv2.imwrite(str(dest), draw_surgical_mask(img, det), [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    return dest


@pytest.fixture(scope="module")
def preview_live(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("preview-live")
    photo = masked_photo(photos("astronaut"), root / "masked-astronaut.jpg")
    server = start_live(
        root,
        [photo],
        web={"camera_preview": True},
        vision={"mask": True, "detect_score": 0.7},
        player={"rating_seconds": 2.0, "healing_min_seconds": 2.0, "poll_seconds": 0.1},
    )
    try:
        yield server
    finally:
        server.stop()


def test_panel_shows_the_corner_preview_and_a_masked_emoji(browser, preview_live):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(preview_live.url + "/panel")
        size = wait_for(
            lambda: page.evaluate(
                "(() => { const i = document.getElementById('camera-preview-img');"
                " return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null })()"
            ),
            30,
            "the camera preview image",
        )
        assert max(size) <= 320
        box = page.locator("#camera-preview").bounding_box()
        assert box["x"] > 1280 / 2 and box["y"] > 720 / 2 and box["width"] < 1280 / 4  # a small corner
        # the preview keeps refreshing from the live camera (a new image element each time)
        page.evaluate("document.getElementById('camera-preview-img').dataset.old = '1'")
        wait_for(
            lambda: page.evaluate("!document.getElementById('camera-preview-img').dataset.old"),
            10,
            "a refreshed preview",
        )
        masked = wait_for(
            lambda: page.evaluate(
                "[...document.querySelectorAll('.face:not(.gone)')].filter(e => e.dataset.mask === '1')"
                ".map(e => e.getAttribute('src'))"
            ),
            60,
            "an emoji with a mask over the masked face",
        )
        assert all(src.endswith("?mask=1") for src in masked)
        page.goto(preview_live.url + "/privacy")
        assert page.locator("[data-testid=camera-preview-on]").is_visible()
        assert not errors, errors
    finally:
        ctx.close()
