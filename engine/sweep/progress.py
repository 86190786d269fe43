"""A dependency-free progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time

_WIDTH = 30
_MIN_INTERVAL = 0.1  # seconds between redraws


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """``[#########.........]  45%  4,500/10,000 combos  12,345/s  ETA 0:03`` on one line.

    ``enabled=None`` draws only when ``stream`` is a TTY. Call :meth:`update` with the number
    of combos done so far and :meth:`close` at the end (it clears the line).
    """

    def __init__(self, total: int, enabled: bool | None = None, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled and total > 0
        self.total = total
        self.started = time.perf_counter()
        self._last = 0.0
        self._resumed = 0

    def resumed(self, n: int) -> None:
        """Combos taken from checkpoints: counted as done, not in the speed."""
        self._resumed = n
        self.update(n)

    def line(self, done: int) -> str:
        frac = done / self.total if self.total else 1.0
        filled = int(round(frac * _WIDTH))
        elapsed = time.perf_counter() - self.started
        computed = done - self._resumed
        rate = computed / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        return (f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {frac * 100:3.0f}%  "
                f"{done:,}/{self.total:,} combos  {rate:,.0f}/s  ETA {_clock(eta)}")

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < _MIN_INTERVAL and done < self.total:
            return
        self._last = now
        self.stream.write("\r" + self.line(done))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (_WIDTH + 70) + "\r")
            self.stream.flush()
