"""What a screen in a fleet runs besides itself: the clock watcher (rows say whether the clock
was synchronised), the outbox shipper and the content puller. Built by the appliance only
when `[fleet]` has a database_url or a content_url."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import Config
from ..tasks import cancel_and_wait
from . import outbox
from .clock import clock_synchronised

log = logging.getLogger(__name__)

__all__ = ["FleetLink", "prepare_store"]

CLOCK_CHECK_S = 30.0


async def prepare_store(store: Any, config: Config) -> None:
    """Switch the outbox on (a screen with `fleet.database_url`) or off (any other screen).
    Called right after the store opens, before anything writes plays or sessions."""
    if config.fleet.shipping:
        await outbox.configure(store, config.device.id, config.fleet.outbox_max_rows)
        await _record_clock(store)
    else:
        await outbox.configure(store, None)


async def _record_clock(store: Any, previous: str | None = None) -> str:
    synced = clock_synchronised()
    value = "" if synced is None else str(int(synced))
    if value != previous:
        await outbox.set_meta(store, {"clock.synced": value})
        if previous is not None:
            log.info("fleet: system clock is %s", "synchronised" if synced else "NOT synchronised")
    return value


class FleetLink:
    def __init__(self, config: Config, store: Any, reload_ads: Callable[[], Awaitable[Any]] | None = None) -> None:
        from .shipper import Shipper

        self.config = config
        self.store = store
        self.shipper = Shipper(store, config.fleet) if config.fleet.shipping else None
        self.puller = None
        if config.fleet.pulling:
            from .content import ContentPuller

            self.puller = ContentPuller(config, store, reload_ads)
        self._clock_task: asyncio.Task | None = None

    def start(self) -> None:
        if self.shipper is not None:
            self.shipper.start()
            self._clock_task = asyncio.create_task(self._watch_clock(), name="fleet-clock")
        if self.puller is not None:
            self.puller.start()

    async def stop(self) -> None:
        await cancel_and_wait(self._clock_task)
        self._clock_task = None
        if self.puller is not None:
            await self.puller.stop()
        if self.shipper is not None:
            await self.shipper.stop()

    async def _watch_clock(self) -> None:
        value = None
        while True:
            try:
                value = await _record_clock(self.store, value)
            except Exception as exc:  # a locked database: try again next time
                log.warning("fleet: could not record the clock state: %s", exc)
            await asyncio.sleep(CLOCK_CHECK_S)

    async def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": True, "group": self.config.fleet.group, "clock_synced": clock_synchronised()}
        if self.shipper is not None:
            out["billing"] = await self.shipper.status()
        if self.puller is not None:
            out["content"] = self.puller.status()
        return out
