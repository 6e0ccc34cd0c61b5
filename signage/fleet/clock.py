"""Is the system clock synchronised (NTP)? A Raspberry Pi has no real-time clock: until
timesyncd or chrony has set the time after boot, timestamps can be days or years off, so
every row shipped says whether the clock was synchronised when it was written.

Asked of the kernel with adjtimex(2) (read-only: `modes = 0`), which every NTP client keeps
up to date: TIME_ERROR (5) means "not synchronised".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["clock_synchronised"]

_TIME_ERROR = 5


class _Timex(ctypes.Structure):
    # struct timex: `modes` first, then fields we do not read; 208 bytes is larger than the
    # structure on every Linux architecture, so the kernel never writes past it.
    _fields_ = [("modes", ctypes.c_uint), ("_rest", ctypes.c_byte * 204)]


def clock_synchronised() -> bool | None:
    """True or False from the kernel; None where it cannot be asked (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != _TIME_ERROR
