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
import shutil
import sys
import threading

log = logging.getLogger(__name__)

__all__ = ["BACKGROUND_NICE", "CHILD_NICE", "lower_this_thread", "background_command"]

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


#: nice level of helper programs where the idle scheduling class is not to be had
CHILD_NICE = 19


def background_command(cmd: list[str]) -> list[str]:
    """`cmd` started so that it gets only the CPU time nothing else wants.

    A helper program such as the headless Chromium that draws ad thumbnails takes one to two
    cores while it runs; at the loop's priority it made every request wait for a CPU (in
    `scripts/soak`, loop-lag p99 12-20 ms in the minute when the thumbnails were made, half a
    minute after start; 2-3 ms otherwise). Measured on one Chromium screenshot next to an asyncio
    loop ticking every 10 ms, lag p99 over three runs: 10-11 ms as it is, 8-11 ms with
    `nice -n 19`, 1-2 ms in the idle scheduling class (`chrt --idle 0`, util-linux), which is
    therefore used, with `nice` as the fallback. A prefix rather than a `preexec_fn`, which is
    unsafe in a process with threads."""
    if os.name != "posix":
        return list(cmd)
    chrt = shutil.which("chrt") if sys.platform.startswith("linux") else None
    if chrt:
        return [chrt, "--idle", "0", *cmd]
    nice = shutil.which("nice")
    return [nice, "-n", str(CHILD_NICE), *cmd] if nice else list(cmd)
