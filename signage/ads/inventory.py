"""The ad inventory: `assets/ads/<slug>/ad.toml` + its media, validated and synced into SQLite.

The folders are the source of truth. `scan()` reads every folder and returns the valid ads
and, for each bad one, one message per problem naming the file, the key and what is wrong;
a bad folder never stops the others. `sync()` writes the valid ads into the `ads` table
(insert or update by slug), marks rows whose folder vanished as deleted (plays refer to
them) and records the problem on rows whose folder no longer validates, so they do not play.

ad.toml (every key but title, media, duration, pricing and flight is optional)::

    title = "Sunshine Smoothies"          # shown on the mobile page
    advertiser = "Sunshine Juice Co."
    media = "creative.html"               # a file in this folder: image (png/jpg/jpeg/webp/svg/gif),
                                          # video (mp4/webm) or a self-contained html creative
    media_portrait = "portrait.html"      # optional: the creative for portrait screens (same
                                          # kinds of file); `media` is then the landscape one
    duration = 12                         # seconds on screen (never cut short)
    age_restricted = false                # true: never shown when a minor may be present
    uplifting = false                     # true: allowed by the 'uplifting' mood rule
    frequency_cap = 2                     # impressions per audience session; 0 = no cap
    priority = 0                          # -10..10, score x (1 + 0.1 x priority)

    [targeting]                           # each list optional; empty or absent = any
    moods = ["happy", "surprise"]         # angry disgust fear happy neutral sad surprise
    age_groups = ["teen", "20-39"]        # child teen 20-39 40-59 60+
    genders = []                          # female male

    [pricing]
    cpm = 12.0                            # price per 1000 impressions (0 = house ad)
    budget = 400.0                        # total; the ad stops when it is spent

    [flight]
    start = 2026-01-01                    # first and last day (inclusive)
    end = 2027-12-31

    [[dayparts]]                          # optional; none = all day, every day
    days = ["mon", "tue", "wed", "thu", "fri"]   # or "weekdays", "weekend", "daily"
    start = "07:00"
    end = "10:30"                         # end before start = overnight (runs past midnight)

    [safe_zone]                           # optional: a band along one edge of the creative with
    side = "bottom"                       # nothing important in it (bottom/top/left/right); when it
    size = 0.2                            # is on the side of the panel's QR strip and at least as
                                          # deep, the creative fills the screen and the strip lies
                                          # over the band (fraction 0.05..0.5; both creatives)

    [mobile]                              # the page behind the QR code
    description = "..."
    address = "..."
    phone = "..."
    website = "https://..."
    map_url = "https://..."
    coupon = "SUNNY10"                    # optional
    landing_url = "https://..."           # optional: where the QR sends phones when the screen has
                                          # no public address (web.qr_mode); default: website
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ..media_types import MEDIA_TYPES
from ..vocabulary import AGE_GROUPS, GENDERS, MOODS
from .selection import DAY_NAMES, AdState, Daypart

__all__ = [
    "AdSpec",
    "AdRecord",
    "AdInvalid",
    "SyncResult",
    "MEDIA_TYPES",
    "load_ad",
    "scan",
    "sync",
    "load_ads",
    "media_url",
    "spec_to_state",
]

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
DAY_ALIASES = {"weekdays": range(0, 5), "weekend": range(5, 7), "daily": range(0, 7), "all": range(0, 7)}
MOBILE_KEYS = ("description", "address", "phone", "website", "map_url", "coupon", "landing_url")
TOP_KEYS = (
    "title",
    "advertiser",
    "media",
    "media_portrait",
    "duration",
    "age_restricted",
    "uplifting",
    "frequency_cap",
    "priority",
    "targeting",
    "pricing",
    "flight",
    "dayparts",
    "safe_zone",
    "mobile",
)
SAFE_ZONE_SIDES = ("bottom", "top", "left", "right")
TABLE_KEYS = {
    "targeting": ("moods", "age_groups", "genders"),
    "pricing": ("cpm", "budget"),
    "flight": ("start", "end"),
    "safe_zone": ("side", "size"),
    "mobile": MOBILE_KEYS,
}
#: the key in the `ads.details` JSON that holds what only the panel needs (portrait creative,
#: safe zone); kept apart from the [mobile] keys the phone page shows
SCREEN_KEY = "screen"
# an html creative must not load anything from elsewhere (the appliance works offline)
EXTERNAL_RE = re.compile(
    r"""(?:\bsrc\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*(?:https?:)?//)|"""
    r"""(?:@import)|(?:<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//)|(?:\bfetch\s*\()|"""
    r"""(?:XMLHttpRequest)|(?:new\s+WebSocket)""",
    re.IGNORECASE,
)


class AdInvalid(ValueError):
    """A bad ad folder: every problem, each naming the file and key."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [
            f"{self.path}: {key}: {problem}" if key else f"{self.path}: {problem}" for key, problem in self.problems
        ]

    @property
    def short(self) -> str:
        return "; ".join(f"{k}: {p}" if k else p for k, p in self.problems)


@dataclass(frozen=True)
class AdSpec:
    slug: str
    title: str
    advertiser: str
    media: str
    media_type: str
    duration_s: float
    moods: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    age_restricted: bool = False
    uplifting: bool = False
    cpm: float = 0.0
    budget: float = 0.0
    start_date: date | None = None
    end_date: date | None = None
    dayparts: tuple[dict[str, Any], ...] = ()  # {"days": [...], "start": "HH:MM", "end": "HH:MM"}
    freq_cap: int = 0
    priority: int = 0
    details: dict[str, str] = field(default_factory=dict)
    sha256: str = ""
    media_portrait: str = ""  # the creative for portrait screens ("" = `media` everywhere)
    media_portrait_type: str = ""
    safe_zone: tuple[str, float] | None = None  # (side, fraction) the panel may cover

    def screen(self) -> dict[str, Any]:
        """What the panel needs beyond `media`, as stored in `ads.details[SCREEN_KEY]`."""
        out: dict[str, Any] = {}
        if self.media_portrait:
            out["media_portrait"] = self.media_portrait
            out["media_portrait_type"] = self.media_portrait_type
        if self.safe_zone:
            out["safe_zone"] = {"side": self.safe_zone[0], "size": self.safe_zone[1]}
        return out


@dataclass
class AdRecord:
    """One playable ad: what selection needs plus what the panel and mobile page show."""

    state: AdState
    advertiser: str
    media: str
    media_type: str
    details: dict[str, str]
    screen: dict[str, Any] = field(default_factory=dict)  # AdSpec.screen()

    @property
    def slug(self) -> str:
        return self.state.slug

    def panel_info(self) -> dict[str, Any]:
        """The panel's extra facts about this ad: the portrait creative, the safe zone and the
        landing URL (for QR codes when the screen has no public address)."""
        info: dict[str, Any] = {
            "landing_url": self.details.get("landing_url") or self.details.get("website") or "",
            "safe_zone": self.screen.get("safe_zone"),
        }
        if self.screen.get("media_portrait"):
            info["media_portrait_url"] = media_url(self.slug, self.screen["media_portrait"])
            info["media_portrait_type"] = self.screen.get("media_portrait_type") or ""
        return info


def media_url(slug: str, media: str) -> str:
    return f"/media/ads/{slug}/{media}"


# --- parsing one folder -------------------------------------------------------------------------


def _hint(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _minutes(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    m = TIME_RE.match(text.strip())
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    if mi > 59 or h > 24 or (h == 24 and mi != 0):
        return None
    return h * 60 + mi


def parse_daypart(raw: dict[str, Any]) -> Daypart:
    """A validated daypart table -> Daypart (used on rows read back from SQLite)."""
    days: set[int] = set()
    for d in raw.get("days") or ["daily"]:
        d = str(d).lower()
        days.update(DAY_ALIASES[d] if d in DAY_ALIASES else [DAY_NAMES.index(d)])
    end = _minutes(raw.get("end", "24:00"))
    return Daypart(frozenset(days), _minutes(raw.get("start", "00:00")) or 0, 1440 if end is None else end)


def _as_date(value: Any) -> date | None:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _html_problem(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"cannot read ({exc.strerror})"
    m = EXTERNAL_RE.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        return (
            f"the html creative loads something from elsewhere ({m.group(0).strip()!r} on line "
            f"{line}); creatives must be self-contained (inline CSS/SVG/data: URLs)"
        )
    return None


def load_ad(folder: Path) -> AdSpec:
    """Read and check one ad folder. Raises AdInvalid listing every problem."""
    folder = Path(folder)
    toml_path = folder / "ad.toml"
    problems: list[tuple[str, str]] = []
    slug = folder.name
    if not SLUG_RE.match(slug):
        problems.append(
            (
                "",
                f'folder name "{slug}" must be a slug: lower-case letters, digits '
                f"and '-', starting with a letter or digit",
            )
        )
    try:
        raw_bytes = toml_path.read_bytes()
    except FileNotFoundError:
        raise AdInvalid(toml_path, [("", "file not found (every ad folder needs an ad.toml)")]) from None
    except OSError as exc:
        raise AdInvalid(toml_path, [("", f"cannot read ({exc.strerror})")]) from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise AdInvalid(toml_path, [("", "not a UTF-8 text file")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise AdInvalid(toml_path, [("", f"not valid TOML: {exc}")]) from None

    def bad(key: str, problem: str) -> None:
        problems.append((key, problem))

    for key in raw:
        if key not in TOP_KEYS:
            bad(key, f"unknown key{_hint(key, TOP_KEYS)}; known keys: {', '.join(TOP_KEYS)}")
    for table, keys in TABLE_KEYS.items():
        if table in raw:
            if not isinstance(raw[table], dict):
                bad(table, f"must be a table ([{table}] followed by keys)")
                raw[table] = {}
                continue
            for key in raw[table]:
                if key not in keys:
                    bad(f"{table}.{key}", f"unknown key{_hint(key, keys)}; known keys in [{table}]: {', '.join(keys)}")

    def text(key: str, value: Any, required: bool = False, max_len: int = 500) -> str:
        if value is None:
            if required:
                bad(key, "missing (required)")
            return ""
        if not isinstance(value, str):
            bad(key, f"must be text in quotes, not {value!r}")
            return ""
        if required and not value.strip():
            bad(key, "must not be empty")
        if len(value) > max_len:
            bad(key, f"too long ({len(value)} characters, at most {max_len})")
        return value.strip()

    def number(
        key: str, value: Any, lo: float, hi: float, required: bool = False, default: float = 0.0, whole: bool = False
    ) -> float:
        if value is None:
            if required:
                bad(key, "missing (required)")
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
            bad(key, f"must be {'a whole number' if whole else 'a number'}, not {value!r}")
            return default
        if not lo <= value <= hi:
            bad(key, f"{value!r} is out of range: must be between {lo:g} and {hi:g}")
            return default
        return value

    def flag(key: str, value: Any) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            bad(key, f"must be true or false, not {value!r}")
            return False
        return value

    def choices(key: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            bad(key, f'must be a list, e.g. ["{allowed[0]}"]')
            return ()
        out = []
        for v in value:
            if v not in allowed:
                bad(key, f"unknown value {v!r}{_hint(str(v), allowed)}; allowed: {', '.join(allowed)}")
            elif v not in out:
                out.append(v)
        return tuple(out)

    title = text("title", raw.get("title"), required=True, max_len=120)
    advertiser = text("advertiser", raw.get("advertiser"), max_len=120)

    def creative(key: str, required: bool) -> tuple[str, str, Path | None]:
        """A creative file named by `key`: (name, media type, path), checked."""
        name = text(key, raw.get(key), required=required, max_len=200)
        if not name:
            return "", "", None
        if "/" in name or "\\" in name or name.startswith("."):
            bad(key, f'"{name}" must be a file name inside the ad folder (no folders or "..")')
            return name, "", None
        path = folder / name
        ext = path.suffix.lower()
        if ext not in MEDIA_TYPES:
            bad(key, f'"{name}": unsupported file type "{ext}"; use one of ' + ", ".join(sorted(MEDIA_TYPES)))
            return name, "", None
        if not path.is_file():
            bad(key, f'"{name}": file not found in {folder}')
            return name, "", None
        kind = MEDIA_TYPES[ext]
        if path.stat().st_size == 0:
            bad(key, f'"{name}": the file is empty')
        elif kind == "html":
            problem = _html_problem(path)
            if problem:
                bad(key, f'"{name}": {problem}')
        return name, kind, path

    media, media_type, media_path = creative("media", required=True)
    media_portrait, portrait_type, portrait_path = creative("media_portrait", required=False)
    safe_zone: tuple[str, float] | None = None
    zone = raw.get("safe_zone")
    if isinstance(zone, dict) and zone:
        side = zone.get("side")
        if side not in SAFE_ZONE_SIDES:
            bad(
                "safe_zone.side",
                f"{side!r}{_hint(str(side), SAFE_ZONE_SIDES)}: must be one of {', '.join(SAFE_ZONE_SIDES)}",
            )
        size = float(number("safe_zone.size", zone.get("size"), 0.05, 0.5, required=True))
        if side in SAFE_ZONE_SIDES and size:
            safe_zone = (side, size)
    duration = number("duration", raw.get("duration"), 1, 600, required=True, default=15.0)
    age_restricted = flag("age_restricted", raw.get("age_restricted"))
    uplifting = flag("uplifting", raw.get("uplifting"))
    freq_cap = int(number("frequency_cap", raw.get("frequency_cap"), 0, 1000, whole=True))
    priority = int(number("priority", raw.get("priority"), -10, 10, whole=True))

    targeting = raw.get("targeting", {}) or {}
    moods = choices("targeting.moods", targeting.get("moods"), MOODS)
    age_groups = choices("targeting.age_groups", targeting.get("age_groups"), AGE_GROUPS)
    genders = choices("targeting.genders", targeting.get("genders"), GENDERS)

    pricing = raw.get("pricing")
    if pricing is None:
        bad("pricing", "missing (required): a [pricing] table with cpm and budget")
        pricing = {}
    cpm = float(number("pricing.cpm", pricing.get("cpm"), 0, 10000, required="pricing" in raw))
    budget = float(number("pricing.budget", pricing.get("budget"), 0, 1e9, required="pricing" in raw))
    if cpm > 0 and "budget" in pricing and budget <= 0:
        bad("pricing.budget", "must be more than 0 for an ad with a CPM price (cpm = 0 is a house ad)")

    flight = raw.get("flight")
    start = end = None
    if flight is None:
        bad("flight", "missing (required): a [flight] table with start and end dates")
    else:
        for key in ("start", "end"):
            value = flight.get(key)
            d = _as_date(value)
            if value is None:
                bad(f"flight.{key}", "missing (required), e.g. 2026-01-31")
            elif d is None:
                bad(f"flight.{key}", f"{value!r} is not a date (YYYY-MM-DD)")
            if key == "start":
                start = d
            else:
                end = d
        if start and end and end < start:
            bad("flight.end", f"{end.isoformat()} is before flight.start {start.isoformat()}")

    dayparts: list[dict[str, Any]] = []
    raw_dp = raw.get("dayparts", [])
    if not isinstance(raw_dp, list):
        bad("dayparts", "must be an array of tables ([[dayparts]] with days, start, end)")
        raw_dp = []
    for i, dp in enumerate(raw_dp):
        key = f"dayparts[{i}]"
        if not isinstance(dp, dict):
            bad(key, "must be a table with days, start, end")
            continue
        for k in dp:
            if k not in ("days", "start", "end"):
                bad(f"{key}.{k}", f"unknown key{_hint(k, ('days', 'start', 'end'))}; known: days, start, end")
        days = dp.get("days", ["daily"])
        if isinstance(days, str):
            days = [days]
        if not isinstance(days, list) or not days:
            bad(f"{key}.days", 'must be a list of days, e.g. ["mon", "tue"] or ["weekend"]')
            days = ["daily"]
        allowed = DAY_NAMES + tuple(DAY_ALIASES)
        clean_days = []
        for raw_day in days:
            day = str(raw_day).lower()
            if day not in allowed:
                bad(f"{key}.days", f"unknown day {day!r}{_hint(day, allowed)}; allowed: {', '.join(allowed)}")
            else:
                clean_days.append(day)
        times = {}
        for k, dflt in (("start", "00:00"), ("end", "24:00")):
            v = dp.get(k, dflt)
            if _minutes(v) is None:
                bad(f"{key}.{k}", f"{v!r} is not a time of day HH:MM (00:00 to 24:00)")
            times[k] = v if isinstance(v, str) else dflt
        if _minutes(times["start"]) == _minutes(times["end"]):
            bad(f"{key}.end", "equals start: an empty window (use 00:00 to 24:00 for the whole day)")
        dayparts.append({"days": clean_days or ["daily"], "start": times["start"], "end": times["end"]})

    mobile_raw = raw.get("mobile", {}) or {}
    details: dict[str, str] = {}
    for k in MOBILE_KEYS:
        v = text(f"mobile.{k}", mobile_raw.get(k), max_len=2000 if k == "description" else 300)
        if v:
            if k in ("website", "map_url", "landing_url") and not re.match(r"^https?://\S+$", v):
                bad(f"mobile.{k}", f'"{v}" must be a web address starting with https:// or http://')
            if k == "phone" and not re.match(r"^[+0-9 ()./-]{3,30}$", v):
                bad(f"mobile.{k}", f'"{v}" is not a phone number (digits, spaces, + ( ) - . /)')
            if k == "coupon" and len(v) > 40:
                bad(f"mobile.{k}", "a coupon code must be at most 40 characters")
            details[k] = v

    if problems:
        raise AdInvalid(toml_path, problems)
    digest = hashlib.sha256(raw_bytes)
    for path in (media_path, portrait_path):
        if path is not None:
            digest.update(path.read_bytes())
    return AdSpec(
        slug=slug,
        title=title,
        advertiser=advertiser,
        media=media,
        media_type=media_type,
        duration_s=float(duration),
        moods=moods,
        age_groups=age_groups,
        genders=genders,
        age_restricted=age_restricted,
        uplifting=uplifting,
        cpm=cpm,
        budget=budget,
        start_date=start,
        end_date=end,
        dayparts=tuple(dayparts),
        freq_cap=freq_cap,
        priority=priority,
        details=details,
        sha256=digest.hexdigest(),
        media_portrait=media_portrait,
        media_portrait_type=portrait_type if media_portrait else "",
        safe_zone=safe_zone,
    )


def scan(ads_dir: Path) -> tuple[list[AdSpec], list[AdInvalid]]:
    """Every sub-folder of `ads_dir`: the valid ads and the problems of the others."""
    ads_dir = Path(ads_dir)
    good: list[AdSpec] = []
    bad: list[AdInvalid] = []
    if not ads_dir.is_dir():
        return good, [AdInvalid(ads_dir, [("", "ads folder not found (config ads.dir)")])]
    for folder in sorted(p for p in ads_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        try:
            good.append(load_ad(folder))
        except AdInvalid as exc:
            bad.append(exc)
    return good, bad


# --- SQLite --------------------------------------------------------------------------------------


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    invalid: list[AdInvalid] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.invalid)} invalid"
        )


def _row(spec: AdSpec, now: float) -> dict[str, Any]:
    return {
        "slug": spec.slug,
        "title": spec.title,
        "advertiser": spec.advertiser,
        "media": spec.media,
        "media_type": spec.media_type,
        "duration_s": spec.duration_s,
        "moods": json.dumps(list(spec.moods)),
        "age_groups": json.dumps(list(spec.age_groups)),
        "genders": json.dumps(list(spec.genders)),
        "age_restricted": int(spec.age_restricted),
        "uplifting": int(spec.uplifting),
        "cpm": spec.cpm,
        "budget": spec.budget,
        "start_date": spec.start_date.isoformat() if spec.start_date else None,
        "end_date": spec.end_date.isoformat() if spec.end_date else None,
        "dayparts": json.dumps(list(spec.dayparts)),
        "freq_cap": spec.freq_cap,
        "priority": spec.priority,
        "details": json.dumps(
            {**spec.details, **({SCREEN_KEY: spec.screen()} if spec.screen() else {})}, sort_keys=True
        ),
        "source_sha256": spec.sha256,
        "updated_at": now,
    }


async def sync(store: Any, ads_dir: Path, now: float) -> SyncResult:
    """Bring the `ads` table in line with the folders (one transaction)."""
    specs, invalid = scan(ads_dir)
    result = SyncResult(invalid=invalid)
    existing = {r["slug"]: r for r in await store.fetchall("SELECT slug, status, source_sha256, problem FROM ads")}
    statements: list[tuple[str, Any]] = []
    for spec in specs:
        row = _row(spec, now)
        old = existing.get(spec.slug)
        if old is None:
            cols = ", ".join(row)
            statements.append(
                (
                    f"INSERT INTO ads ({cols}, status, problem) VALUES "
                    f"({', '.join(':' + c for c in row)}, 'active', '')",
                    row,
                )
            )
            result.added.append(spec.slug)
        elif old["source_sha256"] == spec.sha256 and old["status"] != "deleted" and not old["problem"]:
            result.unchanged.append(spec.slug)
        else:
            sets = ", ".join(f"{c} = :{c}" for c in row if c != "slug")
            statements.append(
                (
                    f"UPDATE ads SET {sets}, problem = '', status = CASE status WHEN "
                    f"'deleted' THEN 'active' ELSE status END WHERE slug = :slug",
                    row,
                )
            )
            result.updated.append(spec.slug)
    invalid_slugs = set()
    for exc in invalid:
        slug = exc.path.parent.name if exc.path.name == "ad.toml" else exc.path.name
        invalid_slugs.add(slug)
        if slug in existing:
            statements.append(
                ("UPDATE ads SET problem = ?, updated_at = ? WHERE slug = ?", (exc.short[:1000], now, slug))
            )
    seen = {s.slug for s in specs} | invalid_slugs
    for slug, old in existing.items():
        if slug not in seen and old["status"] != "deleted":
            statements.append(("UPDATE ads SET status = 'deleted', updated_at = ? WHERE slug = ?", (now, slug)))
            result.removed.append(slug)
    if statements:
        await store.executemany_now(statements)
    return result


def record_from_row(row: dict[str, Any]) -> AdRecord:
    state = AdState(
        slug=row["slug"],
        title=row["title"],
        id=row["id"],
        moods=tuple(json.loads(row["moods"] or "[]")),
        age_groups=tuple(json.loads(row["age_groups"] or "[]")),
        genders=tuple(json.loads(row["genders"] or "[]")),
        age_restricted=bool(row["age_restricted"]),
        uplifting=bool(row.get("uplifting") or 0),
        cpm=float(row["cpm"]),
        budget=float(row["budget"]),
        spent=float(row.get("spent") or 0.0),
        impressions=int(row.get("impressions_total") or 0),
        start_date=date.fromisoformat(row["start_date"]) if row["start_date"] else None,
        end_date=date.fromisoformat(row["end_date"]) if row["end_date"] else None,
        dayparts=tuple(parse_daypart(dp) for dp in json.loads(row["dayparts"] or "[]")),
        freq_cap=int(row["freq_cap"]),
        priority=int(row["priority"]),
        duration_s=float(row["duration_s"]),
        status=row["status"],
        problem=row.get("problem") or "",
    )
    details = json.loads(row["details"] or "{}")
    screen = details.pop(SCREEN_KEY, None)
    return AdRecord(
        state=state,
        advertiser=row["advertiser"],
        media=row["media"],
        media_type=row["media_type"],
        details=details,
        screen=screen if isinstance(screen, dict) else {},
    )


def spec_to_state(spec: AdSpec) -> AdState:
    """An ad straight from its folder as selection sees it (no delivery yet): for dry runs."""
    return AdState(
        slug=spec.slug,
        title=spec.title,
        moods=spec.moods,
        age_groups=spec.age_groups,
        genders=spec.genders,
        age_restricted=spec.age_restricted,
        uplifting=spec.uplifting,
        cpm=spec.cpm,
        budget=spec.budget,
        start_date=spec.start_date,
        end_date=spec.end_date,
        dayparts=tuple(parse_daypart(dp) for dp in spec.dayparts),
        freq_cap=spec.freq_cap,
        priority=spec.priority,
        duration_s=spec.duration_s,
    )


async def ad_status(store: Any, slug: str) -> str | None:
    """The ad's status in the database ("active", "paused", "deleted"), None for an unknown slug."""
    return await store.scalar("SELECT status FROM ads WHERE slug = ?", (slug,))


async def set_status(store: Any, slug: str, status: str, now: float) -> None:
    """Pause ("paused") or resume ("active") an ad; the folder is untouched."""
    if status not in ("active", "paused"):
        raise ValueError(f"an ad can be set active or paused, not {status!r}")
    await store.execute("UPDATE ads SET status = ?, updated_at = ? WHERE slug = ?", (status, now, slug))


async def load_ads(store: Any, include_deleted: bool = False) -> list[AdRecord]:
    """Every ad with its delivery so far (spend and impressions over all its plays)."""
    rows = await store.fetchall(
        "SELECT a.*, COALESCE(p.spent, 0) AS spent, COALESCE(p.impressions, 0) AS impressions_total, "
        "COALESCE(p.plays, 0) AS plays_total FROM ads a LEFT JOIN ("
        "  SELECT ad_id, SUM(spend) AS spent, SUM(impressions) AS impressions, COUNT(*) AS plays "
        "  FROM plays WHERE kind = 'ad' GROUP BY ad_id) p ON p.ad_id = a.id "
        + ("" if include_deleted else "WHERE a.status != 'deleted' ")
        + "ORDER BY a.slug"
    )
    return [record_from_row(r) for r in rows]
