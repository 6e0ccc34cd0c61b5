"""Thumbnails of ad creatives: what an ad looks like on the screen, rendered from the creative
itself (never from the camera).

* image: the picture, scaled down (Pillow);
* video: a poster frame one second in (or the first frame of a shorter clip), read with OpenCV;
* HTML (a single file or the `index.html` of a bundle): rendered at the panel's size by headless
  Chromium when it is installed, with the network cut off (creatives are self-contained);
  without Chromium, a plain card that says so and names the file -- never a broken image.

Thumbnails are cached on disk as `<cache_dir>/<key>.jpg`, the key being a sha256 over the
creative's bytes (for HTML, every file of its folder but ad.toml) and the renderer's version: an
edited creative gets a new thumbnail, an unchanged one costs one hash. Rendering is blocking
work; callers run `thumbnail()` in a worker thread (`asyncio.to_thread`), never on the loop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..threadprio import background_command

log = logging.getLogger(__name__)

__all__ = ["THUMB_SIZE", "RENDER_SIZE", "PreviewError", "content_key", "thumbnail", "find_chromium"]

#: the thumbnail's box (the picture keeps its aspect ratio inside it)
THUMB_SIZE = (480, 270)
#: HTML creatives are laid out at the panel's size, then scaled down
RENDER_SIZE = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
#: bump when the rendering changes, so cached thumbnails are made again
RENDERER_VERSION = "1"
#: Chromium runs in the idle scheduling class: it gets only CPU time nothing else wants, so on a
#: busy machine its wall time says nothing about whether it hangs (CI: every render "took more
#: than 60 s" while the machine was busy with other work). A render is stopped when its processes
#: used this much CPU (a page that spins) ...
CHROMIUM_CPU_BUDGET_S = 60.0
#: ... or after this long in all (one that waits for ever; a starved one, too: it holds a
#: Chromium's memory meanwhile, and the plain card stands in until the retry)
CHROMIUM_WALL_LIMIT_S = 300.0
#: a Chromium render that failed is tried again after this long; meanwhile the plain card stands
#: in. On a Pi kept busy (the kiosk's video, the vision threads) it can run out of time; such a
#: failure must not stay on the ads list for good.
RETRY_FAILED_AFTER_S = 600.0
#: one Chromium at a time: a Pi has little memory to spare next to the panel's own browser
_chromium_lock = threading.Lock()


class PreviewError(RuntimeError):
    """A creative could not be read for a thumbnail (the message says which and why)."""


def find_chromium() -> str | None:
    for name in (
        os.environ.get("SIGNAGE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if name and Path(name).is_file():
            return name
    return None


def _files_for(folder: Path, media: str, media_type: str) -> list[Path]:
    if media_type != "html":
        return [folder / media]
    # an HTML creative is its page and everything beside it (a bundle's images, CSS, scripts)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "ad.toml")


def content_key(folder: Path, media: str, media_type: str, orientation: str = "landscape", renderer: str = "") -> str:
    h = hashlib.sha256(f"{RENDERER_VERSION}:{renderer}:{media_type}:{orientation}:{media}".encode())
    for p in _files_for(folder, media, media_type):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _save(img, out: Path) -> None:
    from PIL import Image

    img = img.convert("RGB")
    img.thumbnail(THUMB_SIZE, Image.Resampling.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".thumb-", suffix=".jpg", dir=str(out.parent))
    os.close(fd)
    try:
        img.save(tmp, "JPEG", quality=82, optimize=True)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _image(path: Path):
    from PIL import Image, ImageOps

    if path.suffix.lower() == ".svg":
        return None  # Pillow cannot draw SVG: Chromium renders it like an HTML page
    try:
        with Image.open(path) as im:
            im.seek(0)  # an animated GIF: its first frame
            return ImageOps.exif_transpose(im).convert("RGB")
    except Exception as exc:  # Pillow raises many kinds for a bad file
        raise PreviewError(f"{path.name}: not a readable image ({exc})") from None


def _video_frame(path: Path):
    import cv2
    from PIL import Image

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise PreviewError(f"{path.name}: OpenCV cannot open this video")
        cap.set(cv2.CAP_PROP_POS_MSEC, 1000.0)  # past a fade-in from black
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = cap.read()
        if not ok or frame is None:
            raise PreviewError(f"{path.name}: no frame could be decoded")
        return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()


def _session_cpu_s(sid: int) -> float | None:
    """CPU seconds used so far by the live processes of session ``sid`` (Linux /proc), or None
    where that cannot be read."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return None
    ticks = 0
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            # the fields after the command name, which may hold spaces and parentheses
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a process that ended meanwhile
        if int(fields[3]) == sid:  # session; then utime, stime (and children's, once reaped)
            ticks += sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _run_budgeted(cmd: list[str], log_path: Path, name: str) -> str:
    """Run ``cmd`` in a session of its own, within CHROMIUM_CPU_BUDGET_S of CPU and
    CHROMIUM_WALL_LIMIT_S in all; the whole session is killed when it runs over. Its output."""
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started = time.monotonic()
        while True:
            try:
                proc.wait(0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            why = ""
            cpu = _session_cpu_s(proc.pid)
            waited = time.monotonic() - started
            if cpu is not None and cpu > CHROMIUM_CPU_BUDGET_S:
                why = f"Chromium used more than {CHROMIUM_CPU_BUDGET_S:g} s of CPU"
            elif waited > CHROMIUM_WALL_LIMIT_S:
                why = f"Chromium did not finish within {CHROMIUM_WALL_LIMIT_S:g} s" + (
                    f" (it got {cpu:.1f} s of CPU: the machine was busy)" if cpu is not None else ""
                )
            if why:
                try:
                    os.killpg(proc.pid, 9)  # its renderer and helper processes too
                except ProcessLookupError:
                    pass
                proc.wait()
                raise PreviewError(f"{name}: {why}")
    return log_path.read_text("utf-8", "replace")


def _chromium_render(chromium: str, page: Path, size: tuple[int, int]):
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="signage-thumb-") as tmp:
        shot = Path(tmp) / "shot.png"
        cmd = [
            chromium,
            "--headless",
            "--disable-gpu",
            "--hide-scrollbars",
            "--mute-audio",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            # no network at all: a creative must be self-contained (as on the offline panel)
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={tmp}/profile",
            f"--window-size={size[0]},{size[1]}",
            "--virtual-time-budget=2500",
            f"--screenshot={shot}",
            page.resolve().as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        output = _run_budgeted(background_command(cmd), Path(tmp) / "chromium.log", page.name)
        if not shot.is_file():
            tail = output.strip().splitlines()[-1:] or ["no output"]
            raise PreviewError(f"{page.name}: Chromium made no screenshot ({tail[0][:200]})")
        with Image.open(shot) as im:
            return im.convert("RGB")


def _card(title: str, lines: list[str], size: tuple[int, int]):
    """A plain stand-in picture that says why there is no real preview."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size[0] // 4, size[1] // 4
    img = Image.new("RGB", (w, h), (226, 232, 240))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w - 1, h - 1), outline=(100, 116, 139), width=3)

    def font(px: int):
        for p in (
            "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        ):
            if Path(p).exists():
                return ImageFont.truetype(p, px)
        return ImageFont.load_default()

    y = h // 5
    d.text((w // 12, y), title[:40], font=font(max(12, h // 10)), fill=(15, 23, 42))
    y += h // 6
    for line in lines:
        d.text((w // 12, y), line[:60], font=font(max(9, h // 18)), fill=(51, 65, 85))
        y += h // 10
    return img


def thumbnail(
    folder: Path,
    media: str,
    media_type: str,
    cache_dir: Path,
    *,
    orientation: str = "landscape",
    chromium: str | None = None,
    title: str = "",
) -> tuple[Path, str]:
    """(path of the cached JPEG, how it was made: "image" | "video" | "chromium" | "fallback").

    Blocking (file reads, decoding, maybe a Chromium run): call it in a worker thread."""
    folder = Path(folder)
    src = folder / media
    if not src.is_file():
        raise PreviewError(f"{media}: the creative file is missing from {folder}")
    # with or without Chromium is part of the key: installing it later replaces the plain cards
    key = content_key(folder, media, media_type, orientation, "chromium" if chromium else "card")
    out = Path(cache_dir) / f"{key}.jpg"
    note = Path(cache_dir) / f"{key}.how"
    failed = Path(cache_dir) / f"{key}.failed.jpg"

    def cached() -> tuple[Path, str] | None:
        if out.is_file():
            return out, note.read_text().strip() if note.is_file() else "cached"
        if failed.is_file() and time.time() - failed.stat().st_mtime < RETRY_FAILED_AFTER_S:
            return failed, "fallback"
        return None

    if (hit := cached()) is not None:
        return hit
    size = RENDER_SIZE.get(orientation, RENDER_SIZE["landscape"])
    img, how = None, media_type
    if media_type == "image":
        img = _image(src)
        if img is None:
            media_type = "html"  # SVG
    elif media_type == "video":
        img = _video_frame(src)
    if media_type == "html" and img is None:
        if chromium:
            try:
                with _chromium_lock:
                    # a request that waited for the lock finds what the one before it made
                    if (hit := cached()) is not None:
                        return hit
                    img, how = _chromium_render(chromium, src, size), "chromium"
            except PreviewError as exc:
                log.warning(
                    "preview of %s/%s: %s; using a plain card, Chromium is tried again in %.0f minutes",
                    folder.name,
                    media,
                    exc,
                    RETRY_FAILED_AFTER_S / 60,
                )
                card = _card(title or folder.name, ["HTML creative: " + media, "preview failed: see the log"], size)
                _save(card, failed)  # not under the key: the render is tried again later
                return failed, "fallback"
        else:
            img, how = (
                _card(
                    title or folder.name,
                    ["HTML creative: " + media, "no preview: Chromium is not installed", "(apt-get install chromium)"],
                    size,
                ),
                "fallback",
            )
    _save(img, out)
    note.write_text(how)
    failed.unlink(missing_ok=True)
    return out, how
