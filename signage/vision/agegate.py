"""The age gate: may an age-restricted ad play to this person?  (pure logic, no models)

A single age estimate is not safe: on held-back in-the-wild photos face-api's age net took 6-11 %
of children 0-9 for adults.  The live product has more than one photo, so the gate uses it:

* **usable frames only**: a classified frame counts when the face box is at least
  ``MIN_FACE_PX`` pixels (smaller faces were not measured and their age estimates are noisier)
  and the head is near-frontal (|yaw| and |pitch| <= ``MAX_POSE_DEG``: the age net was trained on
  roughly frontal faces; the 20-degree "watching" limit of the tracker would refuse many adults
  whose pose estimate from 5 landmarks is off by a few degrees);
* **several frames of the track**: at least ``MIN_FRAMES`` usable frames;
* **agreement between them**: the median estimate must reach ``min_age`` (the config key
  ``ads.age_gate_min_age``) and *no* usable frame may read under ``FLOOR_AGE`` (18): one frame
  that looks like a minor keeps the gate shut.

``min_frames=1`` gives the single-photo rule (the one frame must be usable and reach min_age),
used by ``python -m signage eval --age-gate`` to report single photos beside simulated tracks.
Calibrated on the dev sets (``models/README.md``, "Age gate"): under-13s passed 0 %, 13-17s
4 %, adults refused ~10 % (UTKFace) to ~17 % (muxspace portraits) at min_age 24 on single
photos; on simulated tracks the minors' figures are the same and adults in the wild are refused
14.3 % (6 frames) and 13.7 % (12 frames) against 14.5 %.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

__all__ = ["AgeSample", "MIN_FACE_PX", "MAX_POSE_DEG", "MIN_FRAMES", "FLOOR_AGE", "usable", "why_not_adult"]

MIN_FACE_PX = 40.0  # face box side, pixels of the analysed image
MAX_POSE_DEG = 35.0  # |yaw| and |pitch| limit of a usable frame
MIN_FRAMES = 3  # usable frames a track needs before the gate can open
FLOOR_AGE = 18.0  # any usable frame estimated younger keeps the gate shut
KEEP = 15  # samples a track keeps (the latest; ~15 s at the default cadence)


@dataclass(frozen=True)
class AgeSample:
    """One classified frame of a track: the age estimate and what makes it trustworthy."""

    age: float
    face_px: float
    yaw: float
    pitch: float

    def to_json(self) -> dict[str, float]:
        return {
            "age": round(self.age, 1),
            "face_px": round(self.face_px),
            "yaw": round(self.yaw, 1),
            "pitch": round(self.pitch, 1),
        }


def usable(s: AgeSample) -> bool:
    return s.face_px >= MIN_FACE_PX and abs(s.yaw) <= MAX_POSE_DEG and abs(s.pitch) <= MAX_POSE_DEG


def why_not_adult(samples: Sequence[AgeSample], min_age: float, min_frames: int = MIN_FRAMES) -> str | None:
    """None when the samples show an adult by the rule above; otherwise why not (for the log)."""
    ages = sorted(s.age for s in samples if usable(s))
    if len(ages) < min_frames:
        return (
            f"{len(ages)} of {min_frames} usable frames (frontal within {MAX_POSE_DEG:g} degrees, "
            f"face >= {MIN_FACE_PX:g} px)"
        )
    if ages[0] < FLOOR_AGE:
        return f"a frame estimated age {ages[0]:.0f} < {FLOOR_AGE:g}"
    median = statistics.median(ages)
    if median < min_age:
        return f"median estimated age {median:.0f} < {min_age:g} over {len(ages)} frames"
    return None
