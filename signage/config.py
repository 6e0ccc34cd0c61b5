"""The appliance's configuration: one typed, frozen object built once from `config.toml`.

Nothing else in the code base reads TOML or the environment. Every key is declared
here once, with its default, its meaning and what is allowed; the loader checks a file
against these declarations and refuses it with a message that names the key path, the
bad value and what is allowed -- a technician editing the file never sees a traceback.

To add a key: add a field to the section's dataclass with `opt(default, "meaning", ...)`,
and document it in `config.toml`. Cross-field rules go in `_check_cross_fields`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .commands import signage_command
from .vocabulary import MOODS

__all__ = ["Config", "ConfigError", "load_config", "default_config", "config_from_dict"]


class ConfigError(ValueError):
    """A configuration problem, worded for the person editing `config.toml`."""


def opt(
    default: Any,
    doc: str,
    *,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
) -> Any:
    """Declare one config key: its default, its meaning and what values are allowed."""
    meta = {"doc": doc, "choices": choices, "min": min, "max": max}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


LOG_LEVELS = ("debug", "info", "warning", "error")
_GROUP_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True)
class DeviceConfig:
    id: str = opt("signage-1", "device id, used as a label in /metrics and in reports")
    location: str = opt("", "where the screen stands (free text, shown in reports)")


@dataclass(frozen=True)
class CameraConfig:
    source: str = opt("auto", "where frames come from", choices=("auto", "picamera2", "opencv", "video", "photos"))
    device: str = opt("0", 'opencv source: device index ("0"), device path or stream URL')
    video_path: str = opt("", "video source: a video file, played in a loop")
    photos_dir: str = opt(
        "", "photos source: a folder of photos shown as a slideshow; empty = the demo photos downloaded on first use"
    )
    photo_seconds: float = opt(6.0, "photos source: seconds each photo is shown", min=0.1, max=3600)
    width: int = opt(640, "analysis frame width in pixels", min=160, max=4096)
    height: int = opt(480, "analysis frame height in pixels", min=120, max=4096)
    fps: float = opt(30.0, "frames per second asked of the camera", min=1, max=120)
    stall_seconds: float = opt(5.0, "watchdog: a camera silent this long is declared stalled", min=0.5, max=600)
    retry_max_seconds: float = opt(30.0, "watchdog: longest wait between reconnect attempts", min=1, max=3600)


#: a confirmed face track is closed only once it has been missed in this many analysed frames in
#: a row (and for close_after_s): a vision worker starved of CPU analyses frames seconds apart,
#: and one missed detection is not someone leaving (at 5+ analysed frames a second, time decides)
CLOSE_AFTER_MISSED_FRAMES = 2


@dataclass(frozen=True)
class VisionConfig:
    models_dir: Path = opt(Path("models"), "folder with the ONNX models and manifest.json")
    detector_precision: str = opt(
        "fp32",
        "face detector weights (fp32 measured more accurate on every dev set; int8 is ~15 % faster on x86)",
        choices=("fp32", "int8"),
    )
    emotion_precision: str = opt(
        "fp32",
        "emotion classifier weights (int8: dev-set recall no more than 1 point below fp32, on x86 and arm64)",
        choices=("fp32", "int8"),
    )
    age_gender_precision: str = opt(
        "fp32",
        "age/gender classifier weights (int8: age MAE within 0.2 year, gender within 0.5 point "
        "of fp32 on arm64 and on x86 with VNNI; x86 without VNNI loads fp32, its int8 saturates)",
        choices=("fp32", "int8"),
    )
    mask: bool = opt(False, "also estimate a face mask (needs the mask model)")
    detect_long_side: int = opt(640, "long side of the image given to the detector", min=160, max=2048)
    detect_score: float = opt(0.5, "minimum face score", min=0.05, max=0.99)
    nms_iou: float = opt(0.4, "overlap above which two detections are one face", min=0.05, max=0.95)
    min_face_px: int = opt(24, "faces smaller than this (pixels, box side) are ignored", min=4, max=1024)
    detect_reduced_long_side: int = opt(
        320,
        "detector input long side of a photo's first pass, used when every face is large "
        "(0 = always detect_long_side; also switches off the live pipeline's windows around tracked faces)",
        min=0,
        max=2048,
    )
    detect_reduced_min_face_px: int = opt(
        64,
        "faces are searched for only around where they were (live), or measured on windows (photos), "
        "while every face is at least this big (pixels)",
        min=16,
        max=1024,
    )
    detect_full_every_s: float = opt(
        1.0,
        "live pipeline: a full-size detection at least this often, to find new faces down to min_face_px "
        "(the classifiers run on these frames)",
        min=0.0,
        max=60,
    )
    detect_search_every_s: float = opt(
        0.5,
        "live pipeline: a whole-frame detection at detect_reduced_long_side at least this often, "
        "to find new faces of about 40 px and up between two full-size ones",
        min=0.0,
        max=60,
    )
    analysis_fps: float = opt(10.0, "frames analysed per second (at most)", min=0.2, max=60)
    classify_every_s: float = opt(
        1.0,
        "seconds between classifier runs on one track (live: on the first full-size frame after that, "
        "see detect_full_every_s)",
        min=0.05,
        max=60,
    )
    smoothing_alpha: float = opt(0.3, "weight of a new estimate in a track's running average", min=0.01, max=1.0)
    uncertain_below: float = opt(0.4, "a smoothed label less probable than this is 'uncertain'", min=0.0, max=1.0)
    frontal_yaw_deg: float = opt(20.0, "head yaw within +/- this counts as watching", min=1, max=90)
    frontal_pitch_deg: float = opt(20.0, "head pitch within +/- this counts as watching", min=1, max=90)
    confirm_hits: int = opt(3, "consecutive detections that confirm a track", min=1, max=30)
    close_after_s: float = opt(
        1.0,
        f"a track missing this long (and from {CLOSE_AFTER_MISSED_FRAMES} analysed frames in a row) is closed",
        min=0.1,
        max=60,
    )
    workers: int = opt(2, "inference worker threads", min=1, max=8)


@dataclass(frozen=True)
class AudienceConfig:
    min_exposure_s: float = opt(1.0, "seconds in front of a play that make an impression (OTS)", min=0.1, max=60)
    watcher_s: float = opt(1.0, "frontal seconds that make a session a watcher", min=0.1, max=60)
    present_timeout_s: float = opt(
        1.5,
        "a session not seen by vision for this long no longer counts as present now (longer while "
        "vision analyses frames seconds apart)",
        min=0.1,
        max=60,
    )
    session_timeout_s: float = opt(
        3.0,
        "a session not seen for this long is ended even if vision never closed it (vision down; "
        "longer while vision analyses frames seconds apart)",
        min=0.5,
        max=600,
    )
    frame_event_hz: float = opt(5.0, "most audience.frame events per second for the panel overlay", min=0.5, max=30)


#: how long media that was only slow to load (the panel gave up after its load timeout) is
#: skipped, at most: a starved screen or a busy network is not a broken file, and an ad an
#: advertiser paid for must come back soon (broken media waits media_failed_skip_seconds).
SLOW_MEDIA_SKIP_S = 60.0


@dataclass(frozen=True)
class PlayerConfig:
    rating_seconds: float = opt(12.0, "seconds the rating + QR screen stays after an ad", min=0, max=300)
    healing_min_seconds: float = opt(8.0, "shortest healing scene between two ads", min=0, max=3600)
    idle_healing_seconds: float = opt(30.0, "length of one healing scene while nobody is there", min=1, max=3600)
    seed: int = opt(0, "seed for tie-breaking, so decisions are reproducible")
    poll_seconds: float = opt(0.5, "how often healing checks whether someone arrived", min=0.05, max=10)
    media_failed_skip_seconds: float = opt(
        600.0,
        f"an ad or scene whose media failed to load is skipped this long (at most {SLOW_MEDIA_SKIP_S:.0f} s"
        " when it was only too slow)",
        min=0,
        max=86400,
    )


@dataclass(frozen=True)
class AdsConfig:
    dir: Path = opt(Path("assets/ads"), "folder of ads, one sub-folder with ad.toml per ad")
    healing_dir: Path = opt(Path("assets/healing"), "folder of healing scenes")
    age_gate: bool = opt(True, "never play age-restricted ads when a minor may be present")
    age_gate_min_age: float = opt(
        24.0,
        "median estimated age (over at least 3 frontal frames of a "
        "large enough face, none under 18) every person present must reach; "
        "calibrated in models/README.md",
        min=18,
        max=99,
    )
    mood_rules: dict = opt(
        {"sad": "uplifting", "angry": "healing"},
        "what a dominant mood leads to: 'healing' (calm content), "
        "'uplifting' (only ads marked uplifting = true or targeting happy "
        "viewers) or 'ads' (normal)",
    )
    weather_url: str = opt("", "optional weather provider URL (JSON); empty = no weather")
    weather_refresh_s: float = opt(900.0, "seconds between weather fetches", min=30, max=86400)
    weather_timeout_s: float = opt(3.0, "a weather fetch slower than this is given up", min=0.2, max=60)
    hemisphere: str = opt("north", "which seasons the months mean for healing scenes", choices=("north", "south"))
    min_expected_targeted: float = opt(
        0.1,
        "an ad whose expected targeted impressions for the people present are below this is not played",
        min=0,
        max=100,
    )
    pacing: bool = opt(True, "adjust scores so under-delivered campaigns catch up and ahead-of-plan ones yield")
    currency: str = opt(
        "EUR",
        "currency of every price, budget and spend (CPM, budget in ad.toml): "
        "an ISO 4217 code such as EUR, USD, GBP, shown with every amount",
    )


@dataclass(frozen=True)
class WebConfig:
    host: str = opt("0.0.0.0", "address the server listens on")
    port: int = opt(8080, "TCP port", min=1, max=65535)
    public_url: str = opt(
        "",
        "public HTTPS address that reaches this screen from anywhere (a reverse "
        "proxy or tunnel the operator runs, TLS ends there), e.g. "
        '"https://screen-12.example.com"; empty = none',
    )
    qr_mode: str = opt(
        "auto",
        "where the panel's QR codes send phones: \"public\" = this screen's pages "
        'at public_url; "landing" = the advertiser\'s own landing page with campaign '
        "(utm_*) parameters, rating stays on the panel (needs no connection to the "
        'screen); "lan" = this screen\'s pages at its LAN address (only for shops '
        'whose guest Wi-Fi reaches the screen); "auto" = public if public_url is '
        "set, else landing",
        choices=("auto", "public", "landing", "lan"),
    )
    strip_side: str = opt(
        "auto",
        "side of the panel's QR/notice strip, next to (never over) the ad; "
        "auto = right on a landscape screen, bottom on a portrait one",
        choices=("auto", "right", "left", "bottom", "top"),
    )
    strip_size: float = opt(
        17.0,
        "least thickness of that strip in % of the screen's width (side strip) or height "
        "(top/bottom strip); the panel grows it until its QR codes and text fit",
        min=12,
        max=35,
    )
    status_overlay: bool = opt(False, "show fps/camera/faces in a corner of the panel")
    camera_preview: bool = opt(False, "allow the camera image in the browser (privacy: off)")


@dataclass(frozen=True)
class AdminConfig:
    password_hash: str = opt(
        "", "salted hash written by `.venv/bin/python -m signage set-password`; empty = admin pages disabled"
    )
    session_minutes: float = opt(60.0, "admin login lifetime", min=1, max=60 * 24 * 30)


@dataclass(frozen=True)
class PrivacyConfig:
    retention_days: int = opt(30, "audience records older than this are deleted", min=1, max=3650)


@dataclass(frozen=True)
class StorageConfig:
    data_dir: Path = opt(Path("data"), "folder for the SQLite database and caches")
    flush_seconds: float = opt(2.0, "batched writes are flushed this often", min=0.1, max=300)
    max_pending_writes: int = opt(
        20000,
        "batched writes held in memory while the database cannot be "
        "written (disk full, locked); beyond it audience records are shed "
        "and counted, proof of play (plays, exposures) is always kept",
        min=100,
        max=10_000_000,
    )
    spill_dir: str = opt(
        "",
        "second folder for the spill file of unwritten proof of play when the "
        "data folder cannot take it (disk full, read-only); empty = the system's "
        "temporary folder",
    )


@dataclass(frozen=True)
class LoggingConfig:
    level: str = opt("info", "log level", choices=LOG_LEVELS)
    format: str = opt("text", "log line format", choices=("text", "json"))


@dataclass(frozen=True)
class FleetConfig:
    """Optional fleet mode (docs/fleet.md). Both URLs empty = a lone screen, exactly as without."""

    database_url: str = opt(
        "",
        "central PostgreSQL URL printed by `python -m signage fleet add-screen` "
        "(holds this screen's password: keep config.toml readable by the service "
        "user only); empty = nothing is shipped",
    )
    content_url: str = opt(
        "",
        "base URL of the bundles written by `fleet publish` (any static web "
        "server or bucket); empty = ads come only from ads.dir",
    )
    group: str = opt("default", "screen group whose manifest this screen pulls (`canary` gets new versions first)")
    ship_interval_s: float = opt(30.0, "seconds between two shipments of the outbox", min=1, max=86400)
    batch_rows: int = opt(1000, "most outbox rows shipped in one central transaction", min=1, max=10000)
    outbox_max_rows: int = opt(
        500000,
        "most rows the outbox keeps while the centre is unreachable; "
        "past that new rows are counted as dropped (loudly)",
        min=100,
        max=50000000,
    )
    retry_max_s: float = opt(
        600.0,
        "longest wait between two attempts while the centre is unreachable (back-off doubles up to this)",
        min=1,
        max=86400,
    )
    connect_timeout_s: float = opt(
        10.0, "a central connection or statement slower than this is given up", min=1, max=600
    )
    content_poll_s: float = opt(300.0, "seconds between two polls of content_url", min=5, max=86400)

    @property
    def shipping(self) -> bool:
        return bool(self.database_url)

    @property
    def pulling(self) -> bool:
        return bool(self.content_url)


@dataclass(frozen=True)
class Config:
    device: DeviceConfig = field(default_factory=DeviceConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    audience: AudienceConfig = field(default_factory=AudienceConfig)
    player: PlayerConfig = field(default_factory=PlayerConfig)
    ads: AdsConfig = field(default_factory=AdsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    #: folder the config file was read from; relative paths in it are relative to this
    base_dir: Path = field(default=Path("."), metadata={"internal": True})
    #: the file this config was read from (None when built from a dict): the admin re-reads its
    #: password hash from it, and command hints name it
    source_file: Path | None = field(default=None, metadata={"internal": True})

    @property
    def db_path(self) -> Path:
        return self.storage.data_dir / "signage.db"

    def replace(self, **sections: Any) -> Config:
        """A copy with some keys changed, e.g. `cfg.replace(web={"port": 0})` (CLI overrides)."""
        raw = to_dict(self)
        for name, values in sections.items():
            raw[name].update(values)
        return config_from_dict(raw, base_dir=self.base_dir, _resolved=True)


@dataclass(frozen=True)
class SystemdEnvironment:
    """What systemd tells a `Type=notify` service through its environment (not config keys:
    the service manager sets them for this one process)."""

    #: where to send sd_notify datagrams ("" = not run by systemd, or not Type=notify)
    notify_socket: str = ""
    #: WatchdogSec in seconds, 0 when the unit has no watchdog (or it is meant for another pid)
    watchdog_s: float = 0.0
    #: the unit's RuntimeDirectory= (a tmpfs under /run, emptied at boot), "" when it has none
    runtime_dir: str = ""


def systemd_environment() -> SystemdEnvironment:
    import os

    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    watchdog = int(usec) / 1e6 if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0.0
    runtime_dir = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]  # the first, if several
    return SystemdEnvironment(os.environ.get("NOTIFY_SOCKET", ""), watchdog, runtime_dir)


# --- loading and checking ------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "a text string",
        Path: "a path (text)",
        dict: "a table",
        list: "a list",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _coerce(path: str, value: Any, tp: Any, meta: dict) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        tp = next(t for t in typing.get_args(tp) if t is not type(None))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} = {_shown(value)}: must be true or false")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} = {_shown(value)}: must be a whole number")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path} = {_shown(value)}: must be a number")
        value = float(value)
    elif tp in (str, Path):
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{path} = {_shown(value)}: must be {_type_name(tp)} in quotes")
        value = Path(value) if tp is Path else str(value)
    elif tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path} = {_shown(value)}: must be a table")
    elif tp is list:
        if not isinstance(value, list):
            raise ConfigError(f'{path} = {_shown(value)}: must be a list, e.g. ["a", "b"]')
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(_shown(c) for c in choices)
        hint = _did_you_mean(str(value), [str(c) for c in choices])
        raise ConfigError(f"{path} = {_shown(value)}: must be one of {allowed}{hint}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ConfigError(f"{path} = {_shown(value)}: must be between {lo:g} and {hi:g}")
    return value


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _build_section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table (a [{name}] header followed by keys), not {_shown(raw)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(
                f"{name}.{key}: unknown key{_did_you_mean(key, list(fields))}; known keys in [{name}]: {known}"
            )
        values[key] = _coerce(f"{name}.{key}", value, hints[key], dict(fields[key].metadata))
    return cls(**values)


def _section_fields() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config) if not f.metadata.get("internal")}


def _check_cross_fields(cfg: Config) -> None:
    for mood, rule in cfg.ads.mood_rules.items():
        if mood not in MOODS:
            raise ConfigError(
                f"ads.mood_rules.{mood}: unknown mood{_did_you_mean(mood, list(MOODS))}; moods are {', '.join(MOODS)}"
            )
        if rule not in ("healing", "uplifting", "ads"):
            raise ConfigError(f'ads.mood_rules.{mood} = {_shown(rule)}: must be one of "healing", "uplifting", "ads"')
    cur = cfg.ads.currency
    if not (len(cur) == 3 and cur.isascii() and cur.isalpha() and cur.isupper()):
        raise ConfigError(
            f'ads.currency = {_shown(cur)}: must be a three-letter ISO 4217 code in capitals, e.g. "EUR", "USD", "GBP"'
        )
    pw = cfg.admin.password_hash
    if pw and not pw.startswith("pbkdf2_sha256$"):
        raise ConfigError(
            "admin.password_hash: looks like a plain-text password, which is refused; "
            f"run `{signage_command('set-password')}` to write a salted hash instead"
        )
    url = cfg.web.public_url
    if url and not (url.startswith(("https://", "http://")) and len(url.split("/")) >= 3 and url.split("/")[2]):
        raise ConfigError(
            f'web.public_url = {_shown(url)}: must be a web address such as "https://screen-12.example.com"'
        )
    if cfg.web.qr_mode == "public" and not url:
        raise ConfigError(
            'web.qr_mode = "public" needs web.public_url (the HTTPS address that reaches '
            'this screen); or use "landing" or "auto"'
        )
    if cfg.camera.source == "video" and not cfg.camera.video_path:
        raise ConfigError('camera.video_path = "": the "video" source needs a video file path')
    _check_fleet(cfg.fleet)


def _check_fleet(fleet: FleetConfig) -> None:
    if fleet.database_url:
        # Never echo the URL: it holds this screen's password.
        try:
            url = urlsplit(fleet.database_url)
            _ = url.port  # raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigError(
                "fleet.database_url: not a URL (the password is not shown); paste the "
                "line `python -m signage fleet add-screen` printed"
            ) from None
        if url.scheme not in ("postgresql", "postgres") or not url.hostname or not url.path.strip("/"):
            raise ConfigError(
                "fleet.database_url: must look like postgresql://USER:PASSWORD@HOST:PORT/"
                "DATABASE (the password is not shown); paste the line `python -m signage "
                "fleet add-screen` printed"
            )
    if fleet.content_url and urlsplit(fleet.content_url).scheme not in ("http", "https"):
        raise ConfigError(f"fleet.content_url = {_shown(fleet.content_url)}: must be an http:// or https:// URL")
    if not _GROUP_RE.fullmatch(fleet.group):
        raise ConfigError(f"fleet.group = {_shown(fleet.group)}: must be 1-40 letters, digits, '-' or '_'")


def _resolve(cfg: Config, base_dir: Path) -> Config:
    """Make relative paths relative to the config file's folder, so `run` works from anywhere."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else (base_dir / p)

    def fix_str(p: str) -> str:
        return str(fix(Path(p))) if p else p

    return dataclasses.replace(
        cfg,
        camera=dataclasses.replace(
            cfg.camera, photos_dir=fix_str(cfg.camera.photos_dir), video_path=fix_str(cfg.camera.video_path)
        ),
        vision=dataclasses.replace(cfg.vision, models_dir=fix(cfg.vision.models_dir)),
        ads=dataclasses.replace(cfg.ads, dir=fix(cfg.ads.dir), healing_dir=fix(cfg.ads.healing_dir)),
        storage=dataclasses.replace(
            cfg.storage, data_dir=fix(cfg.storage.data_dir), spill_dir=fix_str(cfg.storage.spill_dir)
        ),
        base_dir=base_dir,
    )


def config_from_dict(raw: dict[str, Any], base_dir: Path = Path("."), *, _resolved: bool = False) -> Config:
    """Build and check a Config from parsed TOML (a dict of sections)."""
    sections = _section_fields()
    built: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in sections:
            raise ConfigError(
                f"[{name}]: unknown section{_did_you_mean(name, list(sections))}; known sections: {', '.join(sections)}"
            )
        built[name] = _build_section(name, sections[name], value)
    cfg = Config(**built)
    _check_cross_fields(cfg)
    return cfg if _resolved else _resolve(cfg, base_dir.resolve())


def load_config(path: Path | str) -> Config:
    """Read and check a config file. Raises ConfigError with a one-line, human message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        cfg = config_from_dict(raw, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return dataclasses.replace(cfg, source_file=path.resolve())


def default_config(base_dir: Path | str = ".") -> Config:
    return _resolve(Config(), Path(base_dir).resolve())


def to_dict(cfg: Config) -> dict[str, dict[str, Any]]:
    """Plain dict of every section (paths as they are), for overrides and `/api/status`."""
    out: dict[str, dict[str, Any]] = {}
    for name in _section_fields():
        out[name] = {k: v for k, v in dataclasses.asdict(getattr(cfg, name)).items()}
    return out


def _default_of(f: dataclasses.Field[Any]) -> Any:
    """A config field's default value (fields with a list/table default have a factory)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def documented_keys() -> list[tuple[str, Any, str]]:
    """(key path, default, meaning) for every key: the source of the README's config reference."""
    rows = []
    for name, cls in _section_fields().items():
        for f in dataclasses.fields(cls):
            default = _default_of(f)
            rows.append((f"{name}.{f.name}", default, f.metadata["doc"]))
    return rows


# --- the documented config file --------------------------------------------------------

_SECTION_TITLES = {
    "device": "This screen",
    "camera": "Camera: where frames come from",
    "vision": "Vision: face detection and estimates (all on this device)",
    "audience": "Audience measurement (definitions: docs/architecture.md)",
    "player": "Player: what the panel shows and when",
    "ads": "Ads, healing content and decision rules",
    "web": "Web server: panel, mobile pages, admin, APIs",
    "admin": "Admin pages (/admin)",
    "privacy": "Privacy",
    "storage": "Storage (SQLite)",
    "logging": "Logging",
    "fleet": "Fleet: ship to a central PostgreSQL, pull published ads (docs/fleet.md)",
}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (str, Path)):
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def render_config_template() -> str:
    """The commented `config.toml` with every key at its default (kept in sync by a test;
    regenerate with `python scripts/gen_config.py`)."""
    out = [
        "# signage configuration. Every key is optional: the value shown is the default.",
        "# Check a changed file without starting:  .venv/bin/python -m signage check-config config.toml",
        "# Relative paths are relative to this file's folder.",
        "",
    ]
    for name, cls in _section_fields().items():
        title = _SECTION_TITLES.get(name, name)
        out.append(f"# --- {title} " + "-" * max(3, 80 - 6 - len(title)))
        out.append(f"[{name}]")
        for f in dataclasses.fields(cls):
            meta = f.metadata
            default = _default_of(f)
            allowed = ""
            if meta.get("choices"):
                allowed = " One of: " + ", ".join(str(c) for c in meta["choices"]) + "."
            elif meta.get("min") is not None:
                allowed = f" Range {meta['min']:g} to {meta['max']:g}."
            doc = meta["doc"]
            out.append(f"# {doc[0].upper() + doc[1:]}.{allowed}")
            out.append(f"{f.name} = {_toml_value(default)}")
        out.append("")
    return "\n".join(out)


def render_config_reference() -> str:
    """The README's configuration reference: one table per section (generated, like config.toml)."""
    out = []
    for name, cls in _section_fields().items():
        out.append(f"**[{name}]** — {_SECTION_TITLES.get(name, name)}\n")
        out.append("| key | default | meaning |")
        out.append("|---|---|---|")
        for f in dataclasses.fields(cls):
            meta = f.metadata
            default = _default_of(f)
            doc = meta["doc"]
            if meta.get("choices"):
                doc += " (" + " / ".join(f"`{c}`" for c in meta["choices"]) + ")"
            elif meta.get("min") is not None:
                doc += f" ({meta['min']:g}–{meta['max']:g})"
            out.append(f"| `{f.name}` | `{_toml_value(default)}` | {doc.replace('|', '/')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
