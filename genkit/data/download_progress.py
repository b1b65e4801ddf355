"""A download progress display on stderr: one updating line on a terminal, two plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


class DownloadProgress:
    """Reports the bytes received for one file; call ``update`` often, it redraws at most 10 times a second."""

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None, source: str = "") -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream if stream is not None else sys.stderr
        # Logs and CI captures get no carriage-return animation, only the start and end lines.
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        if not self.interactive:
            size = f" ({_megabytes(total)})" if total else ""
            origin = f" from {source}" if source else ""
            self._write(f"downloading {label}{origin}{size}\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def update(self, received: int) -> None:
        self.done += received
        now = time.monotonic()
        if self.interactive and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            text = f"{_megabytes(self.done)} / {_megabytes(self.total)} ({100 * self.done // self.total}%)"
        else:
            text = _megabytes(self.done)
        self._write(f"\r  {self.label}  {text}\033[K")

    def finish(self, note: str) -> None:
        if self.interactive:
            self._draw()
            self._write(f"  {note}\n")
        else:
            self._write(f"  {self.label}: {_megabytes(self.done)}, {note}\n")

    def fail(self) -> None:
        if self.interactive:
            self._write("\n")
