"""An in-process publish/subscribe channel on the event loop.

The player and the audience model publish what changes (`player.state`, `audience.frame`,
`session.started`, ...); the web layer subscribes and forwards to WebSocket clients.
Publishing never blocks: a subscriber that falls behind loses its oldest events, the
publisher and every other subscriber carry on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "Hub", "Subscription"]


@dataclass(frozen=True)
class Event:
    topic: str
    data: dict[str, Any]
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "at": self.at, "data": self.data}


class Subscription:
    def __init__(self, hub: Hub, topics: tuple[str, ...], maxsize: int) -> None:
        self._hub = hub
        self.topics = topics
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)

    def wants(self, topic: str) -> bool:
        return not self.topics or any(topic == t or topic.startswith(t + ".") for t in self.topics)

    def offer(self, event: Event) -> None:
        if self.queue.full():  # a slow reader loses its oldest event, never blocks the publisher
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self._hub._subs.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()


class Hub:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._last: dict[str, Event] = {}

    def subscribe(self, *topics: str, maxsize: int = 256) -> Subscription:
        """Events whose topic is one of `topics` or below one (`"player"` gets `"player.state"`);
        no topics = everything."""
        sub = Subscription(self, topics, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, topic: str, data: dict[str, Any]) -> Event:
        event = Event(topic, data)
        self._last[topic] = event
        for sub in list(self._subs):
            if sub.wants(topic):
                sub.offer(event)
        return event

    def last(self, topic: str) -> Event | None:
        """The latest event of a topic, so a page that connects late starts from the present."""
        return self._last.get(topic)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
