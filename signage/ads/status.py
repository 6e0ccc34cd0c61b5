"""Each ad's status now, for the operator: eligible, or blocked and by what -- computed by the
decision's own rules (`selection.blocks`, `selection.expected_targeted`, `selection.pacing_factor`),
so the admin page can never disagree with what the player does.

Three kinds of reason:
* rules of the ad itself (paused, flight, daypart, budget spent, invalid, media failing);
* the people in front of the screen now (frequency cap, age gate), when anyone is there;
* the audience of the last hour: an ad whose targeting fits none of the visitors of the last
  hour (expected targeted visitors below `ads.min_expected_targeted`) is "no matching audience".

And its delivery against plan: the spend an even plan over the flight reaches by now against
the spend so far (the pacing factor the decision multiplies the score by).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .selection import AdState, Block, Rules, Viewer, blocks, expected_targeted, minors_present, pacing_factor

__all__ = ["AdNow", "Delivery", "ad_now", "visitors_as_viewers", "REASON_LABELS"]

#: short labels for the status column, by Block.code
REASON_LABELS = {
    "invalid": "ad.toml has problems",
    "paused": "paused",
    "deleted": "deleted",
    "skipped": "media failed to load",
    "flight": "outside its flight",
    "daypart": "outside its dayparts",
    "budget": "budget spent",
    "age_gate": "age gate (a minor may be present)",
    "frequency_cap": "frequency cap reached",
    "no_audience": "no matching audience in the last hour",
}


@dataclass(frozen=True)
class Delivery:
    """Spend against the even plan over the flight (money in the ads' currency)."""

    planned: float | None  # by now; None without a budget or flight
    spent: float
    pacing: float  # the factor the decision applies (> 1 behind, < 1 ahead)

    @property
    def share(self) -> float | None:
        """spent / planned (1.0 = on plan)."""
        return self.spent / self.planned if self.planned else None

    @property
    def words(self) -> str:
        share = self.share
        if self.planned is None:
            return "no budget or flight to pace"
        if share is None:
            return "plan starts with the flight"
        if share < 0.9:
            return f"behind plan ({share:.0%} of planned spend)"
        if share > 1.1:
            return f"ahead of plan ({share:.0%} of planned spend)"
        return f"on plan ({share:.0%} of planned spend)"


@dataclass(frozen=True)
class AdNow:
    slug: str
    eligible: bool
    blocks: tuple[Block, ...] = ()
    matching_last_hour: float | None = None  # expected targeted visitors over the last hour
    visitors_last_hour: int = 0
    delivery: Delivery | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> list[str]:
        return [b.code for b in self.blocks]

    @property
    def summary(self) -> str:
        if self.eligible:
            return "eligible"
        return "blocked: " + ", ".join(dict.fromkeys(REASON_LABELS.get(b.code, b.code) for b in self.blocks))


def ad_now(
    ad: AdState,
    now: datetime,
    rules: Rules,
    *,
    present: list[Viewer],
    last_hour: list[Viewer],
    skip: dict[str, str] | None = None,
) -> AdNow:
    """Why this ad may or may not play now (see the module doc)."""
    found = list(blocks(ad, present, now, rules, minors_present(present, rules), skip))
    matching = expected_targeted(ad, last_hour) if last_hour else 0.0
    if matching < rules.min_expected_targeted:
        who = (
            f"{len(last_hour)} visitor{'s' if len(last_hour) != 1 else ''} in the last hour, "
            f"{matching:.2f} expected to match its targeting (needs {rules.min_expected_targeted:g})"
        )
        found.append(Block("no_audience", f"no matching audience in the last hour: {who}"))
    factor, info = pacing_factor(ad, now)
    planned = info.get("planned_spend")
    delivery = Delivery(planned=float(planned) if planned is not None else None, spent=ad.spent, pacing=factor)
    return AdNow(ad.slug, not found, tuple(found), matching, len(last_hour), delivery)


def visitors_as_viewers(rows: list[dict[str, Any]]) -> list[Viewer]:
    """Visitors of the last hour (`reports.public.recent_visitors`) as selection's Viewers."""
    return [Viewer(session_id=str(r["id"]), mood_p=r["mood_p"], age_p=r["age_p"], gender_p=r["gender_p"]) for r in rows]
