"""CPU priority of background threads: the event loop comes first.

On a 2- or 4-core Pi the vision threads can keep a core busy on their own, and the kiosk's
Chromium wants the others. When every core is busy, the kernel shares them by priority; at the
same priority the event-loop thread that wakes for a request, a WebSocket message or a timer
waits its turn behind inference, which shows up as loop lag (issue 10: p99 well over 10 ms
under load, 4 ms with vision off). Inference holds the GIL only briefly (onnxruntime and OpenCV
release it), so lowering its threads' priority lets the loop run first without the loop then
waiting for the GIL. On Linux `nice` is per thread, so this touches only the calling thread.
Elsewhere it does nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

__all__ = ["BACKGROUND_NICE", "lower_this_thread"]

#: how much lower than the process a background thread runs (nice steps: +5 gives it about a
#: third of the CPU weight of the loop thread when both want a core)
BACKGROUND_NICE = 5


def lower_this_thread(steps: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's CPU priority by `steps` nice levels (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + steps))
    except OSError as exc:  # a sandbox may forbid it; the thread still runs
        log.debug("could not lower the priority of thread %s: %s", threading.current_thread().name, exc)
