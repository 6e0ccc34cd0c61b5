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
and are not padded.

Still images (``detect_photo``): a reduced first pass finds the faces; when they are all large,
each is measured again on a window of the full-size input around it (``prepare_window``: the
full-size input's pixels in that window, on the same 32-pixel grid, so the anchors and hence the
boxes are the full-size pass's), and the rest of the full-size input is never made.  An earlier rule analysed 320-640 px images at their own size: cheaper, but it
lost on held-back portraits (issue 14).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

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
    "input_geometry",
    "prepare_window",
    "to_blob",
    "REFINE_CONTEXT",
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
    # np.maximum, not np.clip: the same here and several times faster on small arrays
    inter = np.maximum(ix2 - ix1, 0) * np.maximum(iy2 - iy1, 0)
    area_a = np.maximum(a[:, 2] - a[:, 0], 0) * np.maximum(a[:, 3] - a[:, 1], 0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, best score first (equal scores: the lower
    index first). A box goes when its IoU with a kept one is above ``iou_threshold``.

    OpenCV's ``NMSBoxes`` does it in one call: the same rule in numpy took about 80 us for the
    twenty-odd candidates of a frame, on every frame of the live pipeline."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float32).reshape(-1)
    if not len(s):
        return []
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    # scores are probabilities above the detector's threshold; OpenCV drops a score of 0 or less
    kept = cv2.dnn.NMSBoxes(xywh.tolist(), s.tolist(), 0.0, float(iou_threshold))
    return [int(i) for i in np.asarray(kept).reshape(-1)]


@dataclass(frozen=True)
class Prepared:
    """A detector input and how to map its pixels back: image = (input - offset) / scale."""

    blob: np.ndarray
    scale: float
    offset: tuple[float, float]


@dataclass(frozen=True)
class FullInput:
    """Where an image lies in the detector's full-size input: input = image * scale + origin,
    on a canvas of width x height (multiples of 32)."""

    scale: float
    origin: tuple[float, float]
    width: int
    height: int

    def window_around(self, box: Sequence[float] | np.ndarray, context: float) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the input, on its 32-pixel grid, that holds a square of
        ``context`` times the face's side (box in image pixels) around the face's centre."""
        k, (ox, oy) = self.scale, self.origin
        x1, y1, x2, y2 = (float(v) * k for v in box[:4])
        half = context * max(x2 - x1, y2 - y1) / 2
        cx, cy = (x1 + x2) / 2 + ox, (y1 + y2) / 2 + oy
        l, t = max(0, int((cx - half) // 32) * 32), max(0, int((cy - half) // 32) * 32)
        r = min(self.width, int(math.ceil((cx + half) / 32)) * 32)
        b = min(self.height, int(math.ceil((cy + half) / 32)) * 32)
        return l, t, max(32, r - l), max(32, b - t)


def input_geometry(
    height: int, width: int, long_side: int, small_pad: float = 0.25, pad_below: int | None = None
) -> tuple[float, float]:
    """(pad, scale) of prepare_input: the border (a fraction of the image's size on each side)
    and the factor from image pixels to detector-input pixels.

    The border is added when the image is smaller than ``pad_below`` (default: ``long_side``).
    A reduced-size pass gives ``pad_below`` = the full-size input's long side, so that it sees
    the same picture as the full-size pass, at a lower resolution."""
    limit = long_side if pad_below is None else pad_below
    pad = small_pad if max(height, width) < limit else 0.0
    # size of the (virtually) padded picture, in source pixels
    ph, pw = height * (1 + 2 * pad), width * (1 + 2 * pad)
    return pad, long_side / max(ph, pw)


def quick_shrink(bgr: np.ndarray, nw: int, nh: int) -> np.ndarray:
    """bgr reduced to nw x nh, area-averaged by a whole factor, then bilinear for the rest.

    OpenCV's area resize is fast only for a whole factor: 512 -> 187 px took 1.1 ms, 1920x1280
    -> 427x285 8.5 ms, against 0.08 ms for 512 -> 256. Here the image is first area-averaged by
    the largest whole factor f the target allows (cut to multiples of f first: at most f - 1
    pixels of the right and bottom edges go, well under a face), then bilinear interpolation
    does the rest, a factor between 1/2 and 1, where it samples no more than the 2x2 pixels each
    output pixel covers. For the photo path's first pass, which only has to find the faces (their
    boxes are measured again at full resolution): ~0.2 ms instead of 1.1-8.5 ms."""
    h, w = bgr.shape[:2]
    f = int(min(w / nw, h / nh))
    if f >= 2:
        hc, wc = h - h % f, w - w % f
        bgr = cv2.resize(bgr[:hc, :wc], (wc // f, hc // f), interpolation=cv2.INTER_AREA)
    if bgr.shape[:2] == (nh, nw):
        return bgr
    return cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)


#: the mean colour, channels first, for to_blob
_MEAN_CHW = np.array(MEAN_BGR, np.float32).reshape(3, 1, 1)


def to_blob(
    image: np.ndarray, height: int | None = None, width: int | None = None, at: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """The network's input, float32 (1, 3, height, width): ``image`` (BGR uint8) minus the mean
    colour with its top-left corner at ``at`` (x, y), and the mean colour (zero after the
    subtraction) around it; height and width default to the image's.

    One numpy subtraction into the channels-first array. OpenCV 5's ``dnn.blobFromImage`` took
    7-8 ms for a 640x480 input on the development machine, against 1.3-1.9 ms this way, with the
    same numbers (integers minus integers, exact in float32); the border needs no copy of the
    picture (``copyMakeBorder``) either."""
    h, w = image.shape[:2]
    height, width = (h if height is None else height), (w if width is None else width)
    x, y = at
    out = (np.empty if (height, width, x, y) == (h, w, 0, 0) else np.zeros)((1, 3, height, width), np.float32)
    np.subtract(image.transpose(2, 0, 1), _MEAN_CHW, out=out[0, :, y : y + h, x : x + w])
    return out


#: snug_long_side may lower a first pass's resolution by at most this share
SNUG_MAX_CUT = 0.15


def snug_long_side(long_side: int) -> int:
    """``long_side``, or the multiple of 32 below it when that is at most SNUG_MAX_CUT lower:
    the network runs on the whole canvas (multiples of 32), so a 512 px photo's first pass at
    213 px ran on 224x224, 10 % of it mean colour; at 192 px it runs on 192x192, 27 % less work
    for 10 % less resolution."""
    snug = long_side // 32 * 32
    return snug if snug >= 32 and snug >= long_side * (1 - SNUG_MAX_CUT) else long_side


def prepare_input(
    bgr: np.ndarray, long_side: int, small_pad: float = 0.25, pad_below: int | None = None, *, quick: bool = False
) -> Prepared:
    """Scale (and, for an image smaller than pad_below -- default long_side -- pad first) into a
    mean-filled canvas of multiples of 32. quick: reduce with ``quick_shrink`` (a first pass
    that only finds faces) instead of the exact area average."""
    h, w = bgr.shape[:2]
    pad, scale = input_geometry(h, w, long_side, small_pad, pad_below)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ox, oy = round(pad * w * scale), round(pad * h * scale)
    cw = int(math.ceil((nw + 2 * ox) / 32) * 32)
    ch = int(math.ceil((nh + 2 * oy) / 32) * 32)
    if (nw, nh) == (w, h):
        resized = bgr
    elif quick and scale < 1:
        resized = quick_shrink(bgr, nw, nh)
    else:
        resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # border and padding in the mean colour (exactly zero after the subtraction)
    blob = to_blob(resized, ch, cw, (ox, oy))
    return Prepared(blob=blob, scale=scale, offset=(float(ox), float(oy)))


#: detect_tracked: a tracked face's side in its window, in detector-input pixels: the size of
#: one of the network's anchors (48 px, between two anchors, lost faces on the registry photos)
NEAR_FACE_PX = 64
#: detect_tracked: side of each tracked face's window (a multiple of 32, the network's largest
#: stride): 1.5 times the face
NEAR_WINDOW_PX = 96
#: detect_tracked uses the near model (no stride-8 level, anchors of 64 px and up) when every
#: face's long side is at least this big in its window: it is NEAR_FACE_PX there unless the
#: full-size input is coarser than the image (a window never enlarges beyond it)
NEAR_MODEL_MIN_FACE_PX = 48
#: detect_tracked runs the full-size input when its windows would be at least this share of it
NEAR_MAX_SHARE = 0.8
#: window around a face for the refining pass of detect_photo, as a multiple of the face box side
REFINE_CONTEXT = 1.6
#: the refined box must overlap the first pass's box at least this much
REFINE_MIN_IOU = 0.4


def _check_image(bgr: np.ndarray) -> None:
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or min(bgr.shape[:2]) < 2:
        raise ValueError("detect() needs a BGR image of shape (H, W, 3)")


def _side(d: Detection) -> float:
    x1, y1, x2, y2 = (float(v) for v in d.box)
    return min(x2 - x1, y2 - y1)


def prepare_window(
    bgr: np.ndarray,
    window: tuple[int, int, int, int],
    scale: float,
    origin: tuple[float, float],
) -> Prepared:
    """A window of the full-size pass's input, made without making that input.

    ``window`` is (x, y, width, height) in pixels of the full-size input (multiples of 32, so
    that the window's anchors lie where the full-size pass's do and its boxes agree with that
    pass's); ``scale`` and ``origin`` map the image into that input (input = image * scale +
    origin).  What lies outside the image is the mean colour, as in the full-size input."""
    h, w = bgr.shape[:2]
    wx, wy, ww, wh = window
    ox, oy = origin
    # image pixels that fall into the window
    l, t = max(0, int(math.floor((wx - ox) / scale))), max(0, int(math.floor((wy - oy) / scale)))
    r, b = min(w, int(math.ceil((wx + ww - ox) / scale))), min(h, int(math.ceil((wy + wh - oy) / scale)))
    blob: np.ndarray | None = None
    if r > l and b > t:
        nw, nh = max(1, round((r - l) * scale)), max(1, round((b - t) * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        roi = bgr[t:b, l:r]
        resized = cv2.resize(roi, (nw, nh), interpolation=interp) if (nw, nh) != (r - l, b - t) else roi
        px, py = round(l * scale + ox - wx), round(t * scale + oy - wy)
        cx0, cy0 = max(0, px), max(0, py)
        cx1, cy1 = min(ww, px + nw), min(wh, py + nh)
        if cx1 > cx0 and cy1 > cy0:
            blob = to_blob(resized[cy0 - py : cy1 - py, cx0 - px : cx1 - px], wh, ww, (cx0, cy0))
    if blob is None:  # the window lies wholly outside the image: the mean colour only
        blob = np.zeros((1, 3, wh, ww), np.float32)
    return Prepared(blob=blob, scale=scale, offset=(float(ox - wx), float(oy - wy)))


class RetinaFaceDetector:
    """RetinaFace MobileNet-0.25 behind the FaceDetector interface."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        near_model: LoadedModel | None = None,
        long_side: int = 640,
        score: float = 0.5,
        nms_iou: float = 0.4,
        min_face_px: int = 0,
        small_pad: float = 0.25,
    ):
        self.model = model
        self.near_model = near_model
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

    def input_scale(self, height: int, width: int) -> float:
        """Image pixels -> pixels of this detector's full-size input, for an image of that size."""
        return input_geometry(height, width, self.long_side, self.small_pad)[1]

    def detect(self, bgr: np.ndarray, long_side: int | None = None) -> list[Detection]:
        _check_image(bgr)
        side = self.long_side if long_side is None else int(long_side)
        prep = prepare_input(bgr, side, self.small_pad, pad_below=max(side, self.long_side))
        return self._infer(prep, bgr.shape[0], bgr.shape[1])

    def detect_tracked(self, bgr: np.ndarray, faces: Sequence[Sequence[float]]) -> list[Detection]:
        """The known ``faces`` (boxes x1, y1, x2, y2 in image pixels) found again in a new
        frame, for a small part of a full-size pass's work: each is looked for in a
        ``NEAR_WINDOW_PX`` square centred on where it was, at the scale that makes it
        ``NEAR_FACE_PX`` wide (never finer than the full-size input), which leaves room of a
        quarter of its size on every side to move between two analysed frames. The windows run
        side by side as one strip, one network input: about a tenth less of the network's time
        than the same windows as a batch (models/README.md, "Speed"); a face belongs to the window its
        centre lies in. When the windows would be most of the full-size input, the full-size pass
        is run instead.

        The boxes are for following the faces (IoU 0.75-0.95 with a full-size pass's on the
        registry photos, models/README.md), not for the classifiers' crops. A face that moved
        out of its window is not found: the live pipeline then searches the whole frame."""
        _check_image(bgr)
        boxes = np.asarray(faces, np.float64).reshape(-1, 4)
        h, w = bgr.shape[:2]
        full = self._full_input(h, w)
        if not len(boxes) or len(boxes) * NEAR_WINDOW_PX**2 >= NEAR_MAX_SHARE * full.width * full.height:
            return self.detect(bgr)
        # one affine warp per window does the cut, the scaling and the mean-coloured border at
        # once (bilinear: these boxes only follow a face); window i is at x = i * side in the strip
        side = NEAR_WINDOW_PX
        crops, scales, offsets, smallest = [], [], [], float("inf")
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            s = min(full.scale, NEAR_FACE_PX / max(1.0, x2 - x1, y2 - y1))
            smallest = min(smallest, s * max(x2 - x1, y2 - y1))  # its long side, as NEAR_FACE_PX
            tx, ty = side / 2 - (x1 + x2) / 2 * s, side / 2 - (y1 + y2) / 2 * s
            m = np.array([[s, 0.0, tx], [0.0, s, ty]], np.float64)
            crops.append(cv2.warpAffine(bgr, m, (side, side), flags=cv2.INTER_LINEAR, borderValue=MEAN_BGR))
            scales.append(s)
            offsets.append((tx + i * side, ty))
        blob = to_blob(np.hstack(crops))
        # faces this large are found by the stride-16 level: the near model computes it (and
        # stride 32) exactly as the whole model does, without the stride-8 level's work, 0.62x
        # of the network time (models/README.md)
        near = self.near_model is not None and smallest >= NEAR_MODEL_MIN_FACE_PX
        out = (self.near_model if near and self.near_model is not None else self.model).run(blob)
        found = self._candidates(out, blob.shape[2:], scales, offsets, strip_px=side, first_level=1 if near else 0)
        return self._keep(found, h, w)

    def _full_input(self, h: int, w: int) -> "FullInput":
        pad, k = input_geometry(h, w, self.long_side, self.small_pad)
        ox, oy = round(pad * w * k), round(pad * h * k)
        cw = int(math.ceil((max(1, round(w * k)) + 2 * ox) / 32) * 32)
        ch = int(math.ceil((max(1, round(h * k)) + 2 * oy) / 32) * 32)
        return FullInput(scale=k, origin=(float(ox), float(oy)), width=cw, height=ch)

    def detect_photo(self, bgr: np.ndarray, first_long_side: int, min_face_px: float) -> tuple[list[Detection], str]:
        """Faces in one still image at the resolution they need, and which way they were found.

        1. A first pass at ``first_long_side / long_side`` of the full-size pass's resolution
           (a quarter of its work at 320 against 640; less for a small image, whose full-size
           input has a border of ``small_pad`` that this pass leaves out).
        2. When it finds nothing, or a face smaller than ``min_face_px`` pixels of the full-size
           input (a smaller one may then be missed at the reduced size), the full-size pass
           decides ("full").
        3. Otherwise each face's box is measured again at the full-size pass's scale on a window
           of ``REFINE_CONTEXT`` times the face around it ("refined"): boxes from the reduced
           input are 2-7 % shorter and twice as noisy, which cost 1-3 points of emotion recall
           and a point of gender accuracy on the dev sets (models/README.md); the windows give
           the full pass's boxes for a fraction of its input.  When the windows together would
           cover the full-size input, or one does not find its face again, the full pass is run.
        """
        _check_image(bgr)
        h, w = bgr.shape[:2]
        pad, k = input_geometry(h, w, self.long_side, self.small_pad)
        # the first pass sees the image at first_long_side / long_side of the full-size pass's
        # resolution, without the border a small image gets there (only the windows need it)
        first_side = round(max(h, w) * k * first_long_side / self.long_side)
        first = (
            self._infer(prepare_input(bgr, max(32, snug_long_side(first_side)), 0.0, quick=True), h, w)
            if first_side < max(h, w) * k
            else []
        )
        if not first or min(_side(d) for d in first) * k < min_face_px:
            return self.detect(bgr), "full"
        full = self._full_input(h, w)
        windows = [full.window_around(d.box, REFINE_CONTEXT) for d in first]
        if sum(ww * wh for _, _, ww, wh in windows) >= full.width * full.height:
            return self.detect(bgr), "full"
        out: list[Detection] = []
        for d, win in zip(first, windows):
            found = self._infer(prepare_window(bgr, win, full.scale, full.origin), h, w)
            best = max(found, key=lambda f: float(iou(f.box, d.box)[0, 0]), default=None)
            if best is None or float(iou(best.box, d.box)[0, 0]) < REFINE_MIN_IOU:
                return self.detect(bgr), "full"
            out.append(best)
        keep = nms(np.array([d.box for d in out]), np.array([d.score for d in out]), self.nms_iou)
        return [out[i] for i in keep], "refined"

    def _infer(self, prep: Prepared, h: int, w: int) -> list[Detection]:
        """Run the network on a prepared input; detections in image pixels (image h x w)."""
        out = self.model.run(prep.blob)
        return self._keep(self._candidates(out, prep.blob.shape[2:], [prep.scale], [prep.offset]), h, w)

    def _candidates(
        self,
        out: dict[str, np.ndarray],
        input_hw: tuple[int, ...],
        scales: Sequence[float],
        offsets: Sequence[tuple[float, float]],
        strip_px: int = 0,
        first_level: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4), scores (N,) and landmarks (N, 5, 2) in image pixels of the faces above
        the score threshold in a network output for a batch of inputs of input_hw (height,
        width), where input i = image * scales[i] + offsets[i]. With ``strip_px``, one input
        holds windows of that width side by side, and window i = image * scales[i] + offsets[i]
        (the offsets include the window's place in the strip). ``first_level`` 1: the output of
        the near model, which starts at the stride-16 level."""
        loc, conf, landm = out["loc"], out["conf"], out["landmarks"]
        ih, iw = int(input_hw[0]), int(input_hw[1])
        priors = self._priors_for(ih, iw)
        if first_level:  # the stride-8 level's anchors come first: 2 per 8x8 cell
            priors = priors[math.ceil(ih / STEPS[0]) * math.ceil(iw / STEPS[0]) * len(MIN_SIZES[0]) :]
        if priors.shape[0] != loc.shape[1]:
            raise RuntimeError(f"detector output has {loc.shape[1]} anchors, expected {priors.shape[0]}")
        item, anchor = np.nonzero(conf[:, :, 1] >= self.score)
        boxes, lms = decode(loc[item, anchor], landm[item, anchor], priors[anchor])
        window = item
        if strip_px:
            centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
            window = np.clip((centre_x // strip_px).astype(np.intp), 0, len(scales) - 1)
        k = np.asarray(scales, np.float32)[window]
        off = np.asarray(offsets, np.float32).reshape(-1, 2)[window]
        boxes = (boxes - np.concatenate([off, off], axis=1)) / k[:, None]
        lms = (lms - off[:, None, :]) / k[:, None, None]
        return boxes, conf[item, anchor, 1], lms

    def _keep(self, found: tuple[np.ndarray, np.ndarray, np.ndarray], h: int, w: int) -> list[Detection]:
        """Non-maximum suppression over candidates (best score first), then the size and
        image-bounds checks."""
        boxes, scores, lms = found
        if not len(scores):
            return []
        dets = []
        kept = nms(boxes, scores, self.nms_iou)
        # the checks on Python floats (one tolist), not on numpy scalars: this runs every frame
        for i, (x1, y1, x2, y2) in zip(kept, boxes[kept].astype(np.float32).tolist()):
            if min(x2 - x1, y2 - y1) < self.min_face_px:
                continue
            # drop boxes wholly outside the image (possible only in the padded border)
            if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
                continue
            dets.append(
                Detection(box=boxes[i].astype(np.float32), score=float(scores[i]), landmarks=lms[i].astype(np.float32))
            )
        return dets
