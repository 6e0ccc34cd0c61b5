"""Ad management: list, create, edit, upload media, pause/resume, delete.

Source of truth (see also signage/ads/inventory.py):
* the ad's *content* -- everything in ad.toml and its media -- lives in the folder
  `assets/ads/<slug>/`; the admin writes the folder, checks it with the inventory's own
  `load_ad` before it replaces anything, then runs the inventory's `sync` so the `ads` table
  follows, and asks the player to `reload_ads()`: the change counts from the next decision;
* the ad's *operational state* -- active or paused -- and its history (plays, exposures,
  spend) live in the database; `sync` never overwrites them;
* delete moves the folder to `assets/ads/_deleted/<slug>-<time>/` (ignored by the
  inventory, kept for the record); `sync` then marks the row deleted, so its plays stay in
  reports. A deleted ad's slug is not reused, so old reports keep meaning what they said.

Uploads are streamed to a temporary file with a size limit, checked by their first bytes
(and images decoded by Pillow) against the extension, stored under a safe name, and only ever
served as media: SVG and HTML creatives (which can hold scripts) are not accepted over the web.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import secrets
import shutil
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from ...ads import bundles, inventory
from ...ads import status as ad_status
from ...ads.selection import DAY_NAMES
from ...reports import public
from ...vocabulary import AGE_GROUPS, GENDERS, MOODS
from ..guard import MULTIPART_ERRORS
from ..keys import APPLIANCE
from .auth import CSRF_FIELD, tokens_match
from .core import CSRF_MESSAGE, SESSION_KEY, admin_route, redirect, refuse, render

log = logging.getLogger(__name__)

IMAGE_MAX = 10 * 1024 * 1024
VIDEO_MAX = 50 * 1024 * 1024
BUNDLE_MAX = 20 * 1024 * 1024
FIELD_MAX = 16 * 1024
UPLOAD_TYPES = {
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".webp": "image",
    ".gif": "image",
    ".mp4": "video",
    ".webm": "video",
    ".zip": "HTML bundle",
}
UPLOAD_LIMITS = {"image": IMAGE_MAX, "video": VIDEO_MAX, "HTML bundle": BUNDLE_MAX}
WHAT_TO_UPLOAD = (
    "Upload an image (PNG, JPEG, WebP, GIF), a video (MP4, WebM) or an HTML creative as a zip with an index.html."
)
SAFE_NAME = re.compile(r"[^a-z0-9._-]+")
MAX_DAYPARTS = 6
DAY_NAMES_ALL = ["daily"]


class AdFormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: the form's fields read before the error (shown again, so nothing typed is lost)
        self.fields: dict[str, Any] | None = None


# --- uploads -----------------------------------------------------------------------------------


def safe_media_name(raw: str) -> str:
    """A file name we are willing to store, or AdFormError(400) for names that try to leave the folder."""
    name = (raw or "").strip()
    if not name:
        raise AdFormError(400, "The uploaded file has no name.")
    if "/" in name or "\\" in name or ".." in name or "\x00" in name or name.startswith("."):
        raise AdFormError(
            400,
            f'Refused file name "{name[:80]}": a media file name must not contain folders, "..", or start with a dot.',
        )
    stem, dot, ext = name.rpartition(".")
    ext = "." + ext.lower() if dot else ""
    if ext not in UPLOAD_TYPES:
        raise AdFormError(415, f'Unsupported file type "{ext or name}". {WHAT_TO_UPLOAD}')
    clean = SAFE_NAME.sub("-", stem.lower()).strip("-._")[:60] or "media"
    return clean + ext


def sniff(head: bytes) -> str | None:
    """The media type the first bytes say, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if head[4:8] == b"ftyp":
        return ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    if head.startswith(b"PK\x03\x04"):
        return ".zip"
    return None


def _same_kind(ext: str, sniffed: str | None) -> bool:
    norm = {".jpeg": ".jpg"}
    return sniffed is not None and norm.get(ext, ext) == sniffed


def _verify_image(path: Path) -> None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            if im.width * im.height > 40_000_000:
                raise AdFormError(
                    413, f"The image is too large ({im.width}x{im.height} pixels); at most 40 megapixels."
                )
    except AdFormError:
        raise
    except Exception:
        raise AdFormError(415, "The file is not a valid image (it could not be decoded).") from None


# --- the form ---------------------------------------------------------------------------------

#: the form's file fields: the creative, and an optional one for portrait screens
FILE_FIELDS = ("media", "media_portrait")


async def read_form(request: web.Request, staging: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """The ad form's fields and files (see _read_multipart); a body that is not well-formed
    multipart is a 400, not a 500."""
    try:
        return await _read_multipart(request, staging)
    except MULTIPART_ERRORS:
        raise AdFormError(400, "The form arrived damaged (not a well-formed upload). Send it again.") from None


async def _read_multipart(request: web.Request, staging: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """Stream a multipart ad form. CSRF must come before the files. Returns (fields, {file field:
    stored path}) for the file fields that carried a file.

    A refused file does not stop the reading: every other field is still read, so the form
    comes back with everything typed (the error is raised at the end, with the fields)."""
    if not request.content_type.startswith("multipart/"):
        raise AdFormError(400, "Send the ad form as multipart/form-data.")
    sess = request[SESSION_KEY]
    csrf_ok = tokens_match(request.headers.get("X-CSRF-Token"), sess.csrf)
    fields: dict[str, Any] = {}
    uploads: dict[str, Path] = {}
    problem: AdFormError | None = None
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise AdFormError(400, "The form is not a plain form (nested multipart).")
        name = part.name or ""
        if name in FILE_FIELDS and part.filename:
            if not csrf_ok:
                raise AdFormError(403, CSRF_MESSAGE)
            try:
                uploads[name] = await _receive_media(part, staging / name, portrait=name == "media_portrait")
            except AdFormError as exc:
                problem = exc
                while await part.read_chunk(256 * 1024):  # drain the rest of the refused file
                    pass
        elif name in FILE_FIELDS:
            await part.release()
        else:
            value = (await part.read(decode=True))[: FIELD_MAX + 1]
            if len(value) > FIELD_MAX:
                raise AdFormError(413, f"The field {name!r} is too long.")
            text = value.decode("utf-8", "replace")
            if name == CSRF_FIELD:
                csrf_ok = tokens_match(text, sess.csrf)
            elif name in fields:
                fields[name] = fields[name] + [text] if isinstance(fields[name], list) else [fields[name], text]
            else:
                fields[name] = text
    if not csrf_ok:
        raise AdFormError(403, CSRF_MESSAGE)
    if problem is not None:
        problem.fields = fields
        raise problem
    return fields, uploads


async def _receive_media(part: Any, staging: Path, portrait: bool = False) -> Path:
    """Stream one uploaded file to `staging`, checking its name, first bytes, size and content."""
    fname = safe_media_name(part.filename)
    ext = "." + fname.rsplit(".", 1)[1]
    kind = UPLOAD_TYPES[ext]
    if portrait:
        if kind == "HTML bundle":
            raise AdFormError(
                415,
                "Portrait creative: upload an image or a video. An HTML creative lays itself out "
                "for the screen's shape (see its portrait preview on the ad page).",
            )
        fname = "portrait-" + fname  # never the same name as the landscape creative
    limit = UPLOAD_LIMITS[kind]
    staging.mkdir(parents=True, exist_ok=True)
    media = staging / fname
    size = 0
    with open(media, "wb") as fh:
        first = True
        while chunk := await part.read_chunk(256 * 1024):
            if first:
                if not _same_kind(ext, sniff(chunk[:16])):
                    raise AdFormError(
                        415,
                        f'"{part.filename}" is not a real {ext[1:].upper()} file '
                        f"(its content does not match its name). {WHAT_TO_UPLOAD}",
                    )
                first = False
            size += len(chunk)
            if size > limit:
                raise AdFormError(413, f"The file is too large: {kind}s may be at most {limit // (1024 * 1024)} MB.")
            fh.write(chunk)
    if size == 0:
        raise AdFormError(400, "The uploaded file is empty.")
    loop = asyncio.get_running_loop()
    if kind == "image":
        await loop.run_in_executor(None, _verify_image, media)
    elif kind == "HTML bundle":
        try:
            await loop.run_in_executor(None, bundles.check_bundle, media)
        except bundles.BundleError as exc:
            raise AdFormError(422, f'The HTML bundle "{part.filename}" was refused: {exc}.') from None
    return media


def _list(fields: dict[str, Any], key: str) -> list[str]:
    v = fields.get(key, [])
    return [x for x in (v if isinstance(v, list) else [v]) if x]


def _num(fields: dict[str, Any], key: str, label: str, default: float | None = None) -> float:
    raw = str(fields.get(key, "")).strip()
    if not raw:
        if default is None:
            raise AdFormError(400, f"{label} is required.")
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > 1e12:  # "nan", "inf", 5,000 digits
        raise AdFormError(400, f"{label}: {raw[:40]!r} is not a number in range.")
    return value


def _toml_str(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)


def parse_dayparts(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The structured daypart rows of the form (`dp<i>_days` ticked days, `dp<i>_start`,
    `dp<i>_end` times); a row with no day ticked and no time is unused."""
    out = []
    for i in range(MAX_DAYPARTS):
        days = [d for d in _list(fields, f"dp{i}_days") if d in DAY_NAMES]
        start = str(fields.get(f"dp{i}_start", "")).strip()
        end = str(fields.get(f"dp{i}_end", "")).strip()
        if not days and not start and not end:
            continue
        if not days:
            raise AdFormError(400, f"Daypart {i + 1}: tick at least one day (or clear its times to remove it).")
        for label, value in (("from", start), ("until", end)):
            if value and not re.match(r"^\d{1,2}:\d{2}$", value):
                raise AdFormError(400, f'Daypart {i + 1}: "{value}" is not a time ({label}); use HH:MM, e.g. 07:30.')
        start = (start or "00:00").zfill(5)
        end = (end or "24:00").zfill(5)
        if end == "00:00" and start != "00:00":
            end = "24:00"  # "until midnight" typed as 00:00
        if start == end or (start == "00:00" and end == "00:00"):
            raise AdFormError(
                400, f"Daypart {i + 1}: from and until are the same time; leave both empty for the whole day."
            )
        days = DAY_NAMES_ALL if len(days) == 7 else days
        out.append({"days": list(days), "start": start, "end": end})
    return out


def daypart_rows(dayparts: Any) -> list[dict[str, Any]]:
    """Rows for the form: every daypart with its days spelled out, plus empty rows to add more."""
    rows = []
    for dp in dayparts or []:
        days: list[str] = []
        for d in dp.get("days") or ["daily"]:
            d = str(d).lower()
            days += [DAY_NAMES[i] for i in inventory.DAY_ALIASES[d]] if d in inventory.DAY_ALIASES else [d]
        end = dp.get("end", "24:00")
        rows.append({"days": days, "start": dp.get("start", "00:00"), "end": "00:00" if end == "24:00" else end})
    wanted = min(MAX_DAYPARTS, max(2, len(rows) + 1))  # room for one more
    while len(rows) < wanted:
        rows.append({"days": [], "start": "", "end": ""})
    return rows


def build_toml(fields: dict[str, Any], media: str, media_portrait: str = "") -> str:
    """ad.toml text from the form (the inventory validates it afterwards)."""

    def date_or_error(key: str, label: str) -> str:
        raw = str(fields.get(key, "")).strip()
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise AdFormError(400, f"{label}: {raw!r} is not a date (YYYY-MM-DD).") from None

    lines = [
        "# Written by the admin pages; edit here or there (the folder is the source of truth).",
        f"title = {_toml_str(str(fields.get('title', '')).strip())}",
        f"advertiser = {_toml_str(str(fields.get('advertiser', '')).strip())}",
        f"media = {_toml_str(media)}",
        *([f"media_portrait = {_toml_str(media_portrait)}"] if media_portrait else []),
        f"duration = {_num(fields, 'duration', 'Duration'):g}",
        f"age_restricted = {'true' if fields.get('age_restricted') else 'false'}",
        f"uplifting = {'true' if fields.get('uplifting') else 'false'}",
        f"frequency_cap = {int(_num(fields, 'frequency_cap', 'Frequency cap', 0))}",
        f"priority = {int(_num(fields, 'priority', 'Priority', 0))}",
        "",
        "[targeting]",
        f"moods = {json.dumps(_list(fields, 'moods'))}",
        f"age_groups = {json.dumps(_list(fields, 'age_groups'))}",
        f"genders = {json.dumps(_list(fields, 'genders'))}",
        "",
        "[pricing]",
        f"cpm = {_num(fields, 'cpm', 'CPM price'):g}",
        f"budget = {_num(fields, 'budget', 'Budget'):g}",
        "",
        "[flight]",
        f"start = {date_or_error('start', 'Flight start')}",
        f"end = {date_or_error('end', 'Flight end')}",
    ]
    for dp in parse_dayparts(fields):
        lines += [
            "",
            "[[dayparts]]",
            f"days = {json.dumps(dp['days'])}",
            f"start = {_toml_str(dp['start'])}",
            f"end = {_toml_str(dp['end'])}",
        ]
    side = str(fields.get("safe_zone_side", "")).strip()
    if side:
        lines += [
            "",
            "[safe_zone]",
            f"side = {_toml_str(side)}",
            f"size = {_num(fields, 'safe_zone_size', 'Safe zone size', 0.2):g}",
        ]
    mobile = [(k, str(fields.get(k, "")).strip()) for k in inventory.MOBILE_KEYS]
    mobile = [(k, v) for k, v in mobile if v]
    if mobile:
        lines += ["", "[mobile]"] + [f"{k} = {_toml_str(v)}" for k, v in mobile]
    return "\n".join(lines) + "\n"


def form_values(spec: Any | None) -> dict[str, Any]:
    """The edit form's values from a loaded AdSpec (or defaults for a new ad)."""
    if spec is None:
        today = date.today()
        return {
            "slug": "",
            "title": "",
            "advertiser": "",
            "media": "",
            "duration": 15,
            "age_restricted": False,
            "uplifting": False,
            "frequency_cap": 2,
            "priority": 0,
            "moods": [],
            "age_groups": [],
            "genders": [],
            "cpm": 10,
            "budget": 100,
            "start": today.isoformat(),
            "end": today.replace(year=today.year + 1).isoformat()
            if not (today.month == 2 and today.day == 29)
            else today.replace(year=today.year + 1, day=28).isoformat(),
            "dayparts": daypart_rows([]),
            "media_portrait": "",
            "safe_zone_side": "",
            "safe_zone_size": "0.2",
            **{k: "" for k in inventory.MOBILE_KEYS},
        }
    return {
        "slug": spec.slug,
        "title": spec.title,
        "advertiser": spec.advertiser,
        "media": spec.media,
        "duration": f"{spec.duration_s:g}",
        "age_restricted": spec.age_restricted,
        "uplifting": spec.uplifting,
        "frequency_cap": spec.freq_cap,
        "priority": spec.priority,
        "moods": list(spec.moods),
        "age_groups": list(spec.age_groups),
        "genders": list(spec.genders),
        "cpm": f"{spec.cpm:g}",
        "budget": f"{spec.budget:g}",
        "start": spec.start_date.isoformat() if spec.start_date else "",
        "end": spec.end_date.isoformat() if spec.end_date else "",
        "dayparts": daypart_rows(spec.dayparts),
        "media_portrait": spec.media_portrait,
        "safe_zone_side": spec.safe_zone[0] if spec.safe_zone else "",
        "safe_zone_size": f"{spec.safe_zone[1]:g}" if spec.safe_zone else "0.2",
        **{k: spec.details.get(k, "") for k in inventory.MOBILE_KEYS},
    }


# --- applying a change -------------------------------------------------------------------------


def _ads_dir(appliance: Any) -> Path:
    d = Path(appliance.config.ads.dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


async def _save(request: web.Request, slug: str | None) -> web.StreamResponse:
    appliance = request.app[APPLIANCE]
    ads_dir = _ads_dir(appliance)
    staging_root = ads_dir / f".staging-{secrets.token_hex(6)}"
    creating = slug is None
    fields: dict[str, Any] = {}
    try:
        staging_upload = staging_root / "upload"
        try:
            fields, uploads = await read_form(request, staging_upload)
            uploaded = uploads.get("media")
            portrait_upload = uploads.get("media_portrait")
        except AdFormError as exc:
            fields = exc.fields or {}
            raise
        if creating:
            slug = str(fields.get("slug", "")).strip().lower()
            if not slug:
                slug = await _free_slug(appliance, ads_dir, slug_from_title(str(fields.get("title", ""))))
                fields["slug"] = slug
            if not inventory.SLUG_RE.match(slug):
                raise AdFormError(
                    400,
                    f'Slug "{slug[:64]}": use lower-case letters, digits and "-", starting '
                    f"with a letter or digit (at most 64).",
                )
            if (ads_dir / slug).exists():
                raise AdFormError(409, f'An ad "{slug}" already exists; choose another slug.')
            if await inventory.ad_status(appliance.store, slug) is not None:
                raise AdFormError(
                    409,
                    f'The slug "{slug}" belonged to an ad that was deleted (its history stays in '
                    f"the reports); choose another slug.",
                )
            if uploaded is None:
                raise AdFormError(400, "Choose a media file for the new ad. " + WHAT_TO_UPLOAD)
        else:
            assert slug is not None  # editing: the route's slug
            if not (ads_dir / slug).is_dir():
                raise AdFormError(404, f'There is no ad "{slug}".')
        assert slug is not None
        target = staging_root / slug
        target.mkdir(parents=True)
        bundle_upload = uploaded is not None and uploaded.suffix == ".zip"
        if not creating and not bundle_upload:
            for p in (ads_dir / slug).iterdir():  # keep the existing media and other files
                if p.name == "ad.toml":
                    continue
                if p.is_dir():
                    shutil.copytree(p, target / p.name, symlinks=False)  # a bundle's folders
                elif p.is_file():
                    shutil.copy2(p, target / p.name)
        if bundle_upload:
            assert uploaded is not None
            # a new bundle replaces everything but ad.toml; unpacked as plain files, never run
            loop = asyncio.get_running_loop()
            try:
                checked = await loop.run_in_executor(None, bundles.check_bundle, uploaded)
                await loop.run_in_executor(None, bundles.unpack_bundle, uploaded, checked, target)
            except bundles.BundleError as exc:
                raise AdFormError(422, f"The HTML bundle was refused: {exc}.") from None
            media = bundles.INDEX
        elif uploaded is not None:
            os.replace(uploaded, target / uploaded.name)
            media = uploaded.name
        else:
            media = str(fields.get("current_media", "")).strip()
            if not media or "/" in media or "\\" in media or not (target / media).is_file():
                raise AdFormError(400, "The ad has no media file; upload one.")
        portrait = ""
        if portrait_upload is not None:
            os.replace(portrait_upload, target / portrait_upload.name)
            portrait = portrait_upload.name
        elif not fields.get("remove_portrait"):
            kept = str(fields.get("current_media_portrait", "")).strip()
            if kept and "/" not in kept and "\\" not in kept and (target / kept).is_file():
                portrait = kept
        (target / "ad.toml").write_text(build_toml(fields, media, portrait), encoding="utf-8")
        try:
            inventory.load_ad(target)
        except inventory.AdInvalid as exc:
            raise AdFormError(400, "The ad was not saved: " + exc.short) from None
        old_media = str(fields.get("current_media", "")).strip()
        if (
            not creating
            and uploaded is not None
            and not bundle_upload
            and old_media
            and old_media != media
            and "/" not in old_media
            and (target / old_media).is_file()
        ):
            (target / old_media).unlink()  # replaced; plays keep referring to the ad, not the file
        final = ads_dir / slug
        if creating:
            os.replace(target, final)
        else:
            old = staging_root / f"old-{slug}"
            os.replace(final, old)
            os.replace(target, final)
        # folders -> database -> player: the change counts from the next decision
        result = await appliance.player.sync_inventory()
        log.info("admin %s ad %s (%s)", "created" if creating else "updated", slug, result.summary())
    except AdFormError as exc:
        if exc.status == 403:
            return refuse(request, 403, exc.message)
        values = typed_values(fields)
        if not creating:
            values["slug"] = slug
        message = exc.message
        if exc.fields is not None:  # the file was refused: a browser never keeps a chosen file
            message += " Everything else you typed is kept below; choose the file again."
        return render(
            request, "ad_form.html", status=exc.status, error=message, ad=values, creating=creating, **_choices(request)
        )
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return redirect(f"/admin/ads?saved={slug}")


def _choices(request: web.Request) -> dict[str, Any]:
    """What every render of the ad form needs besides the ad (an edit adds its status now)."""
    return {
        "moods": MOODS,
        "age_groups": AGE_GROUPS,
        "genders": GENDERS,
        "day_names": DAY_NAMES,
        "currency": request.app[APPLIANCE].config.ads.currency,
        "labels": ad_status.REASON_LABELS,
        "now_status": None,
        "ad_state": None,
        "status_label": None,
    }


def typed_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the person typed them (shown again after an error)."""
    values = {**form_values(None), **{k: v for k, v in fields.items() if k != CSRF_FIELD}}
    for k in ("moods", "age_groups", "genders"):
        values[k] = _list(fields, k)
    values["age_restricted"] = bool(fields.get("age_restricted"))
    values["uplifting"] = bool(fields.get("uplifting"))
    values["dayparts"] = [
        {
            "days": [d for d in _list(fields, f"dp{i}_days") if d in DAY_NAMES],
            "start": str(fields.get(f"dp{i}_start", "")),
            "end": str(fields.get(f"dp{i}_end", "")),
        }
        for i in range(MAX_DAYPARTS)
        if f"dp{i}_start" in fields or f"dp{i}_days" in fields
    ]
    if not values["dayparts"]:
        values["dayparts"] = daypart_rows([])
    # an edit keeps pointing at the creatives it had (the form sends them as current_*)
    values["media"] = str(fields.get("current_media", ""))
    values["media_portrait"] = str(fields.get("current_media_portrait", ""))
    return values


def slug_from_title(title: str) -> str:
    """ "Harbour Café — Spring 2027!" -> "harbour-cafe-spring-2027" (ASCII, at most 64)."""
    import unicodedata

    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:64].rstrip("-")
    return slug or "ad"


async def _free_slug(appliance: Any, ads_dir: Path, base: str) -> str:
    """`base`, or `base-2`, `base-3`... : the first not used by an ad folder or a deleted ad."""
    for n in range(1, 100):
        slug = base if n == 1 else f"{base[:60]}-{n}"
        if not (ads_dir / slug).exists() and await inventory.ad_status(appliance.store, slug) is None:
            return slug
    raise AdFormError(409, f'Too many ads are called "{base}"; type a slug.')


# --- handlers -----------------------------------------------------------------------------------


async def statuses_now(appliance: Any, records: list[inventory.AdRecord]) -> dict[str, ad_status.AdNow]:
    """Each ad's status now by the decision's own rules: the people present now (frequency cap,
    age gate), the visitors of the last hour (matching audience), the player's media skips."""
    now = appliance.clock.now()
    present = appliance.player.viewers(now)
    seen = {v.session_id for v in present}
    recent = [
        v
        for v in ad_status.visitors_as_viewers(await public.recent_visitors(appliance.store, now - 3600))
        if v.session_id not in seen
    ]
    skip = appliance.player.status()["skipped"]
    when = datetime.fromtimestamp(now)
    return {
        r.slug: ad_status.ad_now(
            r.state, when, appliance.player.rules, present=present, last_hour=present + recent, skip=skip
        )
        for r in records
        if r.state.status != "deleted"
    }


@admin_route
async def ads_list(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    records = await inventory.load_ads(appliance.store, include_deleted=True)
    stats = await public.ad_delivery_by_slug(appliance.store)
    _, invalid = await asyncio.get_running_loop().run_in_executor(None, inventory.scan, _ads_dir(appliance))
    saved = request.query.get("saved")
    return render(
        request,
        "ads.html",
        ads=records,
        stats=stats,
        invalid=invalid,
        now=await statuses_now(appliance, records),
        currency=appliance.config.ads.currency,
        labels=ad_status.REASON_LABELS,
        present=len(appliance.player.viewers()),
        message=f'Saved "{saved}". It counts from the next decision.' if saved else None,
    )


@admin_route
async def ad_new(request: web.Request) -> web.Response:
    return render(request, "ad_form.html", ad=form_values(None), creating=True, **_choices(request))


@admin_route(multipart=True)
async def ad_create(request: web.Request) -> web.StreamResponse:
    return await _save(request, None)


@admin_route
async def ad_edit(request: web.Request) -> web.Response:
    appliance = request.app[APPLIANCE]
    slug = request.match_info["slug"]
    folder = _ads_dir(appliance) / slug
    if not inventory.SLUG_RE.match(slug) or not folder.is_dir():
        return refuse(request, 404, f'There is no ad "{slug[:64]}" (deleted ads keep only their history).')
    try:
        spec = inventory.load_ad(folder)
    except inventory.AdInvalid as exc:
        return refuse(request, 409, f"{slug}: ad.toml has problems; fix the file on the appliance: {exc.short}")
    status = await inventory.ad_status(appliance.store, slug)
    record = next((r for r in await inventory.load_ads(appliance.store) if r.slug == slug), None)
    now_status = (await statuses_now(appliance, [record])).get(slug) if record else None
    return render(
        request,
        "ad_form.html",
        ad=form_values(spec),
        creating=False,
        **{
            **_choices(request),
            "now_status": now_status,
            "ad_state": record.state if record else None,
            "status_label": status or "active",
        },
    )


@admin_route(multipart=True)
async def ad_update(request: web.Request) -> web.StreamResponse:
    slug = request.match_info["slug"]
    if not inventory.SLUG_RE.match(slug):
        return refuse(request, 404, "There is no such ad.")
    return await _save(request, slug)


async def _set_status(request: web.Request, new: str, allowed_from: tuple[str, ...]) -> web.StreamResponse:
    appliance = request.app[APPLIANCE]
    slug = request.match_info["slug"]
    status = await inventory.ad_status(appliance.store, slug)
    if status is None:
        return refuse(request, 404, f'There is no ad "{slug[:64]}".')
    if status not in allowed_from:
        return refuse(request, 409, f'"{slug}" is {status}; it cannot be {new}.')
    await inventory.set_status(appliance.store, slug, new, time.time())
    await appliance.player.sync_inventory()
    log.info("admin set ad %s to %s", slug, new)
    return redirect(f"/admin/ads?saved={slug}")


@admin_route
async def ad_pause(request: web.Request) -> web.StreamResponse:
    return await _set_status(request, "paused", ("active",))


@admin_route
async def ad_resume(request: web.Request) -> web.StreamResponse:
    return await _set_status(request, "active", ("paused",))


@admin_route
async def ad_delete(request: web.Request) -> web.StreamResponse:
    appliance = request.app[APPLIANCE]
    slug = request.match_info["slug"]
    ads_dir = _ads_dir(appliance)
    folder = ads_dir / slug
    if not inventory.SLUG_RE.match(slug) or not folder.is_dir():
        return refuse(request, 404, f'There is no ad "{slug[:64]}".')
    trash = ads_dir / "_deleted"
    trash.mkdir(exist_ok=True)
    os.replace(folder, trash / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}")
    await appliance.player.sync_inventory()
    log.info("admin deleted ad %s (folder kept under _deleted/, history kept)", slug)
    return redirect(f"/admin/ads?saved={slug}")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/ads", ads_list)
    app.router.add_get("/admin/ads/new", ad_new)
    app.router.add_post("/admin/ads/new", ad_create)
    app.router.add_get("/admin/ads/{slug}", ad_edit)
    app.router.add_post("/admin/ads/{slug}", ad_update)
    app.router.add_post("/admin/ads/{slug}/pause", ad_pause)
    app.router.add_post("/admin/ads/{slug}/resume", ad_resume)
    app.router.add_post("/admin/ads/{slug}/delete", ad_delete)
