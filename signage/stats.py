"""Latency histograms of the vision stages (pure data: no I/O, no locks -- used on the loop).

The appliance observes each analysed frame's stage timings; `/metrics` renders them as the
Prometheus histogram `signage_stage_seconds`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

__all__ = ["STAGE_BUCKETS", "Histogram", "StageHistograms", "format_le"]

#: seconds; a Pi 4 runs detection in ~10-40 ms and a full frame in ~20-100 ms
STAGE_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def format_le(bound: float) -> str:
    """A bucket bound as Prometheus writes it (`+Inf` for the last)."""
    return "+Inf" if bound == math.inf else repr(float(bound))


class Histogram:
    def __init__(self, buckets: Iterable[float] = STAGE_BUCKETS) -> None:
        self.bounds = sorted(float(b) for b in buckets)
        self.counts = [0] * (len(self.bounds) + 1)  # last = +Inf only
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        if value is None or not math.isfinite(value) or value < 0:
            return
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, n in zip(self.bounds + [math.inf], self.counts, strict=True):
            running += n
            out.append((format_le(bound), running))
        return out


class StageHistograms:
    """Latency of each analysis stage (detect, classify, track, frame, ...), in seconds."""

    def __init__(self, buckets: Iterable[float] = STAGE_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.stages: dict[str, Histogram] = {}

    def observe(self, stage: str, seconds: float) -> None:
        h = self.stages.get(stage)
        if h is None:
            h = self.stages[stage] = Histogram(self.buckets)
        h.observe(float(seconds))

    def observe_many(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            try:
                self.observe(str(stage), float(seconds))
            except (TypeError, ValueError):
                continue
