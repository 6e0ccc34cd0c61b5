"""The analysis chain for one image: detect -> crop -> classify (batched) -> FaceResult list.

``FaceAnalyzer`` owns the checked models (created once) and is used both by the live pipeline
(which calls ``detect`` and ``classify`` separately, to classify only the tracks that need it)
and by the ``analyze``/``eval`` commands (``analyze`` and ``analyze_crop``).

A still image (``analyze``, ``detect_photo``) is detected at the resolution its faces need
(``RetinaFaceDetector.detect_photo``): a first pass at ``detect_reduced_long_side`` /
``detect_long_side`` of the full resolution; when every face it finds is at least
``detect_reduced_min_face_px`` in the full-size input, each face is measured again on a small
window of that input (the full-size pass's boxes, for a fraction of its work); otherwise, or
when nothing is found, the full-size pass.  ``detect_reduced_long_side = 0`` turns it off.  The
live pipeline has its own policy for frames (``pipeline.VisionPipeline.full_detection_due``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .classifiers import (
    AGE_GROUPS,
    CROP_FACTOR,
    CROP_FILL,
    EMOTIONS,
    GENDERS,
    INPUT_SIZE,
    AgeGenderClassifier,
    EmotionClassifier,
    age_group,
    age_group_probs,
)
from .detector import Detection, FaceDetector, RetinaFaceDetector
from .geometry import head_pose, square_crop
from .mask import MaskClassifier, mask_crop
from ..config import VisionConfig
from ..threadprio import lower_this_thread
from .models import load_model, model_filename, read_manifest, usable_precision

log = logging.getLogger(__name__)

__all__ = ["Attributes", "FaceResult", "FaceAnalyzer"]


def _r(v: float | None, nd: int) -> float | None:
    return None if v is None else round(float(v), nd)


@dataclass
class Attributes:
    """Classifier outputs for one face (probabilities in EMOTIONS / GENDERS order)."""

    emotion_probs: np.ndarray
    age: float
    gender_probs: np.ndarray
    mask: float | None = None

    @property
    def age_group_probs(self) -> dict[str, float]:
        return age_group_probs(self.age)


@dataclass
class FaceResult:
    """One analysed face. box is (x, y, w, h) in image pixels; angles in degrees."""

    box: tuple[float, float, float, float]
    score: float | None
    landmarks: np.ndarray | None
    yaw: float | None
    pitch: float | None
    emotion: str
    emotion_scores: dict[str, float]
    age: float
    age_group: str
    age_group_scores: dict[str, float]
    gender: str
    gender_score: float
    mask: float | None = None
    frontal: bool | None = field(default=None, repr=False)

    @property
    def area(self) -> float:
        return float(self.box[2]) * float(self.box[3])

    @classmethod
    def build(
        cls,
        det: Detection | None,
        attrs: Attributes,
        box_xywh: Sequence[float] | None = None,
        frontal_limits: tuple[float, float] = (20.0, 20.0),
    ) -> "FaceResult":
        yaw: float | None
        pitch: float | None
        lms: np.ndarray | None
        frontal: bool | None
        if det is not None:
            box = det.xywh
            yaw, pitch, _ = head_pose(det.landmarks)
            lms = np.asarray(det.landmarks, np.float32)
            score: float | None = det.score
            frontal = abs(yaw) <= frontal_limits[0] and abs(pitch) <= frontal_limits[1]
        else:
            if box_xywh is None or len(box_xywh) != 4:
                raise ValueError("FaceResult.build needs a detection or a box (x, y, w, h)")
            x, y, w, h = (float(v) for v in box_xywh)
            box = (x, y, w, h)
            yaw = pitch = None
            lms = None
            score = None
            frontal = None
        e = {k: float(v) for k, v in zip(EMOTIONS, attrs.emotion_probs)}
        g = {k: float(v) for k, v in zip(GENDERS, attrs.gender_probs)}
        groups = attrs.age_group_probs
        gender = max(g, key=g.__getitem__)
        return cls(
            box=box,
            score=score,
            landmarks=lms,
            yaw=yaw,
            pitch=pitch,
            emotion=max(e, key=e.__getitem__),
            emotion_scores=e,
            age=float(attrs.age),
            age_group=age_group(attrs.age),
            age_group_scores=groups,
            gender=gender,
            gender_score=g[gender],
            mask=attrs.mask,
            frontal=frontal,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "box": [int(round(v)) for v in self.box],
            "score": _r(self.score, 4),
            "landmarks": None
            if self.landmarks is None
            else [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(self.landmarks).reshape(5, 2)],
            "yaw": _r(self.yaw, 1),
            "pitch": _r(self.pitch, 1),
            "emotion": self.emotion,
            "emotion_scores": {k: round(float(self.emotion_scores[k]), 4) for k in EMOTIONS},
            "age": round(float(self.age), 1),
            "age_group": self.age_group,
            "age_group_scores": {k: round(float(self.age_group_scores[k]), 4) for k in AGE_GROUPS},
            "gender": self.gender,
            "gender_score": round(float(self.gender_score), 4),
            "mask": _r(self.mask, 4),
        }


class FaceAnalyzer:
    """Detector + classifiers, checked and loaded once from ``config`` (a VisionConfig).

    Raises ``ModelError`` at construction when a configured model file is missing, has a
    sha256 different from models/manifest.json, or cannot be loaded.
    """

    def __init__(self, config: VisionConfig | None = None, *, detector: FaceDetector | None = None):
        config = VisionConfig() if config is None else config
        self.config = config
        models_dir = config.models_dir
        manifest = read_manifest(models_dir)
        self.frontal_limits = (float(config.frontal_yaw_deg), float(config.frontal_pitch_deg))
        if detector is None:
            det_model = load_model(models_dir, "detector", config.detector_precision, manifest)
            # the near model is cut from the fp32 detector: an int8 detector keeps its own windows
            near = (
                load_model(models_dir, "detector_near", "fp32", manifest)
                if config.detector_precision == "fp32"
                else None
            )
            detector = RetinaFaceDetector(
                det_model,
                near_model=near,
                long_side=int(config.detect_long_side),
                score=float(config.detect_score),
                nms_iou=float(config.nms_iou),
                min_face_px=int(config.min_face_px),
            )
        self.detector: FaceDetector = detector
        #: how detect_photo found the faces of the images it was given: {"full" | "refined": count}
        self.photo_paths: dict[str, int] = {}
        self.emotion = EmotionClassifier(load_model(models_dir, "emotion", config.emotion_precision, manifest))
        #: what was loaded: int8 age/gender falls back to fp32 where int8 saturates
        self.age_gender_precision = usable_precision("age_gender", config.age_gender_precision)
        if self.age_gender_precision != config.age_gender_precision:
            log.warning(
                "vision.age_gender_precision = %s: on this x86 CPU (no VNNI) onnxruntime's int8 "
                "kernels saturate and the age estimate is years off; using fp32 (int8 is fine on "
                "the Pi's arm64 and on x86 CPUs with VNNI)",
                config.age_gender_precision,
            )
        self.age_gender = AgeGenderClassifier(load_model(models_dir, "age_gender", self.age_gender_precision, manifest))
        self.mask: MaskClassifier | None = None
        if config.mask:
            self.mask = MaskClassifier(load_model(models_dir, "mask", "fp32", manifest))
        workers = int(config.workers)
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vision-infer", initializer=lower_this_thread)
            if workers > 1
            else None
        )

    @staticmethod
    def model_files(config: VisionConfig | None = None) -> list[str]:
        """Names of the model files this configuration needs."""
        config = VisionConfig() if config is None else config
        names = [
            model_filename("detector", config.detector_precision),
            *([model_filename("detector_near", "fp32")] if config.detector_precision == "fp32" else []),
            model_filename("emotion", config.emotion_precision),
            model_filename("age_gender", usable_precision("age_gender", config.age_gender_precision)),
        ]
        if config.mask:
            names.append(model_filename("mask", "fp32"))
        return names

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- steps ---------------------------------------------------------------------------
    def detect(self, bgr: np.ndarray, long_side: int | None = None) -> list[Detection]:
        return self.detector.detect(bgr, long_side)

    def detect_tracked(self, bgr: np.ndarray, faces: Sequence[Sequence[float]]) -> list[Detection]:
        """The known ``faces`` (boxes) found again in a new frame, each in a small window around
        where it was (the live pipeline's frames between two full-size passes). A detector
        plugin other than RetinaFace detects the whole frame."""
        if isinstance(self.detector, RetinaFaceDetector):
            return self.detector.detect_tracked(bgr, faces)
        return self.detect(bgr)

    def detect_photo(self, bgr: np.ndarray) -> list[Detection]:
        """Faces in one still image, at the resolution its faces need (see the module docstring);
        a detector plugin other than RetinaFace detects at its configured size."""
        cfg = self.config
        reduced, full = int(cfg.detect_reduced_long_side), int(cfg.detect_long_side)
        if not reduced or reduced >= full or not isinstance(self.detector, RetinaFaceDetector):
            return self.detect(bgr)
        dets, how = self.detector.detect_photo(bgr, reduced, float(cfg.detect_reduced_min_face_px))
        self.photo_paths[how] = self.photo_paths.get(how, 0) + 1
        return dets

    def _crops(self, bgr: np.ndarray, boxes: Sequence, kind: str) -> list[np.ndarray]:
        return [square_crop(bgr, b, CROP_FACTOR[kind], INPUT_SIZE[kind], CROP_FILL[kind]) for b in boxes]

    def classify_boxes(self, bgr: np.ndarray, boxes: Sequence, *, whole: bool = False) -> list[Attributes]:
        """Classify the faces at boxes (x1, y1, x2, y2) of bgr, all faces in one batch per model.

        whole=True: each box is a complete face crop, used as it is (no crop margin).
        """
        if not len(boxes):
            return []
        if bgr.ndim == 2:
            bgr = np.repeat(bgr[:, :, None], 3, axis=2)
        if whole:
            emo_in = ag_in = [bgr[int(b[1]) : int(b[3]), int(b[0]) : int(b[2])] for b in boxes]
            mask_in = emo_in
        else:
            emo_in = self._crops(bgr, boxes, "emotion")
            ag_in = self._crops(bgr, boxes, "age_gender")
            mask_in = [mask_crop(bgr, b) for b in boxes] if self.mask is not None else []
        if self._pool is not None:
            f_ag = self._pool.submit(self.age_gender.classify, ag_in)
            f_mask = self._pool.submit(self.mask.classify, mask_in) if self.mask is not None else None
            emo = self.emotion.classify(emo_in)
            ages, genders = f_ag.result()
            masks = f_mask.result() if f_mask is not None else None
        else:
            emo = self.emotion.classify(emo_in)
            ages, genders = self.age_gender.classify(ag_in)
            masks = self.mask.classify(mask_in) if self.mask is not None else None
        return [
            Attributes(
                emotion_probs=emo[i],
                age=float(ages[i]),
                gender_probs=genders[i],
                mask=None if masks is None else float(masks[i]),
            )
            for i in range(len(boxes))
        ]

    # -- whole images ----------------------------------------------------------------------
    def analyze(self, bgr: np.ndarray) -> list[FaceResult]:
        """Every face in the image, largest first."""
        dets = self.detect_photo(bgr)
        return self.results(bgr, dets)

    def results(self, bgr: np.ndarray, dets: Sequence[Detection]) -> list[FaceResult]:
        attrs = self.classify_boxes(bgr, [d.box for d in dets])
        out = [FaceResult.build(d, a, frontal_limits=self.frontal_limits) for d, a in zip(dets, attrs)]
        out.sort(key=lambda r: -r.area)
        return out

    def analyze_crop(self, bgr: np.ndarray) -> list[FaceResult]:
        """Treat the whole image as one face crop (no detection): one FaceResult."""
        h, w = bgr.shape[:2]
        (attrs,) = self.classify_boxes(bgr, [(0, 0, w, h)], whole=True)
        return [FaceResult.build(None, attrs, box_xywh=(0, 0, w, h))]
