"""The audience model: confirmed face tracks become anonymous sessions.

Vision hands the event loop one result per analysed frame (`Audience.on_vision`). Each
confirmed track is one *session* with a random id (uuid4 hex -- nothing derived from the
face), wall-clock first/last seen, dwell (first to last detection), attention (frontal
time, always <= dwell) and the track's smoothed age-group / gender / mood probabilities
(and P(face mask) when `vision.mask` is on).
No image, crop, embedding or landmark is kept: only boxes (for the live overlay, never
stored), durations and probabilities.

Definitions (docs/architecture.md): OTS = a session present while a play ran for
>= `audience.min_exposure_s`; watcher = frontal for >= `audience.watcher_s` in total.

Exposure to a play is measured by an `ExposureMeter` the player opens at the start of a
play and closes at its end: every frame adds, for each present session, the time since
its previous observation (clipped to the meter's start) as *present* time, and as
*watching* time when the face was frontal. A session seen in two consecutive analysed frames
was there in between however long the analysis took (`continuous_gap_s`): a starved worker
on a busy Pi must not turn a crowd into zero impressions.

When vision is down no results arrive: sessions time out (`session_timeout_s`) and
nobody is present. When it runs slowly (frames seconds apart), both limits stretch to a few of
its recent frame gaps (`PRESENT_GAPS`, `SESSION_GAPS`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import statistics
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .config import AudienceConfig
from .tasks import cancel_and_wait
from .vision.agegate import AgeSample
from .vocabulary import AGE_GROUPS, GENDERS, MASK_THRESHOLD, MOODS

if TYPE_CHECKING:  # only the types: the audience model never runs vision code
    from .events import Hub
    from .store import Store
    from .vision.pipeline import VisionResult
    from .vision.tracker import TrackSnapshot

log = logging.getLogger(__name__)

__all__ = ["Clock", "RealClock", "Session", "Exposure", "ExposureMeter", "Audience", "dominant", "mix"]

_SESSION_SQL = (
    "INSERT OR REPLACE INTO sessions (id, started_at, ended_at, dwell_s, attention_s, "
    "age_group, gender, mood, age_group_p, gender_p, mood_p, mask_p) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: longest gap between two observations of a session that still counts as continuous time
#: when the session was missing from analysed frames in between
MAX_GAP_S = 1.5

#: vision's pace is the median gap between the last this many analysed frames (a median: one
#: long gap, vision down for a while, does not change it)
PACE_FRAMES = 9
#: the slowest pace taken into account: slower, vision is as good as down
MAX_PACE_S = 20.0
#: present_timeout_s and session_timeout_s are for the usual 5+ analysed frames a second. A
#: vision worker starved of CPU (a busy Pi, Chromium decoding video) analyses frames seconds
#: apart: a session then counts as present until this many frame gaps without a sighting, and is
#: ended after that many -- else every person would be ended and started again between frames
PRESENT_GAPS = 1.5
SESSION_GAPS = 3.0


# --- clock ----------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time (Unix seconds) and asyncio sleep."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


# --- sessions ------------------------------------------------------------------------------


def dominant(p: Mapping[str, float]) -> str | None:
    """The most probable label, or None when there are no probabilities."""
    if not p or sum(p.values()) <= 0:
        return None
    return max(p, key=lambda k: (p[k], k))


def mix(dists: list[Mapping[str, float]], labels: Iterable[str]) -> dict[str, float]:
    """Mean probability of each label over people (each distribution normalised first)."""
    labels = list(labels)
    out = {k: 0.0 for k in labels}
    n = 0
    for d in dists:
        total = sum(d.get(k, 0.0) for k in labels)
        if total <= 0:
            continue
        n += 1
        for k in labels:
            out[k] += d.get(k, 0.0) / total
    return {k: round(v / n, 4) for k, v in out.items()} if n else {k: 0.0 for k in labels}


@dataclass
class Session:
    id: str
    track_id: int
    first_seen: float
    last_seen: float
    attention_s: float = 0.0
    frontal: bool = False
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # normalised x, y, w, h
    mood_p: dict[str, float] = field(default_factory=dict)
    age_p: dict[str, float] = field(default_factory=dict)
    gender_p: dict[str, float] = field(default_factory=dict)
    age: float | None = None
    age_label: str | None = None  # vision's label, may be "uncertain"
    mood_label: str | None = None
    gender_label: str | None = None
    #: P(face mask), the tracker's smoothed estimate (None: vision.mask is off / not yet classified)
    mask_p: float | None = None
    #: the age gate's evidence from vision (in memory only, never stored)
    age_samples: tuple[AgeSample, ...] = ()
    #: a small number for the panel's overlay (which emoji is which face): never the session id
    overlay_id: int = 0
    #: impressions of each ad (slug) this session had: the frequency cap
    ad_counts: dict[str, int] = field(default_factory=dict)

    @property
    def dwell_s(self) -> float:
        return self.last_seen - self.first_seen

    @property
    def mood(self) -> str | None:
        return dominant(self.mood_p)

    @property
    def age_group(self) -> str | None:
        return dominant(self.age_p)

    @property
    def gender(self) -> str | None:
        return dominant(self.gender_p)

    @property
    def masked(self) -> bool | None:
        """Wearing a face mask (P >= MASK_THRESHOLD), or None when no mask estimate exists."""
        return None if self.mask_p is None else self.mask_p >= MASK_THRESHOLD

    def summary(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "started_at": self.first_seen,
            "ended_at": self.last_seen,
            "dwell_s": round(self.dwell_s, 3),
            "attention_s": round(min(self.attention_s, self.dwell_s), 3),
            "age_group": self.age_group,
            "gender": self.gender,
            "mood": self.mood,
            "age_group_p": _rounded(self.age_p),
            "gender_p": _rounded(self.gender_p),
            "mood_p": _rounded(self.mood_p),
            "mask_p": None if self.mask_p is None else round(self.mask_p, 4),
            "mask": self.masked,
        }


def _rounded(p: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in p.items()}


@dataclass
class Exposure:
    present_s: float = 0.0
    watching_s: float = 0.0


class ExposureMeter:
    """Present and watching seconds of each session during one play."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.exposures: dict[str, Exposure] = {}
        self.sessions: dict[str, Session] = {}
        self.closed = False

    def add(self, session: Session, since: float, until: float, frontal: bool) -> None:
        dt = until - max(since, self.started_at)
        if dt <= 0:
            return
        e = self.exposures.setdefault(session.id, Exposure())
        e.present_s += dt
        if frontal:
            e.watching_s += dt
        self.sessions[session.id] = session


class Audience:
    def __init__(self, config: AudienceConfig, hub: Hub, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.hub = hub
        self.store = store
        self.clock: Clock = clock or RealClock()
        self.sessions: dict[int, Session] = {}  # by track id, open sessions
        self._meters: list[ExposureMeter] = []
        self._last_frame_at: float | None = None
        self._frame_gaps: deque[float] = deque(maxlen=PACE_FRAMES)
        self._last_frame_event = 0.0
        self._frame_dirty = False
        self.frames = 0
        self.sessions_started = 0
        self.sessions_ended = 0
        self._overlay_ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None

    # --- input -------------------------------------------------------------------------

    def on_vision(self, result: VisionResult) -> None:
        """One analysed frame (called on the event loop)."""
        now = self.clock.now()
        self.frames += 1
        previous_frame_at = self._last_frame_at
        self._last_frame_at = now
        if previous_frame_at is not None:
            self._frame_gaps.append(now - previous_frame_at)
        for track in result.tracks:
            if not track.confirmed:
                continue
            s = self.sessions.get(track.id)
            if s is None:
                s = Session(uuid.uuid4().hex, track.id, now, now, overlay_id=next(self._overlay_ids))
                self.sessions[track.id] = s
                self.sessions_started += 1
                self._publish("session.started", {"session_id": s.id, "at": now})
                prev = now
                prev_frontal = False
            else:
                prev = s.last_seen
                prev_frontal = s.frontal
            self._update(s, track, result.width, result.height, now)
            gap = now - prev
            if 0 < gap <= self.continuous_gap_s(seen_in_previous_frame=prev == previous_frame_at):
                # time since the previous sighting counts as frontal only if it was
                # frontal at both ends (a conservative reading of the samples)
                was_frontal = track.frontal and prev_frontal
                if was_frontal:
                    s.attention_s = min(s.attention_s + gap, s.dwell_s)
                for m in self._meters:
                    m.add(s, prev, now, was_frontal)
            elif gap == 0:
                for m in self._meters:
                    m.sessions.setdefault(s.id, s)
        for closed in result.closed_tracks:
            ended = self.sessions.pop(closed.id, None)
            if ended is not None:
                self._end(ended)
        self._frame_dirty = True
        self._maybe_publish_frame(now)

    def continuous_gap_s(self, seen_in_previous_frame: bool) -> float:
        """The longest time between two sightings of a session that counts as presence.

        Seen in the previous analysed frame too, the gap is only how long the analysis took --
        a vision worker starved of CPU (Chromium decoding video on a 4-core Pi) may take
        seconds -- and nothing says the person left: it counts up to `session_limit_s()`, after
        which the session would have ended anyway. Missing from analysed frames in between,
        only a short dropout counts (`MAX_GAP_S` or `present_timeout_s`)."""
        if seen_in_previous_frame:
            return max(self.session_limit_s(), self.config.present_timeout_s, MAX_GAP_S)
        return max(MAX_GAP_S, self.config.present_timeout_s)

    def pace_s(self) -> float:
        """How far apart vision's recent analysed frames are: the median gap (0 before two)."""
        return min(MAX_PACE_S, statistics.median(self._frame_gaps)) if self._frame_gaps else 0.0

    def present_limit_s(self) -> float:
        """A session not seen for longer no longer counts as present now."""
        return max(self.config.present_timeout_s, PRESENT_GAPS * self.pace_s())

    def session_limit_s(self) -> float:
        """A session not seen for longer is ended, even though vision never closed it."""
        return max(self.config.session_timeout_s, SESSION_GAPS * self.pace_s())

    @staticmethod
    def _update(s: Session, track: TrackSnapshot, frame_w: int, frame_h: int, now: float) -> None:
        s.last_seen = now
        s.frontal = track.frontal
        if frame_w > 0 and frame_h > 0:
            x, y, w, h = track.box
            x0, y0 = max(0.0, x / frame_w), max(0.0, y / frame_h)
            s.box = (
                round(x0, 4),
                round(y0, 4),
                round(max(0.0, min(1.0, (x + w) / frame_w) - x0), 4),
                round(max(0.0, min(1.0, (y + h) / frame_h) - y0), 4),
            )
        # a track not classified yet has no scores: the session keeps what it had
        if track.emotion_scores and sum(track.emotion_scores.values()) > 0:
            s.mood_p = dict(track.emotion_scores)
        if track.age_group_scores and sum(track.age_group_scores.values()) > 0:
            s.age_p = dict(track.age_group_scores)
        if track.gender_scores and sum(track.gender_scores.values()) > 0:
            s.gender_p = dict(track.gender_scores)
        if track.age is not None:
            s.age = track.age
        if track.mask is not None:
            s.mask_p = track.mask
        if track.age_samples:
            s.age_samples = track.age_samples
        s.age_label = track.age_group or s.age_label
        s.mood_label = track.emotion or s.mood_label
        s.gender_label = track.gender or s.gender_label

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._reaper(), name="audience-reaper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self.end_all()

    async def _reaper(self) -> None:
        while True:
            await self.clock.sleep(0.25)
            try:
                self.tick()
            except Exception:  # never let the reaper die
                log.exception("audience tick failed")

    def tick(self) -> None:
        """End sessions vision forgot to close; publish a pending frame event."""
        now = self.clock.now()
        limit = self.session_limit_s()
        for tid, s in list(self.sessions.items()):
            if now - s.last_seen > limit:
                del self.sessions[tid]
                self._end(s)
                self._frame_dirty = True
        self._maybe_publish_frame(now)

    def end_all(self) -> None:
        """End every open session (shutdown): they are written with what was seen."""
        for tid, s in list(self.sessions.items()):
            del self.sessions[tid]
            self._end(s)

    def checkpoint(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements that would record every open session as it is now. The store keeps
        them at every timed flush and applies them at the next start only for sessions whose
        own end was never written, so a kill -9 loses at most one flush window of a session."""
        return [
            (_SESSION_SQL.replace("INSERT OR REPLACE", "INSERT OR IGNORE"), self._row(s, s.summary()))
            for s in self.sessions.values()
        ]

    def _end(self, s: Session) -> None:
        self.sessions_ended += 1
        summary = s.summary()
        self._write(s, summary)
        self._publish("session.ended", summary)

    def _write(self, s: Session, summary: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.enqueue(_SESSION_SQL, self._row(s, summary))

    @staticmethod
    def _row(s: Session, summary: dict[str, Any]) -> tuple[Any, ...]:
        return (
            s.id,
            s.first_seen,
            s.last_seen,
            summary["dwell_s"],
            summary["attention_s"],
            summary["age_group"],
            summary["gender"],
            summary["mood"],
            _json(summary["age_group_p"]),
            _json(summary["gender_p"]),
            _json(summary["mood_p"]),
            summary["mask_p"],
        )

    # --- exposure meters ------------------------------------------------------------------

    def open_meter(self) -> ExposureMeter:
        now = self.clock.now()
        m = ExposureMeter(now)
        for s in self.present_sessions(now):
            m.sessions[s.id] = s
        self._meters.append(m)
        return m

    def close_meter(self, meter: ExposureMeter) -> dict[str, Exposure]:
        """Stop counting. A session still present is credited up to now: the time since its
        last sighting counts as it would between two frames (the next meter starts at now)."""
        if meter in self._meters:
            self._meters.remove(meter)
            now = self.clock.now()
            for s in self.present_sessions(now):
                if s.id in meter.sessions and 0 < now - s.last_seen:
                    meter.add(s, s.last_seen, now, s.frontal)
        meter.closed = True
        return meter.exposures

    # --- views ------------------------------------------------------------------------------

    def present_sessions(self, now: float | None = None) -> list[Session]:
        now = self.clock.now() if now is None else now
        limit = self.present_limit_s()
        return [s for s in self.sessions.values() if now - s.last_seen <= limit]

    def snapshot(self) -> dict[str, Any]:
        now = self.clock.now()
        present = self.present_sessions(now)
        watching = [s for s in present if s.frontal]
        mood_mix = mix([s.mood_p for s in present], MOODS)
        return {
            "at": now,
            "present": len(present),
            "watching": len(watching),
            "mood": dominant(mood_mix) if present else None,
            "mood_mix": mood_mix,
            "age_group_mix": mix([s.age_p for s in present], AGE_GROUPS),
            "gender_mix": mix([s.gender_p for s in present], GENDERS),
            "masked": sum(1 for s in present if s.masked),
            "vision_last_frame_at": self._last_frame_at,
            "sessions_started": self.sessions_started,
            "sessions_ended": self.sessions_ended,
            "people": [self._person(s) for s in present],
        }

    @staticmethod
    def _person(s: Session) -> dict[str, Any]:
        x, y, w, h = s.box
        return {
            "session_id": s.id,
            "box": {"x": x, "y": y, "w": w, "h": h},
            "mood": s.mood,
            "frontal": s.frontal,
            "age_group": s.age_group,
            "gender": s.gender,
            "mask": s.masked,
            "dwell_s": round(s.dwell_s, 1),
            "attention_s": round(min(s.attention_s, s.dwell_s), 1),
        }

    def _maybe_publish_frame(self, now: float) -> None:
        if not self._frame_dirty:
            return
        if now - self._last_frame_event < 1.0 / self.config.frame_event_hz:
            return
        self._frame_dirty = False
        self._last_frame_event = now
        present = self.present_sessions(now)
        self.hub.publish(
            "audience.frame",
            {
                "at": now,
                # the overlay needs where, which mood and whether masked: no session id, no image
                "faces": [
                    {
                        "id": s.overlay_id,
                        "box": list(s.box),
                        "mood": s.mood,
                        "frontal": s.frontal,
                        "mask": bool(s.masked),
                    }
                    for s in present
                ],
            },
        )

    def _publish(self, topic: str, data: dict[str, Any]) -> None:
        self.hub.publish(topic, data)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
