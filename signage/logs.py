"""Structured logging, configured once from `[logging]`."""

from __future__ import annotations

import json
import logging
import sys
import time

from .config import LoggingConfig


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RepeatFilter(logging.Filter):
    """Bounds the log volume of a repeated message: at most `burst` lines per `period` seconds
    for each (logger, level, message template); the rest are counted and reported in one line
    when the next period opens. A storm of the same error (a client hammering a broken
    request, a camera that keeps failing) then costs a few lines a minute, not megabytes."""

    def __init__(self, burst: int = 5, period: float = 60.0, max_keys: int = 1000) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self.max_keys = max_keys
        self._seen: dict[tuple[str, int, str], list[float | int]] = {}  # key -> [start, count]
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = record.created
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.period:
            dropped = int(entry[1]) - self.burst if entry is not None and entry[1] > self.burst else 0
            if entry is None and len(self._seen) >= self.max_keys:
                self._seen.clear()  # many distinct messages: start counting afresh
            self._seen[key] = [now, 1]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this in the last {self.period:.0f} s not logged]"
            return True
        entry[1] = int(entry[1]) + 1
        if entry[1] <= self.burst:
            return True
        self.suppressed += 1
        return False


def setup_logging(cfg: LoggingConfig) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RepeatFilter())
    if cfg.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(cfg.level.upper())
    # aiohttp's access log is noise on a kiosk that polls; keep it for debugging only.
    logging.getLogger("aiohttp.access").setLevel(logging.DEBUG if cfg.level == "debug" else logging.WARNING)
