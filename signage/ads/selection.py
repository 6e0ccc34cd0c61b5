"""Ad selection: pure functions on plain dataclasses, deterministic for a state and a seed.

`decide(ads, viewers, now, rules, ...)` answers "which ad, if any, plays next?" and explains
itself: every candidate's score and its parts, and for every other ad why it is out.

Order of work:
1. nobody present -> healing.
2. eligibility, every rule recorded by name: status (active, valid ad.toml), media not
   failing, flight dates, dayparts, budget left, age gate, frequency cap for everyone present.
3. mood rules from config, *before* scoring: the audience's dominant mood (highest mean
   probability over the people present) may send us to healing, or allow only uplifting ads
   (marked `uplifting = true` or targeting happy viewers).
4. expected targeted impressions = sum over present people of P(matches the ad's targeting),
   P = P(mood in moods) x P(age group in groups) x P(gender in genders), an empty list = any
   (factor 1); under an 'uplifting' rule an ad marked `uplifting` counts the audience's mood
   as one of its moods (it is made for that moment), while an ad that merely targets happy
   viewers keeps its own targeting (it fits the happy people in a mostly sad group).
   Ads below `min_expected_targeted` are out (nobody here fits).
5. not the ad that just played, unless it is the only one left.
6. score = expected targeted impressions x CPM x pacing x (1 + 0.1 x priority); the highest
   wins; ties are broken by a hash of (seed, decision key, slug) -- reproducible.

Pacing compares the spend planned by now (budget spread evenly over the flight) with the
spend so far: factor = (planned + k) / (spent + k), k = a tenth of one day's budget, bounded
to [0.25, 4]; > 1 for an under-delivered campaign (it catches up), < 1 for one ahead of plan.
The reference system's figure `(budget / flight days) / impressions so far x 1000` is shown
beside it in the explanation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..vision.agegate import AgeSample, why_not_adult
from ..vocabulary import AGE_GROUPS, GENDERS, MOODS

__all__ = [
    "Daypart",
    "AdState",
    "Viewer",
    "Rules",
    "Decision",
    "possible_minor",
    "match_probability",
    "expected_targeted",
    "planned_spend",
    "pacing_factor",
    "Block",
    "blocks",
    "eligibility",
    "minors_present",
    "audience_mood",
    "decide",
    "DAY_NAMES",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PACING_BOUNDS = (0.25, 4.0)
PRIORITY_WEIGHT = 0.1


@dataclass(frozen=True)
class Daypart:
    """Days of week (0 = Monday) and a time window in minutes after midnight.

    `end_min <= start_min` is an overnight window: it starts on one of `days` and runs into
    the next morning. `start_min == 0 and end_min == 1440` is the whole day."""

    days: frozenset[int]
    start_min: int
    end_min: int

    def contains(self, when: datetime) -> bool:
        minute = when.hour * 60 + when.minute + when.second / 60
        today = when.weekday()
        if self.start_min < self.end_min:
            return today in self.days and self.start_min <= minute < self.end_min
        yesterday = (today - 1) % 7
        return (today in self.days and minute >= self.start_min) or (yesterday in self.days and minute < self.end_min)

    def label(self) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days))
        fmt = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
        return f"{days} {fmt(self.start_min)}-{fmt(self.end_min)}"


@dataclass
class AdState:
    """An ad as selection sees it: its inventory row plus delivery so far."""

    slug: str
    title: str = ""
    id: int | None = None
    moods: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    age_restricted: bool = False
    uplifting: bool = False
    cpm: float = 0.0
    budget: float = 0.0
    spent: float = 0.0
    impressions: int = 0
    start_date: date | None = None
    end_date: date | None = None
    dayparts: tuple[Daypart, ...] = ()
    freq_cap: int = 0
    priority: int = 0
    duration_s: float = 15.0
    status: str = "active"
    problem: str = ""

    @property
    def budget_left(self) -> float:
        return max(0.0, self.budget - self.spent)


@dataclass
class Viewer:
    """A person present now, from their anonymous session."""

    session_id: str
    mood_p: Mapping[str, float] = field(default_factory=dict)
    age_p: Mapping[str, float] = field(default_factory=dict)
    gender_p: Mapping[str, float] = field(default_factory=dict)
    age: float | None = None
    age_label: str | None = None
    ad_counts: Mapping[str, int] = field(default_factory=dict)
    #: the age gate's evidence from vision: one sample per classified frame of the track
    age_samples: tuple[AgeSample, ...] = ()


@dataclass(frozen=True)
class Rules:
    age_gate: bool = True
    age_gate_min_age: float = 24.0
    mood_rules: Mapping[str, str] = field(default_factory=lambda: {"sad": "uplifting", "angry": "healing"})
    min_expected_targeted: float = 0.1
    pacing: bool = True

    @classmethod
    def from_config(cls, ads_config: Any) -> Rules:
        return cls(
            age_gate=ads_config.age_gate,
            age_gate_min_age=ads_config.age_gate_min_age,
            mood_rules=dict(ads_config.mood_rules),
            min_expected_targeted=ads_config.min_expected_targeted,
            pacing=ads_config.pacing,
        )


@dataclass
class Decision:
    action: str  # "ad" or "healing"
    ad: AdState | None
    reason: str
    at: float | None = None
    key: str = ""
    seed: int = 0
    viewers: int = 0
    mood: str | None = None
    mood_rule: str | None = None
    minor_possible: bool = False
    candidates: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "ad": self.ad.slug if self.ad else None,
            "reason": self.reason,
            "at": self.at,
            "key": self.key,
            "seed": self.seed,
            "viewers": self.viewers,
            "mood": self.mood,
            "mood_rule": self.mood_rule,
            "minor_possible": self.minor_possible,
            "candidates": self.candidates,
            "excluded": self.excluded,
        }


# --- the pieces -------------------------------------------------------------------------------


def _norm(p: Mapping[str, float], labels: Iterable[str]) -> dict[str, float] | None:
    labels = tuple(labels)
    total = sum(max(0.0, float(p.get(k, 0.0))) for k in labels)
    if total <= 0:
        return None
    return {k: max(0.0, float(p.get(k, 0.0))) / total for k in labels}


def possible_minor(v: Viewer, rules: Rules) -> str | None:
    """Why this person may be a minor, or None: vision's age gate over the track's frames."""
    return why_not_adult(v.age_samples, rules.age_gate_min_age)


def _share(p: Mapping[str, float], labels: tuple[str, ...], wanted: tuple[str, ...]) -> float:
    if not wanted:
        return 1.0
    n = _norm(p, labels)
    if n is None:
        # unknown attribute: spread evenly, the honest expectation
        return len([w for w in wanted if w in labels]) / len(labels)
    return sum(n.get(w, 0.0) for w in wanted)


def match_probability(ad: AdState, v: Viewer, extra_mood: str | None = None) -> float:
    """P(this person matches the ad's targeting): moods x age groups x genders.
    `extra_mood` is read as one more targeted mood (an uplifting ad under an uplifting rule)."""
    moods = ad.moods
    if extra_mood and moods and extra_mood not in moods:
        moods = moods + (extra_mood,)
    mood = _share(v.mood_p, MOODS, moods)
    return mood * _share(v.age_p, AGE_GROUPS, ad.age_groups) * _share(v.gender_p, GENDERS, ad.genders)


def expected_targeted(ad: AdState, viewers: list[Viewer], extra_mood: str | None = None) -> float:
    return sum(match_probability(ad, v, extra_mood) for v in viewers)


def planned_spend(budget: float, start: date | None, end: date | None, at: datetime) -> tuple[float, int] | None:
    """The spend an even plan over the flight reaches at `at`, and the flight's length in days;
    None without a budget or a whole flight. The plan grows through each day (fractional days,
    local time), from nothing at the first day's midnight to the budget at the last day's end.
    The one pacing plan: the decision paces against it and the report shows it."""
    if budget <= 0 or start is None or end is None:
        return None
    days = (end - start).days + 1
    if days <= 0:
        return None
    elapsed_days = min(max((at - datetime.combine(start, datetime.min.time())) / timedelta(days=1), 0.0), float(days))
    return budget / days * elapsed_days, days


def pacing_factor(ad: AdState, now: datetime) -> tuple[float, dict[str, Any]]:
    """(factor, explanation): > 1 behind plan, < 1 ahead of plan, 1 without a budget/flight."""
    plan = planned_spend(ad.budget, ad.start_date, ad.end_date, now) if ad.cpm > 0 else None
    if plan is None:
        return 1.0, {"pacing": 1.0, "note": "no budget or flight to pace"}
    planned, days = plan
    daily = ad.budget / days
    k = daily * 0.1
    factor = (planned + k) / (ad.spent + k)
    factor = min(max(factor, PACING_BOUNDS[0]), PACING_BOUNDS[1])
    reference = daily / ad.impressions * 1000 if ad.impressions else None
    return factor, {
        "pacing": round(factor, 4),
        "planned_spend": round(planned, 4),
        "spent": round(ad.spent, 4),
        "flight_days": days,
        "reference_pacing": round(reference, 4) if reference is not None else None,
    }


def audience_mood(viewers: list[Viewer]) -> str | None:
    """The dominant mood of the audience: highest mean probability over the people present."""
    dists = [d for d in (_norm(v.mood_p, MOODS) for v in viewers) if d is not None]
    if not dists:
        return None
    mean = {m: sum(d[m] for d in dists) / len(dists) for m in MOODS}
    return max(MOODS, key=lambda m: (mean[m], -MOODS.index(m)))


@dataclass(frozen=True)
class Block:
    """One rule an ad fails right now: `code` for programs (the admin's status column), `text`
    for people (the decision's explanation)."""

    code: str  # invalid | paused | skipped | flight | daypart | budget | age_gate | frequency_cap
    text: str


def blocks(
    ad: AdState,
    viewers: list[Viewer],
    now: datetime,
    rules: Rules,
    minors: list[str],
    skip: Mapping[str, str] | None = None,
) -> list[Block]:
    """Every rule this ad fails right now (empty = eligible before mood, targeting and repeat).
    The one definition of eligibility: decisions and the admin's "why not" both use it."""
    out: list[Block] = []
    if ad.problem:
        out.append(Block("invalid", f"invalid ad.toml: {ad.problem}"))
    if ad.status != "active":
        out.append(Block("paused" if ad.status == "paused" else ad.status, f"status {ad.status}"))
    if skip and ad.slug in skip:
        out.append(Block("skipped", skip[ad.slug]))
    today = now.date()
    if ad.start_date is not None and today < ad.start_date:
        out.append(Block("flight", f"flight starts {ad.start_date.isoformat()}"))
    if ad.end_date is not None and today > ad.end_date:
        out.append(Block("flight", f"flight ended {ad.end_date.isoformat()}"))
    if ad.dayparts and not any(dp.contains(now) for dp in ad.dayparts):
        out.append(Block("daypart", "outside its dayparts (" + "; ".join(dp.label() for dp in ad.dayparts) + ")"))
    if ad.cpm > 0 and ad.spent >= ad.budget:
        out.append(Block("budget", f"budget spent ({ad.spent:.2f} of {ad.budget:.2f})"))
    if ad.age_restricted and rules.age_gate and minors:
        out.append(Block("age_gate", "age-restricted and a minor may be present (" + "; ".join(minors) + ")"))
    if ad.freq_cap > 0:
        capped = sum(1 for v in viewers if v.ad_counts.get(ad.slug, 0) >= ad.freq_cap)
        if capped:
            out.append(Block("frequency_cap", f"frequency cap {ad.freq_cap} reached for {capped} present session(s)"))
    return out


def eligibility(
    ad: AdState,
    viewers: list[Viewer],
    now: datetime,
    rules: Rules,
    minors: list[str],
    skip: Mapping[str, str] | None = None,
) -> list[str]:
    """Every rule this ad fails right now, in words (empty = eligible before mood, targeting and repeat)."""
    return [b.text for b in blocks(ad, viewers, now, rules, minors, skip)]


def minors_present(viewers: list[Viewer], rules: Rules) -> list[str]:
    """Why each present person may be a minor (the age gate's input), one line per person."""
    out = []
    for v in viewers:
        why = possible_minor(v, rules)
        if why:
            out.append(f"session {v.session_id[:8]}: {why}")
    return out


def _tiebreak(seed: int, key: str, slug: str) -> str:
    return hashlib.sha256(f"{seed}:{key}:{slug}".encode()).hexdigest()


def decide(
    ads: list[AdState],
    viewers: list[Viewer],
    now: datetime,
    rules: Rules,
    *,
    last_slug: str | None = None,
    seed: int = 0,
    key: str = "",
    skip: Mapping[str, str] | None = None,
    at: float | None = None,
) -> Decision:
    """Choose the next ad (or healing) for the people present, with the reasons."""
    d = Decision("healing", None, "", at=at, key=key, seed=seed, viewers=len(viewers))
    if not viewers:
        d.reason = "nobody present"
        d.excluded = [{"slug": a.slug, "reasons": ["nobody present"]} for a in ads]
        return d

    minors = minors_present(viewers, rules)
    d.minor_possible = bool(minors)

    d.mood = audience_mood(viewers)
    rule = rules.mood_rules.get(d.mood, "ads") if d.mood else "ads"
    d.mood_rule = rule if rule != "ads" else None

    eligible: list[AdState] = []
    for ad in ads:
        reasons = eligibility(ad, viewers, now, rules, minors, skip)
        if rule == "healing":
            reasons.append(f"mood rule: audience mostly {d.mood} -> healing")
        elif rule == "uplifting" and not (ad.uplifting or "happy" in ad.moods):
            reasons.append(f"mood rule: audience mostly {d.mood} -> uplifting ads only")
        if reasons:
            d.excluded.append({"slug": ad.slug, "reasons": reasons})
        else:
            eligible.append(ad)

    scored: list[tuple[AdState, float, dict[str, Any]]] = []
    for ad in eligible:
        extra = d.mood if rule == "uplifting" and ad.uplifting else None
        exp = expected_targeted(ad, viewers, extra)
        if exp < rules.min_expected_targeted:
            d.excluded.append(
                {
                    "slug": ad.slug,
                    "reasons": [
                        f"targeting fits nobody present (expected targeted impressions {exp:.3f} "
                        f"< {rules.min_expected_targeted:g})"
                    ],
                }
            )
            continue
        pace, pace_info = pacing_factor(ad, now) if rules.pacing else (1.0, {"pacing": 1.0})
        prio = 1.0 + PRIORITY_WEIGHT * ad.priority
        score = exp * ad.cpm * pace * prio
        scored.append(
            (
                ad,
                score,
                {
                    "slug": ad.slug,
                    "title": ad.title,
                    "score": round(score, 6),
                    "expected_targeted": round(exp, 4),
                    "cpm": ad.cpm,
                    "priority_factor": round(prio, 3),
                    **pace_info,
                    "budget_left": round(ad.budget_left, 4),
                },
            )
        )

    if last_slug and len(scored) > 1 and any(a.slug == last_slug for a, _, _ in scored):
        scored = [t for t in scored if t[0].slug != last_slug]
        d.excluded.append({"slug": last_slug, "reasons": ["just played (others are eligible)"]})

    scored.sort(key=lambda t: (-t[1], -t[0].priority, _tiebreak(seed, key, t[0].slug)))
    for rank, (_, _, info) in enumerate(scored, 1):
        info["rank"] = rank
    d.candidates = [info for _, _, info in scored]
    if rule == "healing":
        d.reason = f"mood rule: audience mostly {d.mood} -> healing"
        return d
    if not scored:
        d.reason = (
            "no eligible uplifting ad for a mostly " + str(d.mood) + " audience"
            if rule == "uplifting"
            else "no eligible ad"
        )
        return d
    best = scored[0]
    d.action, d.ad = "ad", best[0]
    d.reason = (
        f"highest score {best[1]:.4f}: {best[2]['expected_targeted']:.2f} expected targeted "
        f"impressions x CPM {best[0].cpm:g} x pacing {best[2]['pacing']:.2f}"
    )
    if rule == "uplifting":
        d.reason += f" (mood rule: audience mostly {d.mood} -> uplifting)"
    return d
