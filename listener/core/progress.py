"""A progress line on stderr for long work, drawn only when stderr is a terminal (or asked
for with --progress: then, into a file or a pipe, a plain line every 10 s instead of a line
redrawn with a carriage return ten times a second, which filled a log with one endless
line)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress("staging", total)``; call ``update(done)``, then ``close()``. A total of 0
    is unknown (a file read as it streams): the line counts instead of drawing a bar."""

    def __init__(self, label: str, total: int, *, enabled: bool | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        tty = sys.stderr.isatty()
        self.enabled = tty if enabled is None else enabled
        self._tty = tty
        self._start = time.monotonic()
        # a file's first line after 10 s of work, not at its first row
        self._last = 0.0 if tty else self._start

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self._tty:
            if now - self._last < 0.1 and (not self.total or done < self.total):
                return
        elif now - self._last < 10.0:
            return
        self._last = now
        start, end = ("\r", "") if self._tty else ("", "\n")
        rate = done / max(now - self._start, 1e-6)
        if not self.total:
            sys.stderr.write(f"{start}{self.label} {done:,} rows ({rate:,.0f}/s)"
                             f"{end}")
            sys.stderr.flush()
            return
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(
            f"{start}{self.label} [{bar:<30}] {done:,}/{self.total:,} "
            f"({rate:,.0f}/s){end}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
