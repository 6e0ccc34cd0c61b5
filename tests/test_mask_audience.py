"""Face masks end to end, in process: real photos (one with a drawn surgical-mask shape, as in
test_vision_mask.py) through the real models with `vision.mask = true`, the real vision
pipeline and tracker, the real audience model (fake clock), the panel's overlay message, the
session record and a play's audience summary. With `vision.mask` off nothing claims a mask."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import pytest

from signage.audience import Audience
from signage.config import AudienceConfig, VisionConfig
from signage.events import Hub
from signage.player import mask_summary
from signage.store import Store
from signage.vision.analyzer import FaceAnalyzer
from signage.vision.pipeline import VisionPipeline
from signage.web.panel import faces_message
from support import FakeClock
from test_vision_mask import draw_surgical_mask

MODELS = Path(__file__).resolve().parent.parent / "models"


def masked_photo(analyzer: FaceAnalyzer, path: Path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    dets = analyzer.detect(img)
    assert len(dets) == 1, "the astronaut photo shows one face"
    return draw_surgical_mask(img, dets[0])


@pytest.fixture
async def store(tmp_path):
    s = Store(tmp_path / "signage.db", flush_seconds=60)
    await s.open()
    yield s
    await s.close()


async def mask_p_written(store: Store) -> list:
    """P(mask) of each session record the audience model wrote."""
    await store.flush()
    return [r["mask_p"] for r in await store.fetchall("SELECT mask_p FROM sessions ORDER BY started_at")]


def run(analyzer: FaceAnalyzer, image, store: Store, seconds: float = 3.0, step: float = 0.2):
    """Show `image` to the pipeline for `seconds` (made-up frame times) and hand each result
    to a real Audience on a fake clock, as the appliance does on its loop."""
    clock = FakeClock(1_800_000_000.0)
    hub = Hub()
    aud = Audience(AudienceConfig(), hub=hub, store=store, clock=clock)
    pipe = VisionPipeline(analyzer.config, None, lambda r: None, analyzer=analyzer)
    frames = hub.subscribe("audience.frame")
    for i in range(int(seconds / step)):
        result = pipe.process(SimpleNamespace(image=image, timestamp=100.0 + i * step, seq=i + 1))
        aud.on_vision(result)
        clock.t += step
    return aud, hub, store, frames


# the drawn mask also draws a weak (0.57) false "face" around the whole head: a stricter
# detector threshold keeps the test about one person
@pytest.fixture(scope="module")
def mask_analyzer():
    a = FaceAnalyzer(VisionConfig(models_dir=MODELS, mask=True, workers=1, detect_score=0.7))
    yield a
    a.close()


@pytest.fixture(scope="module")
def plain_analyzer():
    a = FaceAnalyzer(VisionConfig(models_dir=MODELS, mask=False, workers=1, detect_score=0.7))
    yield a
    a.close()


async def test_a_masked_face_is_a_masked_session_on_the_overlay_and_in_the_play(mask_analyzer, photos, store):
    image = masked_photo(mask_analyzer, photos("astronaut"))
    aud, hub, store, frames = run(mask_analyzer, image, store)
    (s,) = aud.sessions.values()
    assert s.mask_p is not None and s.mask_p > 0.5 and s.masked is True
    snap = aud.snapshot()
    assert snap["masked"] == 1 and snap["people"][0]["mask"] is True
    # the panel overlay: the face is drawn with a mask; no session id, no image
    ev = hub.last("audience.frame")
    assert ev.data["faces"][0]["mask"] is True
    msg = faces_message(ev.data)
    assert msg["faces"][0]["mask"] is True and s.id not in repr(msg) and s.id not in repr(ev.data)
    assert set(msg["faces"][0]) == {"id", "box", "mood", "mask"}
    # a play with this audience: a majority wore a mask
    assert mask_summary([s]) == {"mask": True, "masked": 1, "mask_share": 1.0}
    # the session record: a probability, nothing else about the face
    aud.end_all()
    assert await mask_p_written(store) == [pytest.approx(s.mask_p, abs=1e-4)]
    (row,) = await store.fetchall("SELECT * FROM sessions")
    assert not any(isinstance(v, (bytes, bytearray, memoryview)) for v in row.values())
    frames.close()


async def test_the_same_face_uncovered_is_not_masked(mask_analyzer, photos, store):
    image = cv2.imread(str(photos("astronaut")), cv2.IMREAD_COLOR)
    aud, hub, store, _ = run(mask_analyzer, image, store)
    (s,) = aud.sessions.values()
    assert s.mask_p is not None and s.mask_p < 0.5 and s.masked is False
    assert hub.last("audience.frame").data["faces"][0]["mask"] is False
    assert mask_summary([s]) == {"mask": False, "masked": 0, "mask_share": 0.0}


async def test_with_mask_estimation_off_nothing_claims_a_mask(plain_analyzer, mask_analyzer, photos, store):
    image = masked_photo(mask_analyzer, photos("astronaut"))
    aud, hub, store, _ = run(plain_analyzer, image, store)
    (s,) = aud.sessions.values()
    assert s.mask_p is None and s.masked is None
    assert hub.last("audience.frame").data["faces"][0]["mask"] is False
    assert mask_summary([s]) == {"mask": None, "masked": None, "mask_share": None}
    aud.end_all()
    assert await mask_p_written(store) == [None]


def test_mask_summary_needs_a_majority():
    def sess(p):
        return SimpleNamespace(mask_p=p, masked=None if p is None else p >= 0.5)

    assert mask_summary([sess(0.9), sess(0.8), sess(0.1)])["mask"] is True
    assert mask_summary([sess(0.9), sess(0.1)]) == {"mask": False, "masked": 1, "mask_share": 0.5}
    # a session without an estimate counts in the audience, not as masked
    assert mask_summary([sess(0.9), sess(None), sess(None)])["mask"] is False
