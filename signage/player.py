"""The player: the panel's state machine and proof of play.

    healing --(someone present >= min_exposure_s, an ad eligible)--> ad
    ad      --(its full duration: never cut short)-----------------> rating (+ QR)
    rating  --(player.rating_seconds)------------------------------> healing
    healing --(at least player.healing_min_seconds after an ad)----> the next ad

Every state change is published on the hub as `player.state` (the web layer forwards it to
the panel). Every ad or healing scene shown is a `plays` row (start, end, completed);
every session present for >= `audience.min_exposure_s` during an ad is an `exposures` row
(seconds present, seconds watching) and one impression; the play's spend is
`cpm x impressions / 1000`, and an ad whose spend reaches its budget is no longer eligible.
Writes go through `store.enqueue` (batched); play ids are allocated here, so nothing on
the hot path waits for the database.

Time comes from an injectable clock (`signage.audience.Clock`), so tests can drive the
machine with a fake clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from datetime import datetime
from typing import Any

from .ads.inventory import AdRecord, SyncResult, load_ads, media_url, sync
from .ads.selection import Decision, Rules, Viewer, decide
from .audience import Audience, Clock, ExposureMeter, RealClock, Session, dominant, mix
from .config import SLOW_MEDIA_SKIP_S, Config
from .events import Hub
from .healing import SceneLibrary, Weather, describe_time, season_of, time_of_day
from .store import Store, StoreUnavailable
from .tasks import cancel_and_wait
from .vocabulary import AGE_GROUPS, GENDERS, MOODS

log = logging.getLogger(__name__)

__all__ = ["Player"]

#: ad plays whose phone pages work from memory while the database cannot be written
RECENT_AD_PLAYS = 32


def mask_summary(sessions: list[Session]) -> dict[str, Any]:
    """Face masks in a play's audience: `masked` sessions (P(mask) >= 0.5), `mask_share` of the
    audience, and `mask` = True when a majority wore one. All None when no session has a mask
    estimate (vision.mask off)."""
    known = [s for s in sessions if s.mask_p is not None]
    if not known:
        return {"mask": None, "masked": None, "mask_share": None}
    masked = sum(1 for s in known if s.masked)
    share = masked / len(sessions)
    return {"mask": share > 0.5, "masked": masked, "mask_share": round(share, 4)}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


#: random bytes in an ad play's QR token: 64 bits (11 URL-safe characters). The token only opens
#: the play's phone page (details, one rating per device) during the retention period, so 2**64
#: is far beyond guessing; it is short because every character in a QR code costs modules, and
#: fewer, larger modules scan from further away. (Tokens of older plays, 22 characters, still work.)
TOKEN_BYTES = 8


def play_token() -> str:
    """A new, unguessable QR token for an ad play (also its `utm_content` in landing mode)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


class _Play:
    def __init__(
        self,
        play_id: int,
        kind: str,
        started_at: float,
        meter: ExposureMeter,
        ad: AdRecord | None = None,
        scene_id: str | None = None,
        token: str | None = None,
        present_at_start: int = 0,
    ) -> None:
        self.id = play_id
        self.kind = kind
        self.started_at = started_at
        self.meter = meter
        self.ad = ad
        self.scene_id = scene_id
        self.token = token
        self.present_at_start = present_at_start
        self.failed = False


class Player:
    def __init__(
        self,
        config: Config,
        store: Store,
        hub: Hub,
        audience: Audience,
        clock: Clock | None = None,
        scenes: SceneLibrary | None = None,
        weather: Weather | None = None,
        sync_on_start: bool = True,
    ) -> None:
        self.config = config
        self.sync_on_start = sync_on_start
        self.store = store
        self.hub = hub
        self.audience = audience
        self.clock: Clock = clock or RealClock()
        self.scenes = scenes if scenes is not None else SceneLibrary(config.ads.healing_dir, config.ads.hemisphere)
        self.weather = (
            weather
            if weather is not None
            else Weather(config.ads.weather_url, config.ads.weather_refresh_s, config.ads.weather_timeout_s)
        )
        self.rules = Rules.from_config(config.ads)
        self.ads: dict[str, AdRecord] = {}
        self._state: dict[str, Any] = {}
        self._decision: Decision | None = None
        self._decisions = 0
        self._decisions_ad = 0
        self._next_id = 1
        self._play: _Play | None = None
        self._ad_skip: dict[str, tuple[float, str]] = {}
        self._scene_skip: dict[str, float] = {}
        self.last_ad_slug: str | None = None
        self._last_scene: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.plays_done = 0
        self.errors = 0  # errors the machine recovered from (logged; healing content meanwhile)
        #: the latest ad plays by QR token, as the phone page needs them: while the database
        #: cannot be written (disk full) their rows are not in it, but their QR codes are on screen
        self._recent_ad_plays: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        # a crash may have left plays open: close them as not completed
        await self.store.execute("UPDATE plays SET ended_at = started_at, completed = 0 WHERE ended_at IS NULL")
        self._next_id = int(await self.store.scalar("SELECT COALESCE(MAX(id), 0) FROM plays")) + 1
        if self.sync_on_start:
            await self.sync_inventory()
        else:
            await self.reload_ads()
        self.weather.start()
        self._task = asyncio.create_task(self.run(), name="player")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._play is not None:
            self._close_play(completed=False)
        await self.weather.stop()

    async def sync_inventory(self) -> SyncResult:
        """Validate the ad folders, sync them into SQLite and reload (at start and on demand).
        A bad folder is logged with its problems; the other ads play on."""
        result = await sync(self.store, self.config.ads.dir, self.clock.now())
        for exc in result.invalid:
            for line in exc.lines():
                log.warning("ad skipped: %s", line)
        log.info("ads synced from %s: %s", self.config.ads.dir, result.summary())
        await self.reload_ads()
        return result

    async def reload_ads(self) -> None:
        """Re-read the inventory (after `ads sync` or an admin edit) with delivery so far."""
        await self.store.flush()  # our own pending plays count towards spend
        records = await load_ads(self.store)
        # spend of a play still running is not in the database yet: it is added when it ends
        self.ads = {r.slug: r for r in records}

    @property
    def alive(self) -> bool:
        """The state machine is running (started and not ended by an error)."""
        return self._task is not None and not self._task.done()

    # --- public views --------------------------------------------------------------------

    def current(self) -> dict[str, Any]:
        """The last published `player.state`."""
        return dict(self._state)

    def last_decision(self) -> dict[str, Any]:
        """The last ad decision, explained (for /api/decision/last)."""
        return self._decision.to_dict() if self._decision else {}

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        play = self._play
        return {
            "state": self._state.get("state"),
            "play_id": self._state.get("play_id"),
            "since": self._state.get("since"),
            # the running play's impressions so far (what its checkpoint would record now)
            "impressions": self._tally(play, play.meter.exposures)["impressions"] if play is not None else None,
            "ads": len(self.ads),
            "plays": self.plays_done,
            # ad decisions taken since start (one per poll while someone is settled in healing)
            "decisions": self._decisions,
            "decisions_ad": self._decisions_ad,
            "errors": self.errors,
            "skipped": {k: v[1] for k, v in self._ad_skip.items() if v[0] > now},
            "scenes": len(self.scenes.scenes),
            "weather": self.weather.current(),
            "weather_error": self.weather.error,
        }

    def media_failed(self, kind: str, slug_or_scene: str, *, slow: bool = False) -> bool:
        """The panel could not load a media file: skip it for a while (``slow``: it did not load
        in time, which is skipped at most SLOW_MEDIA_SKIP_S); if it is on screen now, end that
        play as not completed and move on. True if it was the current play."""
        # Only what exists can be skipped: the skip lists stay as small as the inventory,
        # whatever a client sends.
        known = self.ads if kind == "ad" else {s.id for s in self.scenes.scenes}
        if slug_or_scene not in known:
            return False
        now = self.clock.now()
        skip_s = self.config.player.media_failed_skip_seconds
        if slow:
            skip_s = min(skip_s, SLOW_MEDIA_SKIP_S)
        until = now + skip_s
        when = datetime.fromtimestamp(now).strftime("%H:%M")
        if kind == "ad":
            why = "media too slow to load" if slow else "media failed to load"
            self._ad_skip[slug_or_scene] = (until, f"{why} at {when}")
        else:
            self._scene_skip[slug_or_scene] = until
        p = self._play
        if p is None:
            return False
        if (kind == "ad" and p.kind == "ad" and p.ad is not None and p.ad.slug == slug_or_scene) or (
            kind != "ad" and p.kind == "healing" and p.scene_id == slug_or_scene
        ):
            p.failed = True
            log.warning("%s %s: media failed to load, skipping it", kind, slug_or_scene)
            return True
        return False

    def recent_ad_play(self, token: str) -> dict[str, Any] | None:
        """One of the latest RECENT_AD_PLAYS ad plays by its QR token, with its ad (the fields
        of `reports.public.play_by_token`), from memory."""
        play = self._recent_ad_plays.get(token)
        return dict(play) if play is not None else None

    async def record_rating(self, play_id: int, value: int, source: str, device: str) -> bool:
        """A thumbs up (+1) or down (-1) for an ad play, from the panel or a phone.
        False if this device already rated this play. Raises ValueError for a bad value or
        source, LookupError for an unknown play."""
        if value not in (1, -1):
            raise ValueError("value must be +1 or -1")
        if source not in ("panel", "mobile"):
            raise ValueError('source must be "panel" or "mobile"')
        device = str(device)[:100]
        await self.store.flush()  # the play row may still be in the batch
        row = await self.store.fetchone("SELECT kind FROM plays WHERE id = ?", (play_id,))
        if row is None and self.store.pending:
            # its row is waiting for a database that cannot be written (disk full): not unknown
            raise StoreUnavailable(f"the play {play_id} is not saved yet ({self.store.last_error})")
        if row is None or row["kind"] != "ad":
            raise LookupError(f"no ad play {play_id}")
        if await self.store.scalar(
            "SELECT 1 FROM ratings WHERE play_id = ? AND source = ? AND device = ?", (play_id, source, device)
        ):
            return False
        await self.store.execute(
            "INSERT OR IGNORE INTO ratings (play_id, value, source, device, created_at) VALUES (?, ?, ?, ?, ?)",
            (play_id, value, source, device, self.clock.now()),
        )
        return True

    # --- the machine ---------------------------------------------------------------------------

    async def run(self) -> None:
        after_ad = False
        while True:
            try:
                ad = await self._healing_phase(self.config.player.healing_min_seconds if after_ad else 0.0)
                await self._ad_phase(ad)
                after_ad = True
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the screen alive whatever happens
                self.errors += 1
                log.exception("player error; showing healing content")
                if self._play is not None:
                    self._close_play(completed=False)
                await self.clock.sleep(1.0)
                after_ad = True

    async def _healing_phase(self, min_s: float) -> AdRecord:
        cfg = self.config.player
        phase_start = self.clock.now()
        scene_start = phase_start
        self._begin_healing()
        while True:
            await self.clock.sleep(cfg.poll_seconds)
            now = self.clock.now()
            play = self._play
            if play is not None and play.failed:
                self._close_play(completed=False)
                self._begin_healing()
                scene_start = now
                continue
            if now - phase_start >= min_s and self._someone_settled(now):
                decision = self.decide(now)
                if decision.action == "ad" and decision.ad is not None:
                    self._close_play(completed=True)
                    return self.ads[decision.ad.slug]
            if now - scene_start >= cfg.idle_healing_seconds:
                self._close_play(completed=True)
                self._begin_healing()
                scene_start = now

    async def _ad_phase(self, ad: AdRecord) -> None:
        now = self.clock.now()
        token = play_token()
        play = self._open_play("ad", ad=ad, token=token)
        self._recent_ad_plays[token] = {
            "play_id": play.id,
            "token": token,
            "started_at": now,
            "ended_at": None,
            "audience": {},
            "ad_id": ad.state.id,
            "slug": ad.slug,
            "title": ad.state.title,
            "advertiser": ad.advertiser,
            "details": dict(ad.details),
            "media": ad.media,
            "media_type": ad.media_type,
        }
        while len(self._recent_ad_plays) > RECENT_AD_PLAYS:
            self._recent_ad_plays.popitem(last=False)
        duration = ad.state.duration_s
        ad_info = {
            "slug": ad.slug,
            "title": ad.state.title,
            "advertiser": ad.advertiser,
            "media_url": media_url(ad.slug, ad.media),
            "media_type": ad.media_type,
            "duration_s": duration,
            **ad.panel_info(),
        }
        self._publish(
            {"state": "ad", "play_id": play.id, "since": now, "ends_at": now + duration, "ad": ad_info, "token": token}
        )
        deadline = now + duration
        while True:
            left = deadline - self.clock.now()
            if left <= 1e-9 or play.failed:
                break
            await self.clock.sleep(min(self.config.player.poll_seconds, left))
        failed = play.failed
        self._close_play(completed=not failed)
        self.last_ad_slug = ad.slug
        rating_s = self.config.player.rating_seconds
        if not failed and rating_s > 0:
            now = self.clock.now()
            self._publish(
                {
                    "state": "rating",
                    "play_id": play.id,
                    "since": now,
                    "ends_at": now + rating_s,
                    "token": token,
                    "ad": ad_info,
                }
            )
            await self.clock.sleep(rating_s)

    # --- decisions -----------------------------------------------------------------------------

    def _someone_settled(self, now: float) -> bool:
        need = self.config.audience.min_exposure_s
        return any(s.dwell_s >= need for s in self.audience.present_sessions(now))

    def viewers(self, now: float | None = None) -> list[Viewer]:
        return [
            Viewer(
                session_id=s.id,
                mood_p=s.mood_p,
                age_p=s.age_p,
                gender_p=s.gender_p,
                age=s.age,
                age_label=s.age_label,
                ad_counts=s.ad_counts,
                age_samples=s.age_samples,
            )
            for s in self.audience.present_sessions(now)
        ]

    def decide(self, now: float | None = None) -> Decision:
        now = self.clock.now() if now is None else now
        self._decisions += 1
        skip = {slug: why for slug, (until, why) in self._ad_skip.items() if until > now}
        decision = decide(
            [r.state for r in self.ads.values()],
            self.viewers(now),
            datetime.fromtimestamp(now),
            self.rules,
            last_slug=self.last_ad_slug,
            seed=self.config.player.seed,
            key=str(self._decisions),
            skip=skip,
            at=now,
        )
        self._decision = decision
        if decision.action == "ad":
            self._decisions_ad += 1
        return decision

    # --- plays ----------------------------------------------------------------------------------

    def _begin_healing(self) -> None:
        now = self.clock.now()
        when = datetime.fromtimestamp(now)
        exclude = {sid for sid, until in self._scene_skip.items() if until > now}
        scene = self.scenes.pick(when, exclude, self._last_scene)
        self._last_scene = scene.id if scene else None
        play = self._open_play("healing", scene_id=scene.id if scene else None)
        info: dict[str, Any] = {
            "id": scene.id if scene else None,
            "media_url": scene.media_url if scene else None,
            "media_type": scene.media_type if scene else None,
            "title": scene.title if scene else "",
            "season": season_of(when, self.scenes.hemisphere),
            "time_of_day": time_of_day(when),
            **describe_time(when),
            "weather": self.weather.current(),
        }
        self._publish(
            {
                "state": "healing",
                "play_id": play.id,
                "since": now,
                "scene": info,
                "reason": self._decision.reason if self._decision else "starting",
            }
        )

    def _open_play(
        self, kind: str, ad: AdRecord | None = None, scene_id: str | None = None, token: str | None = None
    ) -> _Play:
        now = self.clock.now()
        play_id = self._next_id
        self._next_id += 1
        meter = self.audience.open_meter()
        play = _Play(
            play_id,
            kind,
            now,
            meter,
            ad=ad,
            scene_id=scene_id,
            token=token,
            present_at_start=len(self.audience.present_sessions(now)),
        )
        self._play = play
        if kind == "ad":
            d = self._decision.to_dict() if self._decision else {}
            d["candidates"] = d.get("candidates", [])[:5]
            decision = _json(d)
        else:
            decision = _json({"scene": scene_id, "reason": self._decision.reason if self._decision else "starting"})
        self.store.enqueue(
            "INSERT INTO plays (id, ad_id, kind, token, started_at, decision) VALUES (?, ?, ?, ?, ?, ?)",
            (play_id, ad.state.id if ad else None, kind, token, now, decision),
        )
        return play

    def checkpoint(self) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements that would record the running play as it stands -- ended now, not
        completed, its impressions, exposures and spend so far. The store keeps them at every
        timed flush and applies them at the next start only if the process died before the
        play's own end was written, so a kill -9 loses at most one flush window of the play.
        (Written once, as a finished play: the fleet outbox ships a play when it ends.)"""
        play = self._play
        if play is None:
            return []
        t = self._tally(play, play.meter.exposures)
        now = self.clock.now()
        out: list[tuple[str, tuple[Any, ...]]] = [
            (
                "UPDATE plays SET ended_at = ?, completed = 0, impressions = ?, watchers = ?, spend = ?, "
                "audience = ? WHERE id = ? AND ended_at IS NULL",
                (now, t["impressions"], t["watchers"], t["spend"], _json(t["audience"]), play.id),
            )
        ]
        if play.kind == "ad":
            # only if the UPDATE above applied (the play's own end was never written)
            out += [
                (
                    "INSERT OR IGNORE INTO exposures (play_id, session_id, present_s, watching_s) "
                    "SELECT ?, ?, ?, ? WHERE (SELECT ended_at FROM plays WHERE id = ?) = ?",
                    (play.id, sid, round(e.present_s, 3), round(e.watching_s, 3), play.id, now),
                )
                for sid, e in t["counted"].items()
            ]
        return out

    def _tally(self, play: _Play, exposures: dict[str, Any]) -> dict[str, Any]:
        """Impressions, watchers, audience mix and spend of a play from its exposures."""
        min_s = self.config.audience.min_exposure_s
        watcher_s = self.config.audience.watcher_s
        counted = {} if play.failed else {sid: e for sid, e in exposures.items() if e.present_s >= min_s - 1e-9}
        impressions = len(counted)
        watchers = sum(1 for e in counted.values() if e.watching_s >= watcher_s - 1e-9)
        sessions = [play.meter.sessions[sid] for sid in counted if sid in play.meter.sessions]
        mood_mix = mix([s.mood_p for s in sessions], MOODS)
        audience = {
            "present_at_start": play.present_at_start,
            "ots": impressions,
            "watchers": watchers,
            "mood": dominant(mood_mix) if sessions else None,
            "mood_mix": mood_mix,
            "age_group_mix": mix([s.age_p for s in sessions], AGE_GROUPS),
            "gender_mix": mix([s.gender_p for s in sessions], GENDERS),
            **mask_summary(sessions),
        }
        spend = 0.0
        if play.kind == "ad" and play.ad is not None:
            spend = play.ad.state.cpm * impressions / 1000.0
        return {
            "counted": counted,
            "impressions": impressions,
            "watchers": watchers,
            "sessions": sessions,
            "audience": audience,
            "spend": spend,
        }

    def _write_exposures(self, play: _Play, t: dict[str, Any]) -> None:
        if play.kind != "ad":
            return
        for sid, e in t["counted"].items():
            self.store.enqueue(
                "INSERT OR REPLACE INTO exposures (play_id, session_id, present_s, watching_s) VALUES (?, ?, ?, ?)",
                (play.id, sid, round(e.present_s, 3), round(e.watching_s, 3)),
            )

    def _close_play(self, completed: bool) -> None:
        play, self._play = self._play, None
        if play is None:
            return
        now = self.clock.now()
        t = self._tally(play, self.audience.close_meter(play.meter))
        impressions, watchers, spend, audience = t["impressions"], t["watchers"], t["spend"], t["audience"]
        if play.kind == "ad" and play.ad is not None:
            state = play.ad.state
            state.spent += spend
            state.impressions += impressions
            current = self.ads.get(state.slug)
            if current is not None and current is not play.ad:  # the inventory was reloaded meanwhile
                current.state.spent += spend
                current.state.impressions += impressions
            for s in t["sessions"]:
                s.ad_counts[state.slug] = s.ad_counts.get(state.slug, 0) + 1
            self._write_exposures(play, t)
        self.store.enqueue(
            "UPDATE plays SET ended_at = ?, completed = ?, impressions = ?, watchers = ?, spend = ?, "
            "audience = ? WHERE id = ?",
            (now, int(completed and not play.failed), impressions, watchers, spend, _json(audience), play.id),
        )
        recent = self._recent_ad_plays.get(play.token) if play.token else None
        if recent is not None:
            recent.update(ended_at=now, audience=audience)
        self.plays_done += 1
        if self.hub is not None:
            self.hub.publish(
                "player.play_ended",
                {
                    "play_id": play.id,
                    "kind": play.kind,
                    "ad": play.ad.slug if play.ad else None,
                    "scene": play.scene_id,
                    "completed": bool(completed and not play.failed),
                    "impressions": impressions,
                    "watchers": watchers,
                    "spend": spend,
                    "duration_s": round(now - play.started_at, 3),
                    "audience": audience,
                },
            )

    def _publish(self, data: dict[str, Any]) -> None:
        self._state = data
        if self.hub is not None:
            self.hub.publish("player.state", data)
