"""Content plane (docs/fleet.md): screens pull their ads; no server program of ours.

Publishing (`python -m signage fleet publish INVENTORY_DIR OUT_DIR`): INVENTORY_DIR holds
`ads/<slug>/` folders (ad.toml + media, checked with the same code as `ads validate`) and
`groups.toml`, which assigns ads to screen groups:

    [groups.canary]            # gets every new version first
    ads = ["*"]
    [groups.default]
    ads = ["*"]                # or a list of slugs
    budget_share = 0.1         # optional: each screen may spend this fraction of an ad's budget

OUT_DIR receives content-addressed files `blobs/<sha256>` and one manifest per group,
`manifests/<group>.json`, servable by any static web server or S3-compatible bucket. With a
`canary` group, a publish makes the new version live for the canary only; the same command
with `--promote` makes it live everywhere, and only if the canary has exactly that version.

Pulling (`ContentPuller`, a screen with `[fleet] content_url`): polls its group's manifest with
If-None-Match (ETag), downloads the blobs it lacks, checks every sha256, assembles the version
in a new folder, validates it with the `ads validate` code, then swaps the `current` symlink
atomically (os.replace) and syncs the player. A bad bundle never replaces a good one: the old
inventory stays and keeps playing, and the error is shown in /api/status and /metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import time
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..ads.inventory import SLUG_RE, scan
from ..config import Config
from ..tasks import cancel_and_wait
from .outbox import set_meta

log = logging.getLogger(__name__)

__all__ = ["publish", "PublishError", "ContentPuller", "ContentError", "with_pulled_inventory", "CANARY"]

CANARY = "canary"
FORMAT = 1
MAX_MANIFEST_BYTES = 1 << 20
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_GROUP_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_PART_RE = re.compile(r"[A-Za-z0-9._-]{1,120}")


class PublishError(ValueError):
    """The inventory cannot be published; one problem per line."""


class ContentError(RuntimeError):
    """A bundle was refused (the old inventory keeps playing)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _safe_rel(rel: str) -> bool:
    parts = rel.split("/")
    return bool(parts) and all(_PART_RE.fullmatch(p) and p not in (".", "..") for p in parts)


# --- publishing -------------------------------------------------------------------------------


def _read_groups(path: Path, slugs: set[str]) -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PublishError(f"{path}: not found (it assigns ads to screen groups)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PublishError(f"{path}: not valid TOML: {exc}") from None
    groups = raw.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise PublishError(f"{path}: needs at least one [groups.NAME] table with ads = [...]")
    out, problems = {}, []
    for name, g in groups.items():
        where = f"{path.name}: groups.{name}"
        if not _GROUP_RE.fullmatch(name) or not isinstance(g, dict):
            problems.append(f"{where}: a group is a table named with 1-40 letters, digits, '-' or '_'")
            continue
        ads = g.get("ads")
        if not isinstance(ads, list) or not all(isinstance(a, str) for a in ads):
            problems.append(f'{where}.ads: must be a list of ad slugs, or ["*"] for every ad')
            continue
        chosen = sorted(slugs) if "*" in ads else ads
        unknown = [a for a in chosen if a not in slugs]
        if unknown:
            problems.append(f"{where}.ads: no valid ad folder named {', '.join(unknown)}")
        share = g.get("budget_share", 1.0)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            problems.append(f"{where}.budget_share = {share!r}: must be a number above 0 and at most 1")
        extra = set(g) - {"ads", "budget_share"}
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(extra))}; known: ads, budget_share")
        out[name] = {"ads": sorted(set(chosen)), "budget_share": float(share)}
    if problems:
        raise PublishError("\n".join(problems))
    return out


_BUDGET_LINE = re.compile(r"(?m)^(\s*budget\s*=\s*)([0-9_.eE+-]+)(.*)$")


def _scale_budget(ad_toml: bytes, share: float, where: str) -> bytes:
    """ad.toml with [pricing] budget multiplied by `share` (the rest byte for byte)."""
    text = ad_toml.decode("utf-8")
    section = re.search(r"(?ms)^\[pricing\][ \t]*$(.*?)(?=^\[|\Z)", text)
    if section is None or not _BUDGET_LINE.search(section.group(1)):
        raise PublishError(f"{where}: budget_share needs a [pricing] budget line to scale")
    budget = tomllib.loads(text)["pricing"]["budget"]
    body = _BUDGET_LINE.sub(
        lambda m: f"{m.group(1)}{round(budget * share, 4)!r}{m.group(3)}", section.group(1), count=1
    )
    scaled = text[: section.start(1)] + body + text[section.end(1) :]
    if abs(tomllib.loads(scaled)["pricing"]["budget"] - round(budget * share, 4)) > 1e-9:
        raise PublishError(f"{where}: could not scale the budget")
    return scaled.encode("utf-8")


def _manifest(group: str, ads: dict[str, dict[str, Any]], share: float) -> dict[str, Any]:
    body = {"format": FORMAT, "group": group, "budget_share": share, "ads": ads}
    version = _sha256(json.dumps(body, sort_keys=True).encode())[:16]
    return {**body, "version": version, "published_at": time.time()}


def build(inventory: Path, out: Path) -> dict[str, dict[str, Any]]:
    """Validate the inventory, write its blobs into `out/blobs`; the manifests (not yet live)."""
    inventory, out = Path(inventory), Path(out)
    specs, invalid = scan(inventory / "ads")
    if invalid:
        raise PublishError("\n".join(line for exc in invalid for line in exc.lines()))
    groups = _read_groups(inventory / "groups.toml", {s.slug for s in specs})
    manifests = {}
    for name, group in groups.items():
        ads: dict[str, dict[str, Any]] = {}
        for slug in group["ads"]:
            folder = inventory / "ads" / slug
            files = {}
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                rel = path.relative_to(folder).as_posix()
                if any(part.startswith(".") for part in rel.split("/")):
                    continue
                if not _safe_rel(rel):
                    raise PublishError(f"{path}: file names may hold only letters, digits, '.', '_', '-'")
                data = path.read_bytes()
                if rel == "ad.toml" and group["budget_share"] < 1.0:
                    data = _scale_budget(data, group["budget_share"], f"groups.{name}: {slug}/ad.toml")
                digest = _sha256(data)
                blob = out / "blobs" / digest
                if not blob.exists():
                    _write_atomic(blob, data)
                files[rel] = {"sha256": digest, "size": len(data)}
            ads[slug] = {"files": files}
        manifests[name] = _manifest(name, ads, group["budget_share"])
    return manifests


def _live_version(out: Path, group: str) -> str | None:
    try:
        return json.loads((out / "manifests" / f"{group}.json").read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def publish(inventory: Path, out: Path, *, promote: bool = False) -> dict[str, str]:
    """Publish; returns {group: "VERSION (state)"}. With a canary group, other groups that
    already have a live version wait for `promote` (which requires the canary to run exactly
    this version)."""
    out = Path(out)
    manifests = build(inventory, out)
    staged = CANARY in manifests and not promote
    if promote and CANARY in manifests and _live_version(out, CANARY) != manifests[CANARY]["version"]:
        raise PublishError(
            f"--promote: the canary group is not on this version "
            f"({manifests[CANARY]['version']}); publish without --promote first and "
            f"check the canary screens"
        )
    result = {}
    for name, manifest in manifests.items():
        live = _live_version(out, name)
        if live == manifest["version"]:
            result[name] = f"{live} (live, unchanged)"
        elif staged and name != CANARY and live is not None:
            result[name] = f"{live} (live; {manifest['version']} waits for --promote after the canary)"
        else:
            _write_atomic(out / "manifests" / f"{name}.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
            result[name] = f"{manifest['version']} (live)"
    return result


# --- pulling ----------------------------------------------------------------------------------


def content_root(config: Config) -> Path:
    return config.storage.data_dir / "content"


def with_pulled_inventory(config: Config) -> Config:
    """The config with ads.dir = the pulled inventory (`<data_dir>/content/current`, a symlink
    swapped atomically). Before the first pull it points at an empty folder: healing plays."""
    root = content_root(config)
    current = root / "current"
    if not current.exists():
        empty = root / "versions" / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        _swap_symlink(current, empty)
    return dataclasses.replace(config, ads=dataclasses.replace(config.ads, dir=current))


def _swap_symlink(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target.relative_to(link.parent), tmp)
    os.replace(tmp, link)  # atomic: a reader sees the old folder or the new one, never a mix


def _check_manifest(m: Any, group: str) -> dict[str, Any]:
    ok = (
        isinstance(m, dict)
        and m.get("format") == FORMAT
        and m.get("group") == group
        and isinstance(m.get("version"), str)
        and re.fullmatch(r"[0-9a-f]{16}", m["version"])
        and isinstance(m.get("ads"), dict)
    )
    if not ok:
        raise ContentError(f"manifest for group {group!r} is not a signage manifest (format {FORMAT})")
    for slug, ad in m["ads"].items():
        files = ad.get("files") if isinstance(ad, dict) else None
        if not SLUG_RE.match(str(slug)) or not isinstance(files, dict) or "ad.toml" not in files:
            raise ContentError(f"manifest: ad {slug!r} is malformed")
        for rel, f in files.items():
            if (
                not _safe_rel(rel)
                or not isinstance(f, dict)
                or not _SHA_RE.fullmatch(str(f.get("sha256")))
                or not isinstance(f.get("size"), int)
                or f["size"] < 0
            ):
                raise ContentError(f"manifest: file {slug}/{rel} is malformed")
    return m


class ContentPuller:
    """Polls `[fleet] content_url` for this screen's group and swaps in new versions."""

    def __init__(self, config: Config, store: Any, reload_ads: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.config = config
        self.store = store
        self.reload_ads = reload_ads
        self.root = content_root(config)
        self.group = config.fleet.group
        self.base = config.fleet.content_url.rstrip("/")
        self.etag: str | None = None
        self.version: str | None = self._current_version()
        self.last_poll_at: float | None = None
        self.last_change_at: float | None = None
        self.last_error: str | None = None
        self.not_modified = 0  # polls answered 304: nothing downloaded
        self._task: asyncio.Task | None = None

    def _current_version(self) -> str | None:
        current = self.root / "current"
        if current.is_symlink():
            name = Path(os.readlink(current)).name
            return None if name == "empty" else name
        return None

    # --- one poll --------------------------------------------------------------------------

    async def poll_once(self) -> bool:
        """Fetch the manifest; install a new version. True when the inventory changed.
        Raises ContentError (the old inventory stays) when the bundle is refused."""
        import aiohttp

        self.last_poll_at = time.time()
        timeout = aiohttp.ClientTimeout(total=600, connect=self.config.fleet.connect_timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                manifest, etag = await self._fetch_manifest(http)
                if manifest is None or manifest["version"] == self.version:
                    self.etag = etag or self.etag
                    self.last_error = None
                    return False
                await self._fetch_blobs(http, manifest)
        except ContentError as exc:
            self.last_error = str(exc)
            raise
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.last_error = f"cannot reach {self.base}: {exc or type(exc).__name__}"
            raise ContentError(self.last_error) from None
        try:
            await self._install(manifest)
        except ContentError as exc:
            self.last_error = str(exc)
            raise
        # Only now: a refused bundle is fetched again next time (the operator may fix a blob).
        self.etag = etag
        self.last_error = None
        return True

    async def _fetch_manifest(self, http: Any) -> tuple[dict[str, Any] | None, str | None]:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        async with http.get(f"{self.base}/manifests/{self.group}.json", headers=headers) as resp:
            if resp.status == 304:
                self.not_modified += 1
                return None, None
            if resp.status != 200:
                raise ContentError(f"manifest for group {self.group!r}: HTTP {resp.status}")
            body = await resp.content.read(MAX_MANIFEST_BYTES + 1)
            if len(body) > MAX_MANIFEST_BYTES:
                raise ContentError("manifest larger than 1 MB: refused")
            try:
                manifest = _check_manifest(json.loads(body), self.group)
            except ValueError:
                raise ContentError(f"manifest for group {self.group!r} is not JSON") from None
            return manifest, resp.headers.get("ETag")

    async def _fetch_blobs(self, http: Any, manifest: dict[str, Any]) -> None:
        blobs = self.root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        wanted = {f["sha256"]: f["size"] for ad in manifest["ads"].values() for f in ad["files"].values()}
        for digest, size in sorted(wanted.items()):
            if (blobs / digest).exists():
                continue
            tmp = blobs / f".{digest}.part"
            h = hashlib.sha256()
            got = 0
            async with http.get(f"{self.base}/blobs/{digest}") as resp:
                if resp.status != 200:
                    raise ContentError(f"blob {digest[:12]}: HTTP {resp.status}")
                with open(tmp, "wb") as f:
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        got += len(chunk)
                        if got > size:
                            break
                        h.update(chunk)
                        await asyncio.to_thread(f.write, chunk)
            if got != size or h.hexdigest() != digest:
                tmp.unlink(missing_ok=True)
                raise ContentError(
                    f"blob {digest[:12]}: sha256 or size does not match the manifest "
                    f"(corrupt or tampered): bundle {manifest['version']} refused"
                )
            os.replace(tmp, blobs / digest)

    async def _install(self, manifest: dict[str, Any]) -> None:
        version = manifest["version"]
        folder = await asyncio.to_thread(self._assemble, manifest)
        await set_meta(self.store, {"fleet.content_version": version})
        old = self.version
        self.version = version
        self.last_change_at = time.time()
        log.info("fleet: content version %s installed for group %s (was %s)", version, self.group, old)
        if self.reload_ads is not None:
            await self.reload_ads()
        await asyncio.to_thread(self._prune, keep={folder.name, old or "", "empty"})

    def _assemble(self, manifest: dict[str, Any]) -> Path:
        """Build the version's folder from verified blobs, validate it, swap it in (thread)."""
        version = manifest["version"]
        versions = self.root / "versions"
        final = versions / version
        tmp = versions / f".{version}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        for slug, ad in manifest["ads"].items():
            for rel, f in ad["files"].items():
                dest = tmp / slug / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = self.root / "blobs" / f["sha256"]
                try:
                    os.link(src, dest)
                except OSError:
                    shutil.copyfile(src, dest)
        tmp.mkdir(parents=True, exist_ok=True)
        specs, invalid = scan(tmp)
        if invalid:
            shutil.rmtree(tmp, ignore_errors=True)
            problems = "; ".join(line for exc in invalid for line in exc.lines())
            raise ContentError(f"bundle {version} refused, the old inventory keeps playing: {problems}")
        (tmp / ".manifest.json").write_text(json.dumps(manifest))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _swap_symlink(self.root / "current", final)
        return final

    def _prune(self, keep: set[str]) -> None:
        """Keep the current and previous versions (a play may still show the previous media)."""
        versions = self.root / "versions"
        needed: set[str] = set()
        for d in versions.iterdir():
            if d.name in keep:
                try:
                    m = json.loads((d / ".manifest.json").read_text())
                    needed |= {f["sha256"] for ad in m["ads"].values() for f in ad["files"].values()}
                except (OSError, ValueError):
                    pass
            elif not d.name.startswith("."):
                shutil.rmtree(d, ignore_errors=True)
        for blob in (self.root / "blobs").iterdir():
            if blob.name not in needed and not blob.name.startswith("."):
                blob.unlink(missing_ok=True)

    # --- background loop -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="fleet-content")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            delay = self.config.fleet.content_poll_s
            try:
                await self.poll_once()
            except ContentError as exc:
                log.warning("fleet: content: %s", exc)
            except Exception:  # never let the puller die
                log.exception("fleet: unexpected error while pulling content")

    def status(self) -> dict[str, Any]:
        return {
            "url": self.base,
            "group": self.group,
            "version": self.version,
            "last_poll_at": self.last_poll_at,
            "last_change_at": self.last_change_at,
            "not_modified": self.not_modified,
            "last_error": self.last_error,
        }
