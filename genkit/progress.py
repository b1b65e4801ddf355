"""Progress of long work on stderr, drawn by tqdm.

On a terminal tqdm redraws one line; in a log (CI, a file) every redraw becomes its own line, one
every ``log_every`` seconds, so the log shows progress without carriage returns or blanked lines.
``due()`` lets a caller skip formatting a status text that would not be shown.
"""

from __future__ import annotations

import sys
from typing import TextIO


class _Lines:
    """A log file's view of tqdm: each redraw as its own line."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, enabled: bool = True,
                 interval: float = 0.2, log_every: float = 15.0, initial: int = 0, unit: str = "it"):
        from tqdm import tqdm

        stream = stream or sys.stderr
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=initial, desc=label, file=stream if self.tty else _Lines(stream),
                        leave=False, dynamic_ncols=self.tty, disable=not enabled, unit=unit,
                        mininterval=interval if self.tty else log_every, maxinterval=10.0 if self.tty else 0)

    def due(self) -> bool:
        """Whether the next update will redraw (callers skip computing the status text otherwise)."""
        bar = self.bar
        return self.enabled and bar._time() - bar.last_print_t >= bar.mininterval  # noqa: SLF001 - tqdm's own clock

    def update(self, count: int, status: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        if status and (force or self.due() or count >= self.bar.total):
            self.bar.set_postfix_str(status, refresh=False)
        self.bar.update(count - self.bar.n)
        if force:
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
