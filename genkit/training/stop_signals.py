"""Ctrl-C (SIGINT) and SIGTERM as requests to stop training at the next step boundary.

Stopping where the signal lands could leave the weights half updated; the trainer instead finishes the
step, writes a checkpoint and exits, so ``--resume`` continues exactly. In a single process a second
Ctrl-C aborts at once. Under torchrun a repeated signal is expected (the terminal and torchrun's agent
both deliver one), so it never aborts the checkpoint being written.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from genkit.errors import TrainingError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(TrainingError):
    """Training stopped on a signal after writing a checkpoint; the exit code is 128 + the signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopRequest:
    """Remembers the first stop signal received while ``installed()`` is active."""

    def __init__(self, *, repeat_aborts: bool = True, announce: bool = True) -> None:
        self.signum: int | None = None
        self.repeat_aborts = repeat_aborts
        self.announce = announce

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            if self.announce:
                again = " (Ctrl-C again aborts without saving)" if self.repeat_aborts else ""
                print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint{again}",
                      file=sys.stderr, flush=True)
        elif self.repeat_aborts and signum == signal.SIGINT:
            raise KeyboardInterrupt

    def error(self, run_dir: Path, epoch: int, step: int, world_size: int = 1) -> TrainingInterrupted:
        """The error that ends a stopped run: where it stopped and the command that continues it."""
        where = f"epoch {epoch + 1}, step {step}" if step else f"the end of epoch {epoch}"
        nproc = f" --nproc {world_size}" if world_size > 1 else ""
        signum = self.signum or signal.SIGINT  # in a torchrun launch, another rank may have received it
        return TrainingInterrupted(
            f"training stopped ({signal.Signals(signum).name}) at {where}; the checkpoint in {run_dir} is "
            f"saved. Resume with: genkit train --resume {run_dir}{nproc}", signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        # Python only lets the main thread set handlers; elsewhere signals keep their old meaning.
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
