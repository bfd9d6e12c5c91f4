"""A progress line on stderr for long work, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress("staging", total)``; call ``update(done)``, then ``close()``. A total of 0
    is unknown (a file read as it streams): the line counts instead of drawing a bar."""

    def __init__(self, label: str, total: int, *, enabled: bool | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0
        self._start = time.monotonic()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (not self.total or done < self.total):
            return
        self._last = now
        rate = done / max(now - self._start, 1e-6)
        if not self.total:
            sys.stderr.write(f"\r{self.label} {done:,} rows ({rate:,.0f}/s)")
            sys.stderr.flush()
            return
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(
            f"\r{self.label} [{bar:<30}] {done:,}/{self.total:,} ({rate:,.0f}/s)"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
