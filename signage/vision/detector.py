"""Face detection: the detector interface and the RetinaFace (MobileNet-0.25) plugin.

A detector is anything with ``detect(bgr) -> list[Detection]``; the analyser and the live
pipeline only know that interface, so another detector can be plugged in beside RetinaFace.

RetinaFace decoding (as in the original PyTorch implementation):

* anchors ("priors") are laid on three feature maps of stride 8, 16 and 32, two square anchors per
  cell with sides [16, 32], [64, 128] and [256, 512] input pixels, ordered row, column, size;
* a box is decoded from its offsets ``(dx, dy, dw, dh)`` with variances (0.1, 0.2):
  ``centre = prior_centre + d * 0.1 * prior_size`` and ``size = prior_size * exp(dw * 0.2)``;
* the five landmarks (left eye, right eye, nose, left and right mouth corner, as seen in the
  image) are decoded like the centre;
* boxes under the score threshold are dropped, then greedy non-maximum suppression at IoU 0.4.

Input preparation: the image is scaled so that its long side is ``long_side`` and placed on a
canvas padded to a multiple of 32 with the network's mean colour (zero after mean subtraction).
An image *smaller* than that (long side below ``long_side``: a 48x48 or 200x200 face crop, a
350x350 portrait, a 500x375 photo) is first padded with a mean-coloured border of ``small_pad``
times its size on each side, and the padded picture is then scaled to ``long_side``.  A face
that fills such a picture ends up about ``long_side / (1 + 2 * small_pad)`` pixels tall, inside
the anchors' range (the largest anchor is 512 px; a 350 px portrait enlarged to 640 without the
border gave boxes 14 % too small and cost 8 points of emotion recall on ``muxspace_crowd``), with
context around it like a face in a photo.  Camera frames (640x480) are at ``long_side`` already
and are not padded.  An earlier rule analysed 320-640 px images at their own size: cheaper, but it
lost on held-back portraits (issue 14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .models import LoadedModel

__all__ = [
    "Detection",
    "FaceDetector",
    "RetinaFaceDetector",
    "make_priors",
    "decode",
    "nms",
    "iou",
    "prepare_input",
]

MEAN_BGR = (104.0, 117.0, 123.0)
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE = (0.1, 0.2)


@dataclass
class Detection:
    """One face: box corners (x1, y1, x2, y2) and 5 landmarks (5x2) in image pixels."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((5, 2), np.float32))

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return x1, y1, x2 - x1, y2 - y1

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


@runtime_checkable
class FaceDetector(Protocol):
    """A face detector plugin."""

    def detect(self, bgr: np.ndarray, long_side: int | None = None) -> list[Detection]:
        """Faces in a BGR uint8 image, best score first, coordinates in that image's pixels.

        long_side: the detector's input size for this call (None = its configured one); the live
        pipeline asks for a smaller input while every tracked face is large."""
        ...


def make_priors(height: int, width: int) -> np.ndarray:
    """Anchors for a network input of height x width: (A, 4) as cx, cy, w, h in pixels."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES):
        fh, fw = math.ceil(height / step), math.ceil(width / step)
        ys, xs = np.meshgrid(np.arange(fh, dtype=np.float32), np.arange(fw, dtype=np.float32), indexing="ij")
        cx = ((xs + 0.5) * step).reshape(-1, 1)
        cy = ((ys + 0.5) * step).reshape(-1, 1)
        per = []
        for s in sizes:
            per.append(np.concatenate([cx, cy, np.full_like(cx, s), np.full_like(cx, s)], axis=1))
        # order: cell-major, then anchor size
        out.append(np.stack(per, axis=1).reshape(-1, 4))
    return np.concatenate(out, axis=0).astype(np.float32)


def decode(loc: np.ndarray, landm: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets -> boxes (A, 4 as x1, y1, x2, y2) and landmarks (A, 5, 2), in input pixels."""
    pc, ps = priors[:, :2], priors[:, 2:]
    centre = pc + loc[:, :2] * VARIANCE[0] * ps
    size = ps * np.exp(loc[:, 2:] * VARIANCE[1])
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    lm = pc[:, None, :] + landm.reshape(-1, 5, 2) * VARIANCE[0] * ps[:, None, :]
    return boxes, lm


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) against b (M, 4), x1 y1 x2 y2 -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, best score first."""
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    keep: list[int] = []
    boxes = np.asarray(boxes, np.float64)
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        overlaps = iou(boxes[i : i + 1], boxes[rest])[0]
        order = [int(j) for j, o in zip(rest, overlaps) if o <= iou_threshold]
    return keep


@dataclass(frozen=True)
class Prepared:
    """A detector input and how to map its pixels back: image = (input - offset) / scale."""

    blob: np.ndarray
    scale: float
    offset: tuple[float, float]


def prepare_input(bgr: np.ndarray, long_side: int, small_pad: float = 0.25) -> Prepared:
    """Scale (and, for an image smaller than long_side, pad first) into a mean-filled canvas of multiples of 32."""
    h, w = bgr.shape[:2]
    pad = small_pad if max(h, w) < long_side else 0.0
    # size of the (virtually) padded picture, in source pixels
    ph, pw = h * (1 + 2 * pad), w * (1 + 2 * pad)
    scale = long_side / max(ph, pw)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ox, oy = round(pad * w * scale), round(pad * h * scale)
    cw = int(math.ceil((nw + 2 * ox) / 32) * 32)
    ch = int(math.ceil((nh + 2 * oy) / 32) * 32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(bgr, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else bgr
    # border and padding in the mean colour (exactly zero after the subtraction); OpenCV's blob
    # maker does subtraction and HWC -> NCHW in one pass: ~0.6 ms at 640x480 where the same in
    # numpy took ~9 ms, most of the detector's non-model time
    canvas = cv2.copyMakeBorder(resized, oy, ch - nh - oy, ox, cw - nw - ox, cv2.BORDER_CONSTANT, value=MEAN_BGR)
    blob = cv2.dnn.blobFromImage(canvas, 1.0, None, MEAN_BGR, swapRB=False, crop=False)
    return Prepared(blob=blob, scale=scale, offset=(float(ox), float(oy)))


class RetinaFaceDetector:
    """RetinaFace MobileNet-0.25 behind the FaceDetector interface."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        long_side: int = 640,
        score: float = 0.5,
        nms_iou: float = 0.4,
        min_face_px: int = 0,
        small_pad: float = 0.25,
    ):
        self.model = model
        self.long_side = int(long_side)
        self.score = float(score)
        self.nms_iou = float(nms_iou)
        self.min_face_px = int(min_face_px)
        self.small_pad = float(small_pad)
        self._priors: dict[tuple[int, int], np.ndarray] = {}

    def _priors_for(self, h: int, w: int) -> np.ndarray:
        pri = self._priors.get((h, w))
        if pri is None:
            if len(self._priors) > 16:
                self._priors.clear()
            pri = self._priors[(h, w)] = make_priors(h, w)
        return pri

    def detect(self, bgr: np.ndarray, long_side: int | None = None) -> list[Detection]:
        if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or min(bgr.shape[:2]) < 2:
            raise ValueError("detect() needs a BGR image of shape (H, W, 3)")
        prep = prepare_input(bgr, self.long_side if long_side is None else int(long_side), self.small_pad)
        out = self.model.run(prep.blob)
        loc, conf, landm = out["loc"][0], out["conf"][0], out["landmarks"][0]
        priors = self._priors_for(prep.blob.shape[2], prep.blob.shape[3])
        if priors.shape[0] != loc.shape[0]:
            raise RuntimeError(f"detector output has {loc.shape[0]} anchors, expected {priors.shape[0]}")
        scores = conf[:, 1]
        sel = np.nonzero(scores >= self.score)[0]
        if sel.size == 0:
            return []
        boxes, lms = decode(loc[sel], landm[sel], priors[sel])
        ox, oy = prep.offset
        boxes = (boxes - np.array([ox, oy, ox, oy], np.float32)) / prep.scale
        lms = (lms - np.array([ox, oy], np.float32)) / prep.scale
        keep = nms(boxes, scores[sel], self.nms_iou)
        h, w = bgr.shape[:2]
        dets = []
        for i in keep:
            b = boxes[i]
            side = min(b[2] - b[0], b[3] - b[1])
            if side < self.min_face_px:
                continue
            # drop boxes wholly outside the image (possible only in the padded border)
            if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
                continue
            dets.append(
                Detection(box=b.astype(np.float32), score=float(scores[sel][i]), landmarks=lms[i].astype(np.float32))
            )
        return dets
