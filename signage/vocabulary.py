"""The appliance's vocabulary: the labels vision estimates and everything downstream speaks.

One definition of each: the classifiers emit probabilities over these labels (in this order),
the audience model, the ad targeting (`ad.toml`), the reports and the pages all use them.
Nothing here imports another part of the appliance.
"""

from __future__ import annotations

__all__ = [
    "MOODS",
    "MOOD_DISPLAY_ORDER",
    "MOOD_ALIASES",
    "AGE_GROUPS",
    "MINOR_AGE_GROUPS",
    "GENDERS",
    "MASK_THRESHOLD",
    "normalise_mood",
]

#: the moods (facial expressions) vision estimates, in the emotion model's output order
MOODS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")

#: the order the public pages list moods in: the pleasant ones first
MOOD_DISPLAY_ORDER: tuple[str, ...] = ("happy", "neutral", "sad", "angry", "surprise", "fear", "disgust")

#: other spellings of a mood (model label lists, older records) and the label they mean
MOOD_ALIASES: dict[str, str] = {
    "fearful": "fear",
    "surprised": "surprise",
    "disgusted": "disgust",
    "anger": "angry",
    "happiness": "happy",
    "sadness": "sad",
}

#: age groups, youngest first (vision's age estimate binned; targeting; report segments)
AGE_GROUPS: tuple[str, ...] = ("child", "teen", "20-39", "40-59", "60+")

#: the age groups the age gate keeps age-restricted ads away from
MINOR_AGE_GROUPS: tuple[str, ...] = ("child", "teen")

GENDERS: tuple[str, ...] = ("female", "male")

#: a face whose P(face mask) reaches this is counted as wearing a mask
MASK_THRESHOLD = 0.5

assert set(MOOD_DISPLAY_ORDER) == set(MOODS) and set(MOOD_ALIASES.values()) <= set(MOODS)
assert set(MINOR_AGE_GROUPS) <= set(AGE_GROUPS)


def normalise_mood(mood: object) -> str:
    """A mood label in any known spelling -> one of MOODS ("neutral" for anything unknown)."""
    m = str(mood or "").strip().lower()
    m = MOOD_ALIASES.get(m, m)
    return m if m in MOODS else "neutral"
