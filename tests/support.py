"""Helpers shared by the tests (no tests here).

* `FakeClock` -- a clock the test drives (`signage.audience.Clock`), for the audience model,
  the player and the whole appliance.
* `HoldableClock` -- real time that a test can hold still while it looks at the panel.
* `StillCamera` -- a camera source for `Appliance(camera_opener=...)` that can be unplugged.
* `PolledFeed` -- a `signage.vision.pipeline.FrameFeed` over a test's `latest()` function.
* `track()` / `vision_result()` -- the vision pipeline's own result types
  (`signage.vision.tracker.TrackSnapshot`, `signage.vision.pipeline.VisionResult`) as the
  pipeline builds them, for tests that feed the audience model without running the models.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np

from signage.camera import CameraError, FrameSource
from signage.vision.agegate import AgeSample
from signage.vision.pipeline import FrameLike, VisionResult
from signage.vision.tracker import TrackSnapshot
from signage.vocabulary import AGE_GROUPS, MOODS

FRAME_W, FRAME_H = 640, 480


class FakeClock:
    """A clock tests drive: `sleep` waits until `advance` moves time past its deadline.

    `await clock.advance(10)` moves time forward in steps, waking every sleeper in deadline
    order and letting the woken tasks run before time moves on. `clock.t` may also be set
    directly by tests that call the code synchronously.
    """

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.t = float(start)
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self.t + max(0.0, seconds), next(self._seq), fut))
        await fut

    async def _settle(self) -> None:
        for _ in range(50):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        target = self.t + seconds
        await self._settle()
        while self._waiters and self._waiters[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._waiters)
            self.t = max(self.t, deadline)
            if not fut.done():
                fut.set_result(None)
            await self._settle()
        self.t = target
        await self._settle()


class HoldableClock:
    """Real time (Unix seconds) that a test can hold still: `with clock.held(): ...`.

    While held, `now()` stands at the moment the hold began and every `sleep` waits on, so the
    appliance keeps its state (an ad, a rating screen) however long a starved machine takes to
    look at the panel; nothing else stops (vision, the web server, the browser). Released, time
    goes on from where it stood: for the appliance the held span never happened. A browser test
    checks what the panel shows in a state, and must not depend on how fast a screenshot is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held_for = 0.0  # seconds held so far, taken out of real time
        self._held_at: float | None = None
        self._holds = 0  # nested holds (one per thread that looks)

    def now(self) -> float:
        with self._lock:
            real = self._held_at if self._held_at is not None else time.time()
            return real - self._held_for

    def holding(self) -> bool:
        with self._lock:
            return self._held_at is not None

    async def sleep(self, seconds: float) -> None:
        end = self.now() + max(0.0, seconds)
        while (left := end - self.now()) > 0:
            # a hold may begin (or end) at any time: while held, look again soon
            await asyncio.sleep(min(left, 0.05) if self.holding() else left)

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self._holds += 1
            if self._holds == 1:
                self._held_at = time.time()
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                if self._holds == 0 and self._held_at is not None:
                    self._held_for += time.time() - self._held_at
                    self._held_at = None


def track(
    tid: int,
    *,
    confirmed: bool = True,
    frontal: bool = True,
    mood: str | None = "happy",
    box: tuple[float, float, float, float] = (64, 48, 64, 96),
    age: float | None = 34.0,
    group: str | None = "20-39",
    female: float = 0.8,
    mask: float | None = None,
    at: float = 0.0,
    age_samples: tuple[AgeSample, ...] | None = None,
) -> TrackSnapshot:
    """One track as the tracker snapshots it. `mood=None` gives a track not classified yet
    (no scores at all, as the tracker reports a new track)."""
    classified = mood is not None
    emotions = None
    if mood is not None:
        emotions = {m: 0.01 for m in MOODS}
        emotions[mood] = 0.94
    ages = None
    if classified and group is not None:
        ages = {g: 0.0 for g in AGE_GROUPS}
        ages[group] = 1.0
    genders = {"female": female, "male": 1.0 - female} if classified else None
    if age_samples is None:  # as the tracker gives it: one sample per classified frame (3 of them)
        side = float(min(box[2], box[3]))
        age_samples = (
            tuple(AgeSample(age=age, face_px=side, yaw=3.0, pitch=-2.0) for _ in range(3))
            if classified and age is not None
            else ()
        )
    return TrackSnapshot(
        id=tid,
        confirmed=confirmed,
        box=tuple(float(v) for v in box),  # type: ignore[arg-type]
        landmarks=((0.0, 0.0),) * 5,
        score=0.9,
        yaw=3.0,
        pitch=-2.0,
        frontal=frontal,
        visible=True,
        first_seen=at,
        last_seen=at,
        dwell=0.0,
        attention=0.0,
        classified=classified,
        emotion=mood,
        emotion_scores=emotions,
        age=age if classified else None,
        age_group=group if classified else None,
        age_group_scores=ages,
        gender=("female" if female >= 0.5 else "male") if classified else None,
        gender_scores=genders,
        mask=mask,
        age_samples=age_samples,
    )


def vision_result(
    *tracks: TrackSnapshot, closed: Iterable[int] = (), seq: int = 1, width: int = FRAME_W, height: int = FRAME_H
) -> VisionResult:
    """One analysed frame: the open `tracks` and the ids of the tracks it `closed`."""
    closed_tracks = tuple(track(tid, mood=None) for tid in closed)
    return VisionResult(
        seq=seq,
        timestamp=0.0,
        width=width,
        height=height,
        tracks=tuple(tracks),
        closed_tracks=closed_tracks,
        faces=sum(1 for t in tracks if t.visible),
    )


class PolledFeed:
    """The vision pipeline's frame feed over ``latest()`` (the newest frame or None), as
    ``camera.Camera.next_frame`` answers it: a frame newer than ``after_seq``, waited for."""

    def __init__(self, latest: Callable[[], FrameLike | None]) -> None:
        self.latest = latest

    def next_frame(self, after_seq: int = 0, timeout: float | None = None) -> FrameLike | None:
        deadline = time.monotonic() + (1.0 if timeout is None else timeout)
        while True:
            frame = self.latest()
            if frame is not None and frame.seq > after_seq:
                return frame
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.002)


class StillCamera(FrameSource):
    """A camera source (the real `FrameSource` contract) that shows one image at `fps` until
    `unplug()`: then every read fails as an unplugged USB camera's does, and so does every
    reopen. For tests that need a running, then failing, camera without hardware."""

    def __init__(self, image: np.ndarray, fps: float = 10.0) -> None:
        super().__init__()
        self.image = image
        self.period = 1.0 / fps
        self.name = "still (test)"
        self.unplugged = threading.Event()

    def open(self) -> None:
        if self.unplugged.is_set():
            raise CameraError("camera.device: no camera (unplugged)")

    def read(self) -> np.ndarray:
        self._sleep_until(time.monotonic() + self.period)
        if self.unplugged.is_set():
            raise CameraError("camera.device: no frame (unplugged)")
        return self.image.copy()

    def close(self) -> None:
        pass

    def fresh(self) -> StillCamera:
        return self

    def unplug(self) -> None:
        self.unplugged.set()
        self.interrupt()

    def opener(self) -> StillCamera:
        """For `Appliance(camera_opener=...)`: returns this source, opened."""
        self.open()
        return self
