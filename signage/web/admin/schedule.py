"""`GET /admin/schedule`: a week view of when every ad may play -- its flight and its dayparts,
day by day, as 24-hour bars (inline SVG: no script, no inline style, fits the admin's CSP).

The windows come from `selection.Daypart.contains`' own rule (an overnight window starts on one
of its days and runs into the next morning), computed here per calendar day for drawing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from ...ads import inventory
from ...ads.selection import DAY_NAMES, AdState
from ..keys import APPLIANCE
from .core import admin_route, render

DAY_MIN = 24 * 60


@dataclass(frozen=True)
class DayCell:
    day: date
    in_flight: bool
    windows: tuple[tuple[int, int], ...]  # (start minute, end minute) within this day

    @property
    def label(self) -> str:
        if not self.in_flight:
            return "outside its flight"
        if not self.windows:
            return "no daypart this day"
        if self.windows == ((0, DAY_MIN),):
            return "all day"
        fmt = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
        return ", ".join(f"{fmt(a)}–{fmt(b)}" for a, b in self.windows)


def day_windows(ad: AdState, day: date) -> tuple[tuple[int, int], ...]:
    """The minutes of `day` inside the ad's dayparts (all day when it has none)."""
    if not ad.dayparts:
        return ((0, DAY_MIN),)
    wd, yesterday = day.weekday(), (day.weekday() - 1) % 7
    spans: list[tuple[int, int]] = []
    for dp in ad.dayparts:
        if dp.start_min < dp.end_min:
            if wd in dp.days:
                spans.append((dp.start_min, dp.end_min))
        else:  # overnight: from start on one of its days to end the next morning
            if wd in dp.days:
                spans.append((dp.start_min, DAY_MIN))
            if yesterday in dp.days and dp.end_min > 0:
                spans.append((0, dp.end_min))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)


def week_row(ad: AdState, monday: date) -> list[DayCell]:
    cells = []
    for i in range(7):
        day = monday + timedelta(days=i)
        in_flight = (ad.start_date is None or day >= ad.start_date) and (ad.end_date is None or day <= ad.end_date)
        cells.append(DayCell(day, in_flight, day_windows(ad, day) if in_flight else ()))
    return cells


@admin_route
async def schedule_page(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    try:
        anchor = date.fromisoformat(request.query.get("week", "")) if request.query.get("week") else date.today()
    except ValueError:
        anchor = date.today()
    monday = anchor - timedelta(days=anchor.weekday())
    records = await inventory.load_ads(appliance.store)
    rows: list[dict[str, Any]] = [{"ad": r.state, "cells": week_row(r.state, monday)} for r in records]
    days = [monday + timedelta(days=i) for i in range(7)]
    return render(
        request,
        "schedule.html",
        rows=rows,
        days=days,
        day_names=DAY_NAMES,
        today=date.today(),
        prev_week=(monday - timedelta(days=7)).isoformat(),
        next_week=(monday + timedelta(days=7)).isoformat(),
        monday=monday,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/schedule", schedule_page)
