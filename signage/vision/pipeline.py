"""The live vision pipeline: a worker thread that analyses the latest camera frame.

    pipeline = VisionPipeline(config.vision, camera, on_result, loop)
    pipeline.start()          # raises ModelError before any thread starts if models are bad
    ...
    pipeline.stop()           # joins once the frame being analysed is done

The worker never runs on the event loop and never touches it except through
``loop.call_soon_threadsafe(callback, result)``: one :class:`VisionResult` per analysed frame.
It waits on its :class:`FrameFeed` (the camera) for the *latest* frame (older ones are skipped
and counted as dropped), detects faces,
updates the tracker, runs the classifiers (all due faces in one batch) on tracks that are new or
due, and paces itself to ``analysis_fps``.  Frames and crops stay in memory and are released
after each iteration; nothing is written to disk.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from ..config import VisionConfig
from ..threadprio import lower_this_thread
from .analyzer import FaceAnalyzer
from .tracker import Tracker, TrackSnapshot

__all__ = ["VisionPipeline", "VisionResult", "FrameLike", "FrameFeed"]

log = logging.getLogger(__name__)

#: seconds without an analysed frame after which the analysis fps reads 0
STALE_AFTER_S = 3.0

#: how a frame is searched for faces (VisionPipeline.detection_mode)
FULL, SEARCH, TRACKED = "full", "search", "tracked"

#: the longest the worker waits on its feed for a new frame before it looks at its stop flag
FRAME_WAIT_S = 0.1


class FrameLike(Protocol):
    """One frame as the pipeline reads it (``camera.Frame``; read-only)."""

    @property
    def image(self) -> np.ndarray: ...

    @property
    def timestamp(self) -> float: ...

    @property
    def seq(self) -> int: ...


class FrameFeed(Protocol):
    """Where the worker takes its frames (``camera.Camera``).

    The worker *waits* for a new frame instead of polling for one: a poll every few
    milliseconds woke the thread four or five times per camera frame, each time a cold start on
    a core that had gone idle, about a tenth of the CPU an analysed frame costs."""

    def next_frame(self, after_seq: int = 0, timeout: float | None = None) -> FrameLike | None:
        """The newest frame if its seq is above ``after_seq``, else the next one within
        ``timeout`` seconds; None when none came (or the feed is stopping)."""
        ...


@dataclass(frozen=True)
class VisionResult:
    """What one analysed frame produced (immutable; handed to the event loop)."""

    seq: int
    timestamp: float
    width: int
    height: int
    tracks: tuple[TrackSnapshot, ...]  # open tracks (tentative and confirmed)
    closed_tracks: tuple[TrackSnapshot, ...]  # tracks closed by this frame (final state)
    faces: int  # faces detected in this frame
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def closed(self) -> tuple[int, ...]:
        """Ids of the tracks closed by this frame."""
        return tuple(t.id for t in self.closed_tracks)

    @property
    def confirmed(self) -> tuple[TrackSnapshot, ...]:
        return tuple(t for t in self.tracks if t.confirmed)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "timestamp": round(self.timestamp, 3),
            "width": self.width,
            "height": self.height,
            "faces": self.faces,
            "tracks": [t.to_json() for t in self.tracks],
            "closed": list(self.closed),
            "closed_tracks": [t.to_json() for t in self.closed_tracks],
            "timings_ms": self.timings_ms,
        }


def _p50(values) -> float | None:
    return round(float(np.median(values)), 2) if values else None


class VisionPipeline:
    """Worker thread: latest frame -> detect -> track -> classify -> result to the loop."""

    def __init__(
        self,
        config: VisionConfig,
        feed: FrameFeed | None,
        callback: Callable[[VisionResult], Any],
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        analyzer: FaceAnalyzer | None = None,
        idle_wait_s: float = 0.005,
    ):
        self.config = config
        #: None: frames are handed to process() directly (tests, the eval's live replay)
        self.feed = feed
        self.callback = callback
        self.loop = loop
        self.analyzer = analyzer
        self._own_analyzer = analyzer is None
        self.fps_target = float(config.analysis_fps)
        self.tracker = Tracker(config)
        self.idle_wait_s = idle_wait_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._times: dict[str, deque] = {k: deque(maxlen=200) for k in ("detect", "classify", "track", "total")}
        self._done_at: deque = deque(maxlen=50)
        self._analysed = 0
        self._dropped = 0
        self._errors = 0
        self._faces = 0
        self._tracks = 0
        self._last_error: str | None = None
        self._last_seq: int | None = None
        self._last_full_ts: float | None = None
        self._last_search_ts: float | None = None  # a whole-frame pass, full or reduced size
        self._reduced = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def load(self) -> None:
        """Load and check every model (raises ModelError). Blocking, seconds on a busy Pi: the
        appliance calls it in a worker thread, so its event loop keeps serving meanwhile."""
        if self.analyzer is None:
            self.analyzer = FaceAnalyzer(self.config)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        feed = self.feed
        if feed is None:
            raise RuntimeError("VisionPipeline.start needs a frame feed (the camera)")
        self.load()  # ModelError surfaces here, in the caller, before any thread starts
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(feed,), name="vision-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker and wait for it to finish the frame it is analysing. The models are
        closed only once it has: freeing an onnxruntime session under a running inference
        aborts the process (``terminate called without an active exception``), which systemd
        counts as a crash. A frame takes milliseconds, but seconds on a starved CPU; ``timeout``
        keeps the whole stop well below the unit's TimeoutStopSec."""
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(min(1.0, timeout))
            if t.is_alive():
                log.warning("vision worker still finishing a frame after 1 s; waiting up to %.0f s", timeout)
                t.join(max(0.0, timeout - 1.0))
            if t.is_alive():
                # Leave the models open (the worker is still using them) rather than crash.
                log.error("vision worker did not stop within %.0f s; its models stay loaded", timeout)
                return
        self._thread = None
        if self._own_analyzer and self.analyzer is not None:
            self.analyzer.close()
            self.analyzer = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- stats -------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            done = list(self._done_at)
            fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) >= 2 and done[-1] > done[0] else 0.0
            # A figure whose source stopped (camera gone, models down) is 0, not its last value.
            if not done or time.monotonic() - done[-1] > STALE_AFTER_S:
                fps = 0.0
            return {
                "running": self.running,
                "fps": round(fps, 2),
                "fps_target": self.fps_target,
                "detect_ms_p50": _p50(self._times["detect"]),
                "classify_ms_p50": _p50(self._times["classify"]),
                "track_ms_p50": _p50(self._times["track"]),
                "frame_ms_p50": _p50(self._times["total"]),
                "faces": self._faces,
                "tracks": self._tracks,
                "frames_analysed": self._analysed,
                "frames_dropped": self._dropped,
                "errors": self._errors,
                "last_error": self._last_error,
                "frames_reduced_detection": self._reduced,
            }

    # -- work ------------------------------------------------------------------------------------
    def _run(self, feed: FrameFeed) -> None:
        lower_this_thread()  # inference yields the CPU to the event loop (signage.threadprio)
        period = 1.0 / self.fps_target if self.fps_target > 0 else 0.0
        next_due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_due:
                self._stop.wait(next_due - now)
                continue
            try:
                frame = feed.next_frame(self._last_seq or 0, FRAME_WAIT_S)
            except Exception as exc:  # a camera problem must not kill the worker
                self._note_error(f"frame source: {exc}")
                self._stop.wait(0.1)
                continue
            if frame is None:
                # none within FRAME_WAIT_S, or the feed is stopping (then it answers at once)
                self._stop.wait(self.idle_wait_s)
                continue
            next_due = max(next_due + period, time.monotonic()) if period else time.monotonic()
            try:
                result = self.process(frame)
            except Exception as exc:
                log.exception("vision: frame %s failed", getattr(frame, "seq", "?"))
                self._note_error(f"{exc.__class__.__name__}: {exc}")
                continue
            finally:
                del frame
            if not self._deliver(result):
                break
        # hand over the tracks still open so that their sessions are closed
        closed = tuple(self.tracker.close_all())
        if closed and self.loop is not None:
            self._deliver(
                VisionResult(
                    seq=-1,
                    timestamp=self.tracker._last_ts or 0.0,
                    width=0,
                    height=0,
                    tracks=(),
                    closed_tracks=closed,
                    faces=0,
                )
            )

    def _deliver(self, result: VisionResult) -> bool:
        if self.loop is None:  # start() sets it before the worker runs
            return False
        try:
            self.loop.call_soon_threadsafe(self.callback, result)
            return True
        except RuntimeError:  # the loop is closed: nobody is listening any more
            log.info("vision: event loop closed, worker stops")
            self._stop.set()
            return False

    def _note_error(self, msg: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = msg

    def detection_mode(self, ts: float) -> str:
        """How the frame at ts is searched for faces: FULL, SEARCH or TRACKED.

        FULL, the detector's full-size pass over the whole frame, finds faces down to
        ``min_face_px`` and gives the boxes the classifiers' crops are cut from. It is used at
        least every ``detect_full_every_s``, and whenever something could be missed or
        mismeasured: while a track is tentative (it needs consecutive hits to be confirmed) or
        was not found in the last frame (it may have moved out of its window), and while any
        face is smaller than ``detect_reduced_min_face_px``.

        Otherwise every face in front of the screen is tracked, settled and large: TRACKED finds
        each again in a small window around where it was (``detect_tracked``: about a seventh
        of the full pass's work for three faces), and at least every ``detect_search_every_s``
        SEARCH runs the whole frame at ``detect_reduced_long_side`` (a quarter of the full
        pass's work at 320 px) for newcomers of about 40 px and up -- anyone near the screen;
        smaller, farther faces wait for the next full pass. ``detect_reduced_long_side = 0``
        switches both off."""
        cfg = self.config
        reduced = int(cfg.detect_reduced_long_side)
        if not reduced or reduced >= int(cfg.detect_long_side):
            return FULL
        if self._last_full_ts is None or ts - self._last_full_ts >= float(cfg.detect_full_every_s):
            return FULL
        if not self.tracker.all_settled(float(cfg.detect_reduced_min_face_px)):
            return FULL
        if self._last_search_ts is None or ts - self._last_search_ts >= float(cfg.detect_search_every_s):
            return SEARCH
        return TRACKED

    def process(self, frame: FrameLike) -> VisionResult:
        """Analyse one frame (the worker calls this; tests may call it directly)."""
        analyzer = self.analyzer
        if analyzer is None:
            raise RuntimeError("VisionPipeline.process needs the analyser: call start() or pass analyzer=")
        image = frame.image
        ts = float(frame.timestamp)
        t0 = time.perf_counter()
        mode = self.detection_mode(ts)
        if mode == TRACKED:
            dets = analyzer.detect_tracked(image, self.tracker.boxes())
        else:
            dets = analyzer.detect(image, None if mode == FULL else int(self.config.detect_reduced_long_side))
            self._last_search_ts = ts
        if mode == FULL:
            self._last_full_ts = ts
        else:
            self._reduced += 1
        t1 = time.perf_counter()
        closed = self.tracker.update(ts, dets)
        # the classifiers' crops are cut from full-size boxes: tracks that fell due since the
        # last full-size frame wait for the next (at most detect_full_every_s)
        due = self.tracker.due_for_classification(ts) if mode == FULL else []
        t2 = time.perf_counter()
        if due:
            attrs = analyzer.classify_boxes(image, [t.box for t in due])
            for t, a in zip(due, attrs):
                self.tracker.apply(t, a, ts)
        t3 = time.perf_counter()
        snaps = tuple(self.tracker.snapshots())
        t4 = time.perf_counter()
        timings = {
            "detect": (t1 - t0) * 1000,
            "track": ((t2 - t1) + (t4 - t3)) * 1000,
            "classify": (t3 - t2) * 1000,
            "total": (t4 - t0) * 1000,
        }
        h, w = image.shape[:2]
        with self._lock:
            if self._last_seq is not None and frame.seq > self._last_seq + 1:
                self._dropped += frame.seq - self._last_seq - 1
            self._last_seq = frame.seq
            self._analysed += 1
            self._faces = len(dets)
            self._tracks = sum(1 for s in snaps if s.confirmed)
            self._done_at.append(time.monotonic())
            for k, v in timings.items():
                if k != "classify" or due:
                    self._times[k].append(v)
        return VisionResult(
            seq=int(frame.seq),
            timestamp=ts,
            width=int(w),
            height=int(h),
            tracks=snaps,
            closed_tracks=tuple(closed),
            faces=len(dets),
            timings_ms={k: round(v, 2) for k, v in timings.items()},
        )
