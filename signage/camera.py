"""Frame sources behind one small interface, and the camera that keeps only the latest frame.

Sources (``camera.source``):

* ``picamera2`` -- a Raspberry Pi camera through libcamera's Python API (imported only when used):
  a video configuration whose low-resolution stream (``lores``, YUV420, ``width`` x ``height``) is
  captured and converted to BGR.
* ``opencv`` -- ``camera.device``: a device index (``"0"``), a device path (``/dev/video2``) or a
  stream URL (``rtsp://...``), read with ``cv2.VideoCapture``.
* ``video`` -- ``camera.video_path``: a video file, played in a loop at its own frame rate.
* ``photos`` -- ``camera.photos_dir`` (or the demo photos when empty): a slideshow in file-name
  order; each photo is "the camera" for ``photo_seconds``, emitted at ``fps``, letterboxed into
  ``width`` x ``height`` (never enlarged).
* ``auto`` -- picamera2 when it is installed and a camera is attached, else the first
  ``/dev/video*`` that gives a frame, else the demo photos.  Decided once, at the first opening.

:class:`Camera` runs the source in a reader thread and keeps a one-slot holder: a new frame
replaces the previous one, so consumers always get the latest frame and nothing queues up.  A
supervisor thread (the watchdog) notices a source that stops delivering for ``stall_seconds`` or
fails, reports it in :meth:`Camera.status`, and reopens it with exponential back-off up to
``retry_max_seconds``; the rest of the appliance keeps running meanwhile.  A reader thread stuck
in a driver call is abandoned (it is a daemon thread and exits when the call returns) and a
fresh one is started.  Frames are only ever kept in memory.

Frame sizes: photos are letterboxed to exactly ``width`` x ``height``; frames from the other
sources are shrunk, keeping their aspect ratio, to fit inside ``width`` x ``height`` (a camera is
asked for that size in the first place).  :class:`Frame` images are read-only arrays shared by
every consumer: copy one before drawing on it.
"""

from __future__ import annotations

import abc
import glob
import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from signage.config import CameraConfig

__all__ = [
    "Camera",
    "CameraError",
    "Frame",
    "FrameSource",
    "PhotoSource",
    "VideoSource",
    "OpenCVSource",
    "Picamera2Source",
    "open_source",
    "make_source",
    "letterbox",
    "fit_within",
    "PHOTO_EXTENSIONS",
]

log = logging.getLogger(__name__)

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

_FIRST_BACKOFF_S = 0.5


class CameraError(RuntimeError):
    """A source could not be opened or stopped working; the message is one human-readable line."""


@dataclass(frozen=True)
class Frame:
    """One camera image: BGR uint8, H x W x 3, read-only (copy it before drawing on it)."""

    image: np.ndarray
    timestamp: float  # time.monotonic() when it was captured
    seq: int  # 1, 2, 3, ... (never reused within a Camera, also across reconnects)


# --- image helpers ------------------------------------------------------------------------------


def fit_within(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Shrink ``image`` (never enlarge) to fit inside width x height, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h, 1.0)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` shrunk to fit (never enlarged) and centred on a black width x height canvas."""
    img = fit_within(_as_bgr(image), width, height)
    h, w = img.shape[:2]
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - h) // 2, (width - w) // 2
    canvas[y : y + h, x : x + w] = img
    return canvas


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(1.0, float(image.max())))
    return image


def _redact(url: str) -> str:
    """A stream URL without its password, for messages and status."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


# --- sources ------------------------------------------------------------------------------------


class FrameSource(abc.ABC):
    """One way of getting frames.  Not thread-safe: one reader thread uses it.

    ``open()`` raises :class:`CameraError` with a one-line message naming the config key;
    ``read()`` blocks until the next frame is due and returns it (BGR uint8) or raises
    :class:`CameraError`; ``close()`` releases the device.  ``interrupt()`` may be called from
    another thread to cut short a pacing sleep.  ``fresh()`` gives a new, unopened source of the
    same kind, for reconnecting.
    """

    #: shown in status(), e.g. "photos (demo)", "opencv /dev/video0"
    name: str = "?"

    def __init__(self) -> None:
        self._wake = threading.Event()

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> np.ndarray: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def fresh(self) -> FrameSource: ...

    def interrupt(self) -> None:
        self._wake.set()

    def _sleep_until(self, due: float) -> bool:
        """Sleep until time.monotonic() reaches ``due``; False when interrupted."""
        delay = due - time.monotonic()
        if delay > 0:
            return not self._wake.wait(delay)
        return not self._wake.is_set()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Pacer:
    """Emits ticks at a fixed rate without drifting; skips ticks it is late for."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self.next = time.monotonic()

    def reset(self, fps: float | None = None) -> None:
        if fps:
            self.period = 1.0 / fps
        self.next = time.monotonic()

    def due(self) -> float:
        due = self.next
        now = time.monotonic()
        self.next = max(due + self.period, now)  # late: start again from now, no burst
        return due


class PhotoSource(FrameSource):
    """A slideshow: each photo is shown for ``photo_seconds``, emitted at ``fps``, looping.

    ``folder``: photos in it (not recursive) in file-name order, re-listed at every loop so new
    photos appear; ``paths``: a fixed list (the demo photos), in that order.
    """

    def __init__(
        self,
        *,
        width: int,
        height: int,
        fps: float,
        photo_seconds: float,
        folder: Path | None = None,
        paths: list[Path] | None = None,
        name: str | None = None,
        key: str = "camera.photos_dir",
    ) -> None:
        super().__init__()
        if (folder is None) == (paths is None):
            raise ValueError("give exactly one of folder= or paths=")
        self.width, self.height = width, height
        self.fps, self.photo_seconds = fps, photo_seconds
        self.folder, self.paths = folder, paths
        self.key = key
        self.name = name or f"photos {folder}"
        self._list: list[Path] = []
        self._index = -1
        self._current: np.ndarray | None = None
        self._shown_since = 0.0
        self._pacer = _Pacer(fps)

    def _where(self) -> str:
        return f'{self.key} = "{self.folder}"' if self.folder is not None else "demo photos"

    def _listing(self) -> list[Path]:
        if self.paths is not None:
            return list(self.paths)
        assert self.folder is not None
        if not self.folder.is_dir():
            what = "folder not found" if not self.folder.exists() else "not a folder"
            raise CameraError(f"{self._where()}: {what}")
        try:
            found = [p for p in self.folder.iterdir() if p.suffix.lower() in PHOTO_EXTENSIONS and p.is_file()]
        except OSError as exc:
            raise CameraError(f"{self._where()}: cannot be read ({exc.strerror})") from None
        return sorted(found, key=lambda p: p.name)

    def open(self) -> None:
        self._wake.clear()
        self._list = self._listing()
        if not self._list:
            raise CameraError(
                f"{self._where()}: no photos in it ({', '.join(e.lstrip('.') for e in PHOTO_EXTENSIONS)})"
            )
        self._index = -1
        self._current = None
        self._advance()
        self._pacer.reset()

    def _advance(self) -> None:
        """Load the next readable photo (skipping unreadable ones), re-listing at each wrap."""
        for _ in range(len(self._list) + 1):
            self._index += 1
            if self._index >= len(self._list):
                self._list = self._listing()
                self._index = 0
                if not self._list:
                    raise CameraError(f"{self._where()}: no photos left in it")
            path = self._list[self._index]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("camera: skipping %s (missing or not a readable image)", path)
                continue
            frame = letterbox(image, self.width, self.height)
            frame.flags.writeable = False
            self._current = frame
            self._shown_since = time.monotonic()
            return
        raise CameraError(f"{self._where()}: none of the photos can be read")

    def read(self) -> np.ndarray:
        if not self._sleep_until(self._pacer.due()):
            raise CameraError("interrupted")
        if time.monotonic() - self._shown_since >= self.photo_seconds:
            self._advance()
        assert self._current is not None
        return self._current

    def close(self) -> None:
        self._current = None

    def fresh(self) -> PhotoSource:
        return PhotoSource(
            width=self.width,
            height=self.height,
            fps=self.fps,
            photo_seconds=self.photo_seconds,
            folder=self.folder,
            paths=self.paths,
            name=self.name,
            key=self.key,
        )


class VideoSource(FrameSource):
    """A video file played in a loop at its own frame rate (``fallback_fps`` if it has none)."""

    def __init__(
        self, path: Path, *, width: int, height: int, fallback_fps: float, key: str = "camera.video_path"
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.width, self.height, self.fallback_fps = width, height, fallback_fps
        self.key = key
        self.name = f"video {self.path.name}"
        self.fps = fallback_fps
        self._cap: cv2.VideoCapture | None = None
        self._pacer = _Pacer(fallback_fps)

    def _where(self) -> str:
        return f'{self.key} = "{self.path}"'

    def _open_capture(self) -> cv2.VideoCapture:
        if not self.path.exists():
            raise CameraError(f"{self._where()}: file not found")
        if not self.path.is_file():
            raise CameraError(f"{self._where()}: not a file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"{self._where()}: cannot be opened as a video")
        return cap

    def open(self) -> None:
        self._wake.clear()
        cap = self._open_capture()
        ok, _ = cap.read()
        if not ok:
            cap.release()
            raise CameraError(f"{self._where()}: holds no video frame that can be decoded")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and math.isfinite(fps) and 0.5 <= fps <= 240 else self.fallback_fps
        self._cap = cap
        self._pacer.reset(self.fps)

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError(f"{self._where()}: not open")
        if not self._sleep_until(self._pacer.due()):
            raise CameraError("interrupted")
        ok, image = self._cap.read()
        if not ok:
            # The end: open the file again (not a seek), so a deleted or replaced file is noticed.
            self._cap.release()
            self._cap = None
            self._cap = self._open_capture()
            ok, image = self._cap.read()
            if not ok:
                raise CameraError(f"{self._where()}: no frame could be decoded after rewinding")
        return fit_within(_as_bgr(image), self.width, self.height)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def fresh(self) -> VideoSource:
        return VideoSource(
            self.path, width=self.width, height=self.height, fallback_fps=self.fallback_fps, key=self.key
        )


class OpenCVSource(FrameSource):
    """A V4L2/USB camera (index or device path) or a network stream (URL) via cv2.VideoCapture."""

    def __init__(self, device: str, *, width: int, height: int, fps: float, key: str = "camera.device") -> None:
        super().__init__()
        self.device = str(device).strip()
        self.width, self.height, self.fps = width, height, fps
        self.key = key
        self.is_url = "://" in self.device
        shown = _redact(self.device) if self.is_url else self.device
        self.name = f"opencv {shown}"
        self._shown = shown
        self._cap: cv2.VideoCapture | None = None

    def _where(self) -> str:
        return f'{self.key} = "{self._shown}"'

    def open(self) -> None:
        self._wake.clear()
        if self.device.isdigit():
            target: int | str = int(self.device)
        elif self.is_url:
            target = self.device
        else:
            if not os.path.exists(self.device):
                raise CameraError(f"{self._where()}: no such device")
            target = self.device
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            if self.is_url:
                raise CameraError(f"{self._where()}: the stream could not be opened")
            raise CameraError(f"{self._where()}: no video device could be opened")
        if not self.is_url:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # latest frame, not a backlog (where supported)
        ok, _ = cap.read()
        if not ok:
            cap.release()
            raise CameraError(f"{self._where()}: opened, but it gives no frame")
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError(f"{self._where()}: not open")
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CameraError(f"{self._where()}: stopped giving frames (unplugged?)")
        return fit_within(_as_bgr(image), self.width, self.height)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def fresh(self) -> OpenCVSource:
        return OpenCVSource(self.device, width=self.width, height=self.height, fps=self.fps, key=self.key)


def _import_picamera2() -> Any:
    """The ``picamera2`` module, or None when it is not installed."""
    try:
        import picamera2  # type: ignore[import-not-found]
    except Exception:  # ImportError, or libcamera failing to load
        return None
    return picamera2


def picamera2_attached() -> bool:
    """picamera2 is importable and libcamera sees at least one camera."""
    mod = _import_picamera2()
    if mod is None:
        return False
    try:
        return bool(mod.Picamera2.global_camera_info())
    except Exception:
        return False


class Picamera2Source(FrameSource):
    """The Raspberry Pi camera: the ``lores`` YUV420 stream at width x height, converted to BGR.

    ``capture_array("lores")`` blocks until the sensor's next frame, so it paces itself.
    """

    name = "picamera2"

    def __init__(self, *, width: int, height: int, fps: float, key: str = "camera.source") -> None:
        super().__init__()
        # YUV420 planes need even sizes
        self.width, self.height, self.fps = width - width % 2, height - height % 2, fps
        self.key = key
        self._cam: Any = None

    def open(self) -> None:
        self._wake.clear()
        mod = _import_picamera2()
        if mod is None:
            raise CameraError(
                f'{self.key} = "picamera2": the picamera2 module is not installed '
                "(apt install python3-picamera2; make the venv with "
                "--system-site-packages)"
            )
        try:
            if not mod.Picamera2.global_camera_info():
                raise CameraError(f'{self.key} = "picamera2": no camera is attached (check the ribbon cable)')
            cam = mod.Picamera2()
        except CameraError:
            raise
        except Exception as exc:
            raise CameraError(f'{self.key} = "picamera2": the camera could not be opened ({exc})') from None
        try:
            size = (self.width, self.height)
            config = cam.create_video_configuration(
                main={"size": size}, lores={"size": size, "format": "YUV420"}, controls={"FrameRate": float(self.fps)}
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:
            try:
                cam.close()
            except Exception:
                pass
            raise CameraError(f'{self.key} = "picamera2": the camera could not be started ({exc})') from None
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraError(f'{self.key} = "picamera2": not open')
        try:
            yuv = self._cam.capture_array("lores")
        except Exception as exc:
            raise CameraError(f'{self.key} = "picamera2": capture failed ({exc})') from None
        return yuv420_to_bgr(yuv, self.width, self.height)

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            for call in (cam.stop, cam.close):
                try:
                    call()
                except Exception:
                    pass

    def fresh(self) -> Picamera2Source:
        return Picamera2Source(width=self.width, height=self.height, fps=self.fps, key=self.key)


def yuv420_to_bgr(yuv: np.ndarray, width: int, height: int) -> np.ndarray:
    """picamera2's YUV420 (I420) array, shape (height*3/2, stride), to BGR width x height.

    The rows may be padded to a stride wider than ``width``; the planes are laid out with that
    stride, so converting at the stride's width and cropping gives the picture.
    """
    if yuv.ndim != 2 or yuv.shape[0] != height * 3 // 2:
        raise CameraError(f"camera gave a YUV420 buffer of shape {yuv.shape}, expected ({height * 3 // 2}, >= {width})")
    bgr = cv2.cvtColor(np.ascontiguousarray(yuv), cv2.COLOR_YUV2BGR_I420)
    return bgr[:, :width] if bgr.shape[1] != width else bgr


# --- choosing a source --------------------------------------------------------------------------


def _video_devices() -> list[str]:
    """/dev/video* in numeric order."""

    def num(p: str) -> int:
        m = re.search(r"(\d+)$", p)
        return int(m.group(1)) if m else 1 << 30

    return sorted(glob.glob("/dev/video*"), key=num)


#: called with each step of a first-run fetch (signage.demo_photos.FetchProgress)
ProgressFn = Callable[[Any], None]


def _demo_source(cfg: CameraConfig, cache_dir: Path, progress: ProgressFn | None = None) -> PhotoSource:
    from signage.demo_photos import DemoPhotosError, ensure_demo_photos

    try:
        paths = ensure_demo_photos(Path(cache_dir), partial=True, progress=progress)
    except DemoPhotosError as exc:
        raise CameraError(str(exc)) from None
    return PhotoSource(
        width=cfg.width,
        height=cfg.height,
        fps=cfg.fps,
        photo_seconds=cfg.photo_seconds,
        paths=paths,
        name="photos (demo)",
    )


def make_source(cfg: CameraConfig, cache_dir: Path, progress: ProgressFn | None = None) -> FrameSource:
    """The unopened source ``cfg.source`` names (not for ``auto``, which has to probe)."""
    kind = cfg.source
    if kind == "photos":
        if not cfg.photos_dir:
            return _demo_source(cfg, cache_dir, progress)
        return PhotoSource(
            width=cfg.width,
            height=cfg.height,
            fps=cfg.fps,
            photo_seconds=cfg.photo_seconds,
            folder=Path(cfg.photos_dir),
        )
    if kind == "video":
        if not cfg.video_path:
            raise CameraError('camera.video_path = "": the "video" source needs a video file path')
        return VideoSource(Path(cfg.video_path), width=cfg.width, height=cfg.height, fallback_fps=cfg.fps)
    if kind == "opencv":
        return OpenCVSource(cfg.device, width=cfg.width, height=cfg.height, fps=cfg.fps)
    if kind == "picamera2":
        return Picamera2Source(width=cfg.width, height=cfg.height, fps=cfg.fps)
    raise CameraError(f'camera.source = "{kind}": must be one of "auto", "picamera2", "opencv", "video", "photos"')


def _open_auto(cfg: CameraConfig, cache_dir: Path, progress: ProgressFn | None = None) -> FrameSource:
    tried: list[str] = []
    if picamera2_attached():
        src: FrameSource = Picamera2Source(width=cfg.width, height=cfg.height, fps=cfg.fps)
        try:
            src.open()
            return src
        except CameraError as exc:
            tried.append(str(exc))
    else:
        tried.append("picamera2: not installed or no camera attached")
    for dev in _video_devices():
        src = OpenCVSource(dev, width=cfg.width, height=cfg.height, fps=cfg.fps)
        try:
            src.open()
            return src
        except CameraError as exc:
            tried.append(str(exc))
    if not _video_devices():
        tried.append("no /dev/video* device")
    log.warning('camera.source = "auto": no camera found (%s); showing the demo photos', "; ".join(tried))
    src = _demo_source(cfg, cache_dir, progress)
    src.open()
    return src


def open_source(cfg: CameraConfig, cache_dir: Path, progress: ProgressFn | None = None) -> FrameSource:
    """Resolve ``cfg.source`` (probing for ``auto``) and return the source, opened.

    Raises :class:`CameraError` with a one-line message.  The caller closes the source.
    """
    if cfg.source == "auto":
        return _open_auto(cfg, cache_dir, progress)
    src = make_source(cfg, cache_dir, progress)
    src.open()
    return src


# --- the camera: reader thread, one-slot holder, watchdog ---------------------------------------


class _Reader:
    """One attempt: a daemon thread that opens a source and publishes its frames."""

    def __init__(self, camera: Camera, opener: Callable[[], FrameSource], gen: int) -> None:
        self.camera, self.opener, self.gen = camera, opener, gen
        self.cancelled = threading.Event()
        self.opened_at: float | None = None  # monotonic times, written by the reader thread
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.error: str | None = None
        self.source: FrameSource | None = None
        self.thread = threading.Thread(target=self._run, name=f"camera-reader-{gen}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()
        src = self.source
        if src is not None:
            src.interrupt()

    def _run(self) -> None:
        src: FrameSource | None = None
        try:
            src = self.opener()
            self.source = src
            if self.cancelled.is_set():
                return
            self.camera._opened(self, src)
            self.opened_at = time.monotonic()
            while not self.cancelled.is_set():
                image = src.read()
                if self.cancelled.is_set():
                    break
                self.camera._publish(self, image)
        except CameraError as exc:
            if not self.cancelled.is_set():
                self.error = str(exc)
        except Exception as exc:  # a driver bug must not kill the appliance
            if not self.cancelled.is_set():
                self.error = f"camera failed: {type(exc).__name__}: {exc}"
                log.exception("camera reader failed")
        finally:
            if src is not None:
                try:
                    src.close()
                except Exception:
                    log.exception("camera: closing the source failed")
            self.camera._wake_supervisor()


class Camera:
    """The appliance's camera: the latest frame of a source, kept fresh by a watchdog.

    Thread-safe.  ``start()`` returns at once; ``latest()`` is None until the first frame.
    ``opener`` (for tests) replaces :func:`open_source`; it must return an opened source.
    """

    def __init__(self, cfg: CameraConfig, cache_dir: Path, *, opener: Callable[[], FrameSource] | None = None) -> None:
        self.cfg = cfg
        self.cache_dir = Path(cache_dir)
        self._opener_override = opener
        self._resolved: FrameSource | None = None  # a template for reconnects (auto decides once)
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)
        self._supervise = threading.Event()  # wakes the supervisor early
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._reader: _Reader | None = None
        self._gen = 0
        # guarded by _lock
        self._frame: Frame | None = None
        self._taken = True
        self._seq = 0
        self._frames = 0
        self._dropped = 0
        self._stamps: deque[float] = deque(maxlen=64)
        self._state = "stopped"
        self._since = time.time()
        self._error = ""
        self._last_error = ""
        self._source_name = self._initial_name()
        self._last_frame_at = 0.0
        self._reopens = 0
        #: the latest step of first-use work while opening (the demo photos' download), kept
        #: after it finished so a technician can see what happened; None when there was none
        self._first_run: dict[str, Any] | None = None

    def _initial_name(self) -> str:
        c = self.cfg
        if c.source == "photos":
            return "photos (demo)" if not c.photos_dir else f"photos {c.photos_dir}"
        if c.source == "video":
            return f"video {Path(c.video_path).name}"
        if c.source == "opencv":
            return f"opencv {_redact(c.device) if '://' in c.device else c.device}"
        return c.source

    # -- public API --------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading in the background (returns at once)."""
        if self._supervisor is not None and self._supervisor.is_alive():
            return
        self._stopping.clear()
        self._set_state("starting", "")
        self._supervisor = threading.Thread(target=self._supervise_loop, name="camera-watchdog", daemon=True)
        self._supervisor.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop reading and release the source; waits up to ``timeout`` seconds for the threads."""
        self._stopping.set()
        reader = self._reader
        if reader is not None:
            reader.cancel()
        self._supervise.set()
        deadline = time.monotonic() + timeout
        if self._supervisor is not None:
            self._supervisor.join(max(0.0, deadline - time.monotonic()))
        if reader is not None:
            reader.thread.join(max(0.0, deadline - time.monotonic()))
            if reader.thread.is_alive():
                log.warning("camera: the reader is stuck in a driver call; leaving it behind")
        with self._new_frame:
            self._frame = None
            self._new_frame.notify_all()
        self._set_state("stopped", "")

    def latest(self) -> Frame | None:
        """The newest frame (the same one again if no newer has come), or None."""
        with self._lock:
            self._taken = True
            return self._frame

    def peek(self) -> Frame | None:
        """The newest frame without counting it as analysed (the technician's preview): a frame
        only the preview saw is still counted as dropped by vision."""
        with self._lock:
            return self._frame

    def next_frame(self, after_seq: int = 0, timeout: float | None = None) -> Frame | None:
        """Wait for a frame newer than ``after_seq``; None on timeout or when stopped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._new_frame:
            while not self._stopping.is_set():
                if self._frame is not None and self._frame.seq > after_seq:
                    self._taken = True
                    return self._frame
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._new_frame.wait(left)
            return None

    def status(self) -> dict[str, Any]:
        """``state``, ``source``, ``fps`` (measured), ``frames``, ``dropped``, ``error``, ``since``.

        ``error`` is the current problem ("" while running), ``last_error`` the latest one seen.
        ``since`` is the wall-clock time (epoch seconds) of the last state change; ``reopens``
        counts reconnect attempts; ``age`` is the seconds since the last frame (None before one).
        ``first_run`` is the latest step of first-use work (``{"done", "total", "doing",
        "finished", "line"}``: the demo photos' download), or None when there was none.
        """
        with self._lock:
            now = time.monotonic()
            return {
                "state": self._state,
                "source": self._source_name,
                "fps": round(self._measured_fps(now), 2) if self._state == "running" else 0.0,
                "frames": self._frames,
                "dropped": self._dropped,
                "error": self._error,
                "last_error": self._last_error,
                "since": self._since,
                "reopens": self._reopens,
                "age": round(now - self._last_frame_at, 3) if self._last_frame_at else None,
                "first_run": dict(self._first_run) if self._first_run else None,
            }

    def __enter__(self) -> Camera:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _measured_fps(self, now: float) -> float:
        recent = [t for t in self._stamps if now - t <= 2.0]
        if len(recent) < 2 or now - recent[-1] > max(1.0, 3.0 / max(self.cfg.fps, 0.1)):
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def _set_state(self, state: str, error: str | None) -> None:
        with self._lock:
            if state != self._state:
                self._state = state
                self._since = time.time()
                if state in ("stalled", "error"):
                    log.warning("camera %s: %s", state, error)
                else:
                    log.info("camera %s (%s)", state, self._source_name)
            if error is not None:
                if error:
                    self._last_error = error
                self._error = error

    def _wake_supervisor(self) -> None:
        self._supervise.set()

    def _opened(self, reader: _Reader, src: FrameSource) -> None:
        with self._lock:
            if reader is not self._reader:
                return
            self._source_name = src.name
            if self._resolved is None:
                self._resolved = src

    def _publish(self, reader: _Reader, image: np.ndarray) -> None:
        if image.flags.writeable:
            image.flags.writeable = False
        now = time.monotonic()
        with self._new_frame:
            if reader is not self._reader:
                return
            if not self._taken:
                self._dropped += 1
            self._seq += 1
            self._frames += 1
            self._frame = Frame(image=image, timestamp=now, seq=self._seq)
            self._taken = False
            self._stamps.append(now)
            self._last_frame_at = now
            if reader.first_at is None:
                reader.first_at = now
            reader.last_at = now
            self._new_frame.notify_all()

    def _make_opener(self) -> Callable[[], FrameSource]:
        if self._opener_override is not None:
            return self._opener_override
        template = self._resolved
        if template is not None:

            def reopen() -> FrameSource:
                src = template.fresh()
                src.open()
                return src

            return reopen
        return lambda: open_source(self.cfg, self.cache_dir, self._on_progress)

    def _on_progress(self, step: Any) -> None:
        """A first-use step (reader thread): shown in status() while the camera is `starting`."""
        with self._lock:
            self._first_run = {
                "done": step.done,
                "total": step.total,
                "doing": step.doing,
                "finished": step.finished,
                "line": step.line(),
            }

    def _supervise_loop(self) -> None:
        """The watchdog: start a reader, watch it, and replace it with back-off when it fails."""
        backoff = _FIRST_BACKOFF_S
        cfg = self.cfg
        while not self._stopping.is_set():
            self._gen += 1
            reader = _Reader(self, self._make_opener(), self._gen)
            with self._lock:
                self._reader = reader
            reader.start()
            state, problem = "", ""
            while not self._stopping.is_set():
                self._supervise.wait(0.1)
                self._supervise.clear()
                if self._stopping.is_set():
                    break
                if not reader.thread.is_alive():
                    state, problem = "error", reader.error or "the camera source ended"
                    break
                if reader.opened_at is None:
                    continue  # still opening (may be downloading the demo photos): no timer yet
                now = time.monotonic()
                silent = now - (reader.last_at or reader.opened_at)
                if silent >= cfg.stall_seconds:
                    state = "stalled"
                    problem = f"{self._source_name}: no frame for {silent:.1f} s (unplugged, stalled or gone)"
                    break
                if reader.first_at is not None:
                    self._set_state("running", "")
                    if now - reader.first_at >= cfg.stall_seconds:
                        backoff = _FIRST_BACKOFF_S  # healthy for a while: forget past trouble
            reader.cancel()
            if self._stopping.is_set():
                break
            wait = min(backoff, cfg.retry_max_seconds)
            self._set_state(state, f"{problem}; retrying in {wait:g} s")
            with self._lock:
                self._reopens += 1
            self._stopping.wait(wait)
            backoff = min(backoff * 2, cfg.retry_max_seconds)
