"""The week schedule's windows agree with selection's own daypart rule, minute by minute."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from signage.ads.inventory import parse_daypart
from signage.ads.selection import AdState
from signage.web.admin.schedule import DAY_MIN, day_windows, week_row


def _inside(windows, minute):
    return any(a <= minute < b for a, b in windows)


def test_windows_match_daypart_contains_including_overnight():
    ad = AdState(
        slug="late",
        dayparts=(
            parse_daypart({"days": ["fri", "sat"], "start": "22:00", "end": "02:00"}),
            parse_daypart({"days": ["weekdays"], "start": "07:00", "end": "10:30"}),
        ),
    )
    monday = date(2026, 11, 30)
    for i in range(8):
        day = monday + timedelta(days=i)
        windows = day_windows(ad, day)
        for minute in range(0, DAY_MIN, 15):
            when = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
            assert _inside(windows, minute) == any(dp.contains(when) for dp in ad.dayparts), (day, minute)
    assert day_windows(ad, date(2026, 12, 5)) == ((0, 120), (1320, 1440))  # Saturday
    assert day_windows(AdState(slug="all"), monday) == ((0, DAY_MIN),)


def test_week_row_greys_days_outside_the_flight():
    ad = AdState(slug="x", start_date=date(2026, 12, 2), end_date=date(2026, 12, 4))
    cells = week_row(ad, date(2026, 11, 30))
    assert [c.in_flight for c in cells] == [False, False, True, True, True, False, False]
    assert cells[0].label == "outside its flight" and cells[2].label == "all day"
