"""Healing content: calm scenes by season and time of day, with the date, time and weather.

Scenes live in `ads.healing_dir`. `scenes.toml` there lists them::

    [[scene]]
    id = "winter-night"
    file = "winter-night.jpg"        # image, video or self-contained html
    title = "Snow under the stars"
    season = "winter"                # spring summer autumn winter, or "any"
    time_of_day = "night"            # morning afternoon evening night, or "any"

Without `scenes.toml`, files named `<season>-<time_of_day>[-anything].<ext>` are scenes.

Weather is optional (`ads.weather_url`): fetched in the background with a short timeout and
cached; when it is not set or not reachable the panel simply shows no weather -- the
appliance works fully offline. Understood answers: Open-Meteo (`current_weather` or
`current`), or any JSON with `temperature`/`temp_c` and `summary`/`description`.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .media_types import MEDIA_TYPES
from .tasks import cancel_and_wait

log = logging.getLogger(__name__)

__all__ = ["Scene", "SceneLibrary", "Weather", "season_of", "time_of_day", "SEASONS", "TIMES_OF_DAY"]

SEASONS = ("spring", "summer", "autumn", "winter")
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
_NORTH = {
    12: "winter",
    1: "winter",
    2: "winter",
    3: "spring",
    4: "spring",
    5: "spring",
    6: "summer",
    7: "summer",
    8: "summer",
    9: "autumn",
    10: "autumn",
    11: "autumn",
}
_FLIP = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}

# WMO weather interpretation codes (Open-Meteo), coarse
_WMO = {
    0: "clear",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "fog",
    51: "drizzle",
    53: "drizzle",
    55: "drizzle",
    61: "rain",
    63: "rain",
    65: "heavy rain",
    66: "freezing rain",
    67: "freezing rain",
    71: "snow",
    73: "snow",
    75: "heavy snow",
    77: "snow grains",
    80: "showers",
    81: "showers",
    82: "heavy showers",
    85: "snow showers",
    86: "snow showers",
    95: "thunderstorm",
    96: "thunderstorm",
    99: "thunderstorm",
}


def season_of(when: datetime, hemisphere: str = "north") -> str:
    s = _NORTH[when.month]
    return _FLIP[s] if hemisphere == "south" else s


def time_of_day(when: datetime) -> str:
    h = when.hour
    if 5 <= h < 11:
        return "morning"
    if 11 <= h < 17:
        return "afternoon"
    if 17 <= h < 21:
        return "evening"
    return "night"


@dataclass(frozen=True)
class Scene:
    id: str
    file: str
    title: str
    season: str
    time_of_day: str
    media_type: str

    @property
    def media_url(self) -> str:
        return f"/media/healing/{self.file}"


class SceneLibrary:
    def __init__(self, folder: Path, hemisphere: str = "north") -> None:
        self.folder = Path(folder)
        self.hemisphere = hemisphere
        self.scenes: list[Scene] = []
        self.problems: list[str] = []
        self._turn = 0
        self.reload()

    def reload(self) -> None:
        self.scenes, self.problems = [], []
        index = self.folder / "scenes.toml"
        if index.is_file():
            try:
                raw = tomllib.loads(index.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                self.problems.append(f"{index}: {exc}")
                raw = {}
            for i, item in enumerate(raw.get("scene", [])):
                try:
                    self.scenes.append(self._scene(item))
                except ValueError as exc:
                    self.problems.append(f"{index}: scene[{i}]: {exc}")
        elif self.folder.is_dir():
            for path in sorted(self.folder.iterdir()):
                parts = path.stem.split("-")
                if (
                    path.suffix.lower() in MEDIA_TYPES
                    and len(parts) >= 2
                    and parts[0] in SEASONS
                    and parts[1] in TIMES_OF_DAY
                ):
                    self.scenes.append(
                        Scene(
                            path.stem,
                            path.name,
                            f"{parts[0]} {parts[1]}".title(),
                            parts[0],
                            parts[1],
                            MEDIA_TYPES[path.suffix.lower()],
                        )
                    )
        for p in self.problems:
            log.warning("healing scenes: %s", p)

    def _scene(self, item: dict[str, Any]) -> Scene:
        file = str(item.get("file", ""))
        if not file or "/" in file or file.startswith("."):
            raise ValueError(f"file {file!r}: must be a file name in {self.folder}")
        ext = Path(file).suffix.lower()
        if ext not in MEDIA_TYPES:
            raise ValueError(f"file {file!r}: unsupported type {ext!r}")
        if not (self.folder / file).is_file():
            raise ValueError(f"file {file!r}: not found")
        season = str(item.get("season", "any"))
        tod = str(item.get("time_of_day", "any"))
        if season not in SEASONS + ("any",):
            raise ValueError(f"season {season!r}: must be one of {', '.join(SEASONS)} or any")
        if tod not in TIMES_OF_DAY + ("any",):
            raise ValueError(f"time_of_day {tod!r}: must be one of {', '.join(TIMES_OF_DAY)} or any")
        return Scene(
            str(item.get("id") or Path(file).stem), file, str(item.get("title", "")), season, tod, MEDIA_TYPES[ext]
        )

    def pick(
        self, when: datetime, exclude: set[str] | frozenset[str] = frozenset(), last_id: str | None = None
    ) -> Scene | None:
        """A scene for this season and time of day (rotating among several), falling back to
        the time of day in any season, then to anything."""
        season, tod = season_of(when, self.hemisphere), time_of_day(when)
        usable = [s for s in self.scenes if s.id not in exclude]
        tiers = (
            [s for s in usable if s.season in (season, "any") and s.time_of_day in (tod, "any")],
            [s for s in usable if s.time_of_day in (tod, "any")],
            [s for s in usable if s.season in (season, "any")],
            usable,
        )
        for tier in tiers:
            if tier:
                choices = [s for s in tier if s.id != last_id] or tier
                self._turn += 1
                return choices[self._turn % len(choices)]
        return None


def describe_time(when: datetime) -> dict[str, str]:
    return {
        "date": f"{when:%A} {when.day} {when:%B %Y}",
        "time": f"{when:%H:%M}",
        "iso": when.isoformat(timespec="seconds"),
    }


class Weather:
    """The latest weather, fetched off the hot path; `current()` never waits."""

    def __init__(self, url: str, refresh_s: float = 900.0, timeout_s: float = 3.0) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self._value: dict[str, Any] | None = None
        self.error: str | None = None
        self._task: asyncio.Task | None = None

    def current(self) -> dict[str, Any] | None:
        return self._value

    def start(self) -> None:
        if self.url and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="weather")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_s if self.error is None else min(self.refresh_s, 120))

    async def refresh(self) -> dict[str, Any] | None:
        if not self.url:
            return None
        import aiohttp

        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(self.url) as resp:
                    resp.raise_for_status()
                    data = await resp.json(content_type=None)
            value = parse_weather(data)
            if value is None:
                raise ValueError("answer not understood")
        except Exception as exc:  # offline, timeout, bad JSON: keep the last good value
            self.error = f"{type(exc).__name__}: {exc}"[:200]
            log.info("weather unavailable (%s); the panel shows none", self.error)
            return self._value
        self.error = None
        self._value = value
        return value


def parse_weather(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    cur = data.get("current_weather") or data.get("current")
    if isinstance(cur, dict):
        temp = cur.get("temperature", cur.get("temperature_2m"))
        code = cur.get("weathercode", cur.get("weather_code"))
        if isinstance(temp, (int, float)):
            return {
                "temp_c": round(float(temp), 1),
                "summary": _WMO.get(int(code), "") if isinstance(code, (int, float)) else "",
            }
    temp = data.get("temp_c", data.get("temperature"))
    if isinstance(temp, (int, float)):
        summary = data.get("summary") or data.get("description") or ""
        return {"temp_c": round(float(temp), 1), "summary": str(summary)[:60]}
    return None
