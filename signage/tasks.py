"""Small asyncio helpers shared by the components that run a background task."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has really finished (its `finally`
    blocks ran), so a component's `stop()` returns only when the task is gone."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
