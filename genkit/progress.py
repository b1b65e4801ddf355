"""A dependency-free progress line for long work, on stderr.

On a terminal it redraws one line; in a log (CI, a file) it prints a line every ``log_every`` seconds
so the log shows progress without thousands of carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, enabled: bool = True,
                 interval: float = 0.2, log_every: float = 15.0):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else log_every
        self.start = self.last = time.perf_counter()
        self.count = 0

    def due(self) -> bool:
        """Whether a redraw is due (callers skip computing the status text otherwise)."""
        return self.enabled and time.perf_counter() - self.last >= self.interval

    def update(self, count: int, status: str = "", force: bool = False) -> None:
        self.count = count
        if not self.enabled or not (force or self.due()):
            return
        self.last = time.perf_counter()
        line = self._line(status)
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(100))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self, status: str) -> str:
        frac = self.count / self.total if self.total else 1.0
        width = 24
        bar = "=" * int(frac * width) + (">" if frac < 1 else "") + " " * (width - int(frac * width) - 1)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / frac - elapsed if 0 < frac < 1 else 0.0
        return f"{self.label} [{bar[:width]}] {self.count}/{self.total} {status} | {elapsed:.0f}s<{eta:.0f}s"

    def close(self) -> None:
        """End the line on a terminal (the caller's last forced update drew the final state)."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
