"""Face tracks over time: association, confirmation, closing, smoothing, dwell and attention.

Pure logic: every method takes the frame timestamp (monotonic seconds) as an argument and no
clock is read inside, so tests can feed made-up detections at made-up times.

* Association: each detection is matched to at most one open track, greedily by IoU (>= 0.3),
  or -- for faces that moved fast between two analysed frames -- by centre distance (less
  than 0.75 of the track box's larger side) when IoU is too small.  Unmatched detections start
  new tracks.
* A track is *confirmed* after ``confirm_hits`` consecutive detections; a tentative track that
  misses a frame is dropped (it was most likely a false detection).  A confirmed track that has
  not been detected for ``close_after_s``, and in at least ``CLOSE_AFTER_MISSED_FRAMES``
  analysed frames in a row, is *closed* and reported once in ``closed``: on a vision worker
  starved of CPU, analysed frames come seconds apart, and one missed detection must not end
  a person's track (the audience would count them again as someone new).
* Classification: a track needs the classifiers when it is new and then every
  ``classify_every_s`` (``due_for_classification``).  Each result is blended into the track's
  probabilities by exponential smoothing, ``p = alpha * new + (1 - alpha) * p``.  A label whose
  smoothed top probability is below ``uncertain_below`` is reported as ``"uncertain"``.
* Dwell = last detection time - first detection time.  Attention = the sum of the intervals
  between two consecutive detections during which the face was frontal at both ends
  (|yaw| <= frontal_yaw_deg and |pitch| <= frontal_pitch_deg).  Attention <= dwell always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

import dataclasses

from ..config import CLOSE_AFTER_MISSED_FRAMES, VisionConfig
from .agegate import KEEP as AGE_SAMPLES_KEPT
from .agegate import AgeSample
from .analyzer import Attributes
from .classifiers import AGE_GROUPS, EMOTIONS, GENDERS
from .detector import Detection, iou
from .geometry import head_pose

__all__ = ["Track", "TrackSnapshot", "Tracker", "UNCERTAIN"]

UNCERTAIN = "uncertain"
MATCH_IOU = 0.3
CENTRE_REACH = 0.75  # centre-distance match: within this fraction of the track box side


def _label(probs: dict[str, float] | None, threshold: float) -> str | None:
    if not probs:
        return None
    best = max(probs, key=probs.__getitem__)
    return best if probs[best] >= threshold else UNCERTAIN


@dataclass(frozen=True)
class TrackSnapshot:
    """An immutable view of one track, safe to hand to another thread."""

    id: int
    confirmed: bool
    box: tuple[float, float, float, float]  # x, y, w, h
    landmarks: tuple[tuple[float, float], ...]
    score: float
    yaw: float
    pitch: float
    frontal: bool
    visible: bool  # detected in the latest frame
    first_seen: float
    last_seen: float
    dwell: float
    attention: float
    classified: bool
    emotion: str | None
    emotion_scores: dict[str, float] | None
    age: float | None
    age_group: str | None
    age_group_scores: dict[str, float] | None
    gender: str | None
    gender_scores: dict[str, float] | None
    mask: float | None
    #: the age estimates of the frames classified so far, with face size and pose: the age
    #: gate's evidence (``agegate.why_not_adult``); numbers only, never stored
    age_samples: tuple[AgeSample, ...] = ()

    @property
    def gender_score(self) -> float | None:
        if not self.gender_scores or self.gender not in self.gender_scores:
            return None
        return self.gender_scores[self.gender]

    def to_json(self) -> dict[str, Any]:
        def rd(d):
            return None if d is None else {k: round(float(v), 4) for k, v in d.items()}

        return {
            "id": self.id,
            "confirmed": self.confirmed,
            "box": [int(round(v)) for v in self.box],
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "score": round(self.score, 4),
            "yaw": round(self.yaw, 1),
            "pitch": round(self.pitch, 1),
            "frontal": self.frontal,
            "visible": self.visible,
            "dwell": round(self.dwell, 3),
            "attention": round(self.attention, 3),
            "classified": self.classified,
            "emotion": self.emotion,
            "emotion_scores": rd(self.emotion_scores),
            "age": None if self.age is None else round(self.age, 1),
            "age_group": self.age_group,
            "age_group_scores": rd(self.age_group_scores),
            "gender": self.gender,
            "gender_scores": rd(self.gender_scores),
            "mask": None if self.mask is None else round(self.mask, 4),
        }


@dataclass
class Track:
    id: int
    box: np.ndarray  # x1, y1, x2, y2
    landmarks: np.ndarray
    score: float
    first_seen: float
    last_seen: float
    yaw: float = 0.0
    pitch: float = 0.0
    frontal: bool = False
    hits: int = 1  # consecutive detections
    misses: int = 0  # consecutive analysed frames without a detection
    confirmed: bool = False
    attention: float = 0.0
    last_classified: float | None = None
    emotion_p: np.ndarray | None = None
    age_group_p: np.ndarray | None = None
    gender_p: np.ndarray | None = None
    age: float | None = None
    mask: float | None = None
    age_samples: list[AgeSample] = field(default_factory=list)
    matched_now: bool = field(default=True, repr=False)

    @property
    def dwell(self) -> float:
        return self.last_seen - self.first_seen

    def snapshot(self, uncertain_below: float) -> TrackSnapshot:
        # tolist() turns a whole array into Python floats in one call (every track, every frame)
        e = None if self.emotion_p is None else dict(zip(EMOTIONS, self.emotion_p.tolist()))
        a = None if self.age_group_p is None else dict(zip(AGE_GROUPS, self.age_group_p.tolist()))
        g = None if self.gender_p is None else dict(zip(GENDERS, self.gender_p.tolist()))
        x1, y1, x2, y2 = np.asarray(self.box, np.float64).reshape(4).tolist()
        lm = np.asarray(self.landmarks, np.float64).reshape(10).tolist()
        return TrackSnapshot(
            id=self.id,
            confirmed=self.confirmed,
            box=(x1, y1, x2 - x1, y2 - y1),
            landmarks=tuple(zip(lm[0::2], lm[1::2])),
            score=float(self.score),
            yaw=float(self.yaw),
            pitch=float(self.pitch),
            frontal=bool(self.frontal),
            visible=bool(self.matched_now),
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            dwell=self.dwell,
            attention=min(self.attention, self.dwell),
            classified=self.last_classified is not None,
            emotion=_label(e, uncertain_below),
            emotion_scores=e,
            age=self.age,
            age_group=_label(a, uncertain_below),
            age_group_scores=a,
            gender=_label(g, uncertain_below),
            gender_scores=g,
            mask=self.mask,
            age_samples=tuple(self.age_samples),
        )


class Tracker:
    """IoU/centre tracker with confirmation, closing, smoothing and attention accounting."""

    def __init__(self, config: VisionConfig | None = None, **overrides: Any):
        """``overrides``: VisionConfig fields to change (tests use them instead of a config file)."""
        config = dataclasses.replace(VisionConfig() if config is None else config, **overrides)
        self.confirm_hits = int(config.confirm_hits)
        self.close_after_s = float(config.close_after_s)
        self.classify_every_s = float(config.classify_every_s)
        self.alpha = float(config.smoothing_alpha)
        self.uncertain_below = float(config.uncertain_below)
        self.frontal_yaw = float(config.frontal_yaw_deg)
        self.frontal_pitch = float(config.frontal_pitch_deg)
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_ts: float | None = None

    # -- association -------------------------------------------------------------------------
    def _match(self, dets: Sequence[Detection]) -> list[tuple[int, int]]:
        if not self.tracks or not dets:
            return []
        tb = np.array([t.box for t in self.tracks], np.float64)
        db = np.array([d.box for d in dets], np.float64)
        ov = iou(tb, db)
        tc = (tb[:, :2] + tb[:, 2:]) / 2
        dc = (db[:, :2] + db[:, 2:]) / 2
        diff = tc[:, None, :] - dc[None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1])
        reach = CENTRE_REACH * np.maximum(tb[:, 2] - tb[:, 0], tb[:, 3] - tb[:, 1])
        cands = []
        for i in range(len(tb)):
            for j in range(len(db)):
                if ov[i, j] >= MATCH_IOU:
                    cands.append((0, -ov[i, j], i, j))
                elif dist[i, j] < reach[i]:
                    cands.append((1, dist[i, j] / max(reach[i], 1e-6), i, j))
        cands.sort()
        used_t, used_d, pairs = set(), set(), []
        for _, _, i, j in cands:
            if i in used_t or j in used_d:
                continue
            used_t.add(i)
            used_d.add(j)
            pairs.append((i, j))
        return pairs

    def _frontal(self, yaw: float, pitch: float) -> bool:
        return abs(yaw) <= self.frontal_yaw and abs(pitch) <= self.frontal_pitch

    def update(self, ts: float, dets: Sequence[Detection]) -> list[TrackSnapshot]:
        """Feed one analysed frame; returns the snapshots of tracks closed by this frame."""
        if self._last_ts is not None and ts < self._last_ts:
            raise ValueError(f"timestamps must not go back ({ts} < {self._last_ts})")
        self._last_ts = ts
        pairs = self._match(dets)
        matched_t = {i for i, _ in pairs}
        matched_d = {j for _, j in pairs}
        for t in self.tracks:
            t.matched_now = False
        for i, j in pairs:
            t, d = self.tracks[i], dets[j]
            yaw, pitch, _ = head_pose(d.landmarks)
            frontal = self._frontal(yaw, pitch)
            if frontal and t.frontal:
                t.attention += ts - t.last_seen
            t.box = np.asarray(d.box, np.float32).copy()
            t.landmarks = np.asarray(d.landmarks, np.float32).copy()
            t.score = float(d.score)
            t.yaw, t.pitch, t.frontal = yaw, pitch, frontal
            t.last_seen = ts
            t.hits += 1
            t.misses = 0
            t.matched_now = True
            if t.hits >= self.confirm_hits:
                t.confirmed = True
        closed: list[TrackSnapshot] = []
        keep: list[Track] = []
        for i, t in enumerate(self.tracks):
            if i in matched_t:
                keep.append(t)
            elif not t.confirmed:
                continue  # a tentative track that missed a frame is dropped
            else:
                t.hits = 0
                t.misses += 1
                if ts - t.last_seen >= self.close_after_s and t.misses >= CLOSE_AFTER_MISSED_FRAMES:
                    closed.append(t.snapshot(self.uncertain_below))
                else:
                    keep.append(t)
        for j, d in enumerate(dets):
            if j in matched_d:
                continue
            yaw, pitch, _ = head_pose(d.landmarks)
            t = Track(
                id=self._next_id,
                box=np.asarray(d.box, np.float32).copy(),
                landmarks=np.asarray(d.landmarks, np.float32).copy(),
                score=float(d.score),
                first_seen=ts,
                last_seen=ts,
                yaw=yaw,
                pitch=pitch,
                frontal=self._frontal(yaw, pitch),
            )
            t.confirmed = t.hits >= self.confirm_hits
            self._next_id += 1
            keep.append(t)
        self.tracks = keep
        return closed

    def close_all(self) -> list[TrackSnapshot]:
        """Close every confirmed track (e.g. when the pipeline stops)."""
        closed = [t.snapshot(self.uncertain_below) for t in self.tracks if t.confirmed]
        self.tracks = []
        return closed

    # -- classification ------------------------------------------------------------------------
    def due_for_classification(self, ts: float) -> list[Track]:
        """Tracks detected in the last frame that are new or were classified >= classify_every_s ago."""
        return [
            t
            for t in self.tracks
            if t.matched_now and (t.last_classified is None or ts - t.last_classified >= self.classify_every_s)
        ]

    def all_settled(self, min_face_px: float) -> bool:
        """True when every open track is confirmed, was found in the last frame and has a face
        of at least min_face_px (an empty scene counts)."""
        for t in self.tracks:
            side = min(t.box[2] - t.box[0], t.box[3] - t.box[1])
            if not t.confirmed or not t.matched_now or side < min_face_px:
                return False
        return True

    def boxes(self) -> list[tuple[float, float, float, float]]:
        """The boxes (x1, y1, x2, y2) of the open tracks' faces, as last seen."""
        return [(float(t.box[0]), float(t.box[1]), float(t.box[2]), float(t.box[3])) for t in self.tracks]

    def apply(self, track: Track, attrs: Attributes, ts: float) -> None:
        """Blend one classifier result into the track's smoothed probabilities."""
        a = self.alpha
        groups = attrs.age_group_probs
        new = {
            "emotion_p": np.asarray(attrs.emotion_probs, np.float64),
            "age_group_p": np.array([groups[g] for g in AGE_GROUPS], np.float64),
            "gender_p": np.asarray(attrs.gender_probs, np.float64),
        }
        for name, value in new.items():
            old = getattr(track, name)
            setattr(track, name, value.copy() if old is None else a * value + (1 - a) * old)
        track.age = float(attrs.age) if track.age is None else a * float(attrs.age) + (1 - a) * track.age
        if attrs.mask is not None:
            track.mask = float(attrs.mask) if track.mask is None else a * float(attrs.mask) + (1 - a) * track.mask
        track.last_classified = ts
        side = float(min(track.box[2] - track.box[0], track.box[3] - track.box[1]))
        track.age_samples.append(AgeSample(age=float(attrs.age), face_px=side, yaw=track.yaw, pitch=track.pitch))
        del track.age_samples[:-AGE_SAMPLES_KEPT]

    def snapshots(self) -> list[TrackSnapshot]:
        return [t.snapshot(self.uncertain_below) for t in self.tracks]
