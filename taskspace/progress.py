"""Throttled progress lines with a rate and the time left, one format for every long job.

The heads trainer, word-feature extraction and agent training all log
``label: done/total unit, rate unit/s, extra, ETA 1m05s`` through :class:`Progress`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


def duration(seconds: float) -> str:
    """``1h05m`` or ``4m09s``: how long something took or will take."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _rate(per_second: float) -> str:
    """``12.3`` at one a second or more; two significant digits below (``0.0042``), where ``0.0`` would hide it."""
    return f"{per_second:.1f}" if per_second >= 1 else f"{per_second:.2g}"


class Progress:
    """``update(done)`` logs ``label: done/total unit, rate unit/s, extra, ETA`` at most every ``every_s`` seconds.

    The last update (``done == total``) is always logged; ``every_s=0`` logs every update, ``None`` none.
    ``extra`` adds job-specific counts to the line: a string, or a callable that takes the seconds since the
    start and returns one (for rates in another unit), called only when a line is logged.
    """

    def __init__(self, log: logging.Logger, label: str, total: int, unit: str, every_s: float | None = 10.0):
        self.log, self.label, self.total, self.unit, self.every_s = log, label, total, unit, every_s
        self.begin = self.last = time.perf_counter()
        self.done = 0

    def update(self, done: int, extra: str | Callable[[float], str] = "") -> None:
        self.done = done
        now = time.perf_counter()
        if self.every_s is None or (now - self.last < self.every_s and done < self.total):
            return
        self.last = now
        elapsed = max(now - self.begin, 1e-9)
        eta = (self.total - done) * elapsed / max(done, 1)
        extra = extra(elapsed) if callable(extra) else extra
        suffix = f", {extra}" if extra else ""
        self.log.info(
            "%s: %d/%d %s, %s %s/s%s, ETA %s",
            self.label,
            done,
            self.total,
            self.unit,
            _rate(done / elapsed),
            self.unit,
            suffix,
            duration(eta),
        )

    def finish(self) -> float:
        """Log the total time; return it in seconds."""
        elapsed = time.perf_counter() - self.begin
        self.log.info(
            "%s: %d %s done in %s (%s %s/s)",
            self.label,
            self.done,
            self.unit,
            duration(elapsed),
            _rate(self.done / max(elapsed, 1e-9)),
            self.unit,
        )
        return elapsed
