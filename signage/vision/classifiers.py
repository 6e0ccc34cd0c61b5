"""Face attribute classifiers: emotion, age + gender (the optional mask model is in mask.py).

Each classifier takes a list of BGR face images (already cropped by the caller with the crop
geometry it was measured best with, see ``CROP_FACTOR`` and ``CROP_FILL``) and runs them all in
one batch; the age/gender net can also average each crop with its mirror image
(``AGE_GENDER_FLIP``).

Age groups
----------
The age model is a regression (years).  Product age groups are child 0-12, teen 13-19, 20-39,
40-59 and 60+.  Group probabilities come from a Gaussian around the estimate whose spread
follows the model's error, which grows with age: ``sigma(age) = 3.0 + 0.125 * age`` years
(3.6 at age 5, 6.75 at 30, 10.5 at 60).  Calibrated on the UTKFace dev crops (360 faces, 76 %
group accuracy): there the mean top-group probability (0.76) equals the group accuracy and the
log-loss is near its minimum (0.60; 0.98 with half this spread).  UTKFace is in the model's
training data, so errors on new faces are larger: the spread errs on the wide side, which is the
safe side for the age gate.  A group covers whole years: "child" is estimated age < 13, "teen"
13 to < 20.
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ..vocabulary import AGE_GROUPS, GENDERS, MOOD_ALIASES, MOODS
from .models import LoadedModel

__all__ = [
    "EMOTIONS",
    "AGE_GROUPS",
    "GENDERS",
    "CROP_FACTOR",
    "INPUT_SIZE",
    "CROP_FILL",
    "AGE_GENDER_FLIP",
    "EmotionClassifier",
    "AgeGenderClassifier",
    "age_group",
    "age_group_probs",
    "age_sigma",
]

EMOTIONS = MOODS  # the appliance's vocabulary (signage/vocabulary.py), in the model's order
AGE_EDGES = (13.0, 20.0, 40.0, 60.0)  # group i covers [edge[i-1], edge[i])

# square crop side as a multiple of the detector box's longer side, per classifier
CROP_FACTOR = {"emotion": 0.9, "age_gender": 1.0}
INPUT_SIZE = {"emotion": 112, "age_gender": 112}
# how the part of a crop outside the image is filled (geometry.square_crop): None = replicate
# the border pixels, a number = that grey level, "clip" = cut the square to the image and pad
# it to a square with black, as face-api.js does.  Replicated borders read as years to the age
# model; clipping matched face-api's own pre-processing and measured best for age/gender (see
# geometry.py); the emotion model scored as well or a little better with replicated borders on
# cut-off face crops.
CROP_FILL = {"emotion": None, "age_gender": "clip"}
# average the age/gender outputs of each crop and its mirror image?  It lowered the UTKFace
# dev figures (MAE 4.85 -> 4.61 y, gender 93.9 -> 94.2 %) but UTKFace is in the net's training
# data, and on held-back in-the-wild photos the change that brought it in doubled the children
# 0-9 estimated 18 or older (5.8 -> 10.8 %) and lost 2 points of age-group accuracy (issue 14).
# Off: the reference pipeline's single pass, which also halves the age/gender cost.
AGE_GENDER_FLIP = False

# face-api FaceExpressionNet output order, and spellings seen in label lists
FACEAPI_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
_SYNONYMS = MOOD_ALIASES


def age_sigma(age: float) -> float:
    return 3.0 + 0.125 * max(0.0, float(age))


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def age_group(age: float) -> str:
    for name, edge in zip(AGE_GROUPS, AGE_EDGES):
        if age < edge:
            return name
    return AGE_GROUPS[-1]


def age_group_probs(age: float, sigma: float | None = None) -> dict[str, float]:
    """P(true age in each product group) under a Gaussian(age, sigma); sums to 1."""
    s = age_sigma(age) if sigma is None else float(sigma)
    cdf = [0.0] + [_phi((e - age) / s) for e in AGE_EDGES] + [1.0]
    # mass below age 0 belongs to "child"
    probs = [cdf[i + 1] - cdf[i] for i in range(len(AGE_GROUPS))]
    total = sum(probs)
    return {g: p / total for g, p in zip(AGE_GROUPS, probs)}


def _to_batch(faces: Sequence[np.ndarray], size: int, layout: str = "nchw") -> np.ndarray:
    """BGR uint8 crops -> float32 RGB 0..255 batch (N, 3, size, size) or (N, size, size, 3)."""
    arr = np.empty((len(faces), size, size, 3), np.float32)
    for i, f in enumerate(faces):
        if f.shape[:2] != (size, size):
            f = cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA if f.shape[0] > size else cv2.INTER_LINEAR)
        if f.ndim == 2:
            f = cv2.cvtColor(f, cv2.COLOR_GRAY2BGR)
        arr[i] = f[:, :, ::-1]
    if layout == "nchw":
        return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
    return arr


def _layout(model: LoadedModel) -> str:
    shape = model.session.get_inputs()[0].shape
    if len(shape) == 4 and shape[-1] == 3 and shape[1] != 3:
        return "nhwc"
    return "nchw"


def _labels_for(model: LoadedModel, output: str):
    """The manifest's labels of one output ({output: [labels]} or a bare list), or None."""
    labels = model.spec.labels
    if isinstance(labels, dict):
        return labels.get(output)
    return labels if isinstance(labels, (list, tuple)) else None


def _label_map(model_labels, default: Sequence[str], product: Sequence[str]) -> list[int]:
    """For each product label, the index of the model output holding it."""
    labels = model_labels if isinstance(model_labels, (list, tuple)) and len(model_labels) == len(default) else default
    norm = [_SYNONYMS.get(str(l).lower(), str(l).lower()) for l in labels]
    try:
        return [norm.index(p) for p in product]
    except ValueError:
        raise ValueError(f"model labels {labels} do not cover {product}") from None


class EmotionClassifier:
    """face-api.js FaceExpressionNet: 112x112 RGB 0..255 -> 7 emotion probabilities."""

    kind = "emotion"

    def __init__(self, model: LoadedModel):
        self.model = model
        self.size = INPUT_SIZE["emotion"]
        self.layout = _layout(model)
        self._out = "scores" if "scores" in model.output_names else model.output_names[0]
        self._index = _label_map(_labels_for(model, self._out), FACEAPI_EMOTIONS, EMOTIONS)

    def classify(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 7) probabilities in EMOTIONS order."""
        if not faces:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        out = self.model.run(_to_batch(faces, self.size, self.layout))[self._out]
        p = np.asarray(out, np.float32).reshape(len(faces), -1)[:, self._index]
        return p / np.clip(p.sum(axis=1, keepdims=True), 1e-9, None)


class AgeGenderClassifier:
    """face-api.js AgeGenderNet: 112x112 RGB 0..255 -> age (years), P(male), P(female)."""

    kind = "age_gender"

    def __init__(self, model: LoadedModel, flip: bool = AGE_GENDER_FLIP):
        self.model = model
        self.flip = bool(flip)
        self.size = INPUT_SIZE["age_gender"]
        self.layout = _layout(model)
        names = model.output_names
        self._age = "age" if "age" in names else names[0]
        self._gender = "gender" if "gender" in names else names[1]
        self._gindex = _label_map(_labels_for(model, self._gender), ("male", "female"), GENDERS)

    def classify(self, faces: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """ages (N,) in years and (N, 2) probabilities in GENDERS order (female, male)."""
        if not faces:
            return np.zeros((0,), np.float32), np.zeros((0, 2), np.float32)
        n = len(faces)
        x = _to_batch(faces, self.size, self.layout)
        if self.flip:  # each crop and its mirror image in one batch (width is the last NCHW axis)
            mirrored = x[:, :, :, ::-1] if self.layout == "nchw" else x[:, :, ::-1, :]
            x = np.ascontiguousarray(np.concatenate([x, mirrored], axis=0))
        out = self.model.run(x)
        m = 2 if self.flip else 1
        ages = np.asarray(out[self._age], np.float32).reshape(m, n).mean(axis=0)
        g = np.asarray(out[self._gender], np.float32).reshape(m, n, -1).mean(axis=0)[:, self._gindex]
        return np.clip(ages, 0.0, 120.0), g / np.clip(g.sum(axis=1, keepdims=True), 1e-9, None)
