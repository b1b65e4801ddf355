"""A ``genkit`` command line that pauses inside every checkpoint write, for tests that kill it there.

Production code has no switch for this: the test's own process patches ``genkit.files.atomic.atomic_path``
(through which every checkpoint is written) so that, once the temporary file is complete, it waits
before the rename, and then runs the ordinary command line.
"""

from __future__ import annotations

import sys

_PAUSED = """
import contextlib, sys, time
from pathlib import Path

from genkit.files import atomic
from genkit.cli import main

seconds = float(sys.argv.pop(1))
original = atomic.atomic_path


@contextlib.contextmanager
def paused(path):
    with original(path) as tmp:
        yield tmp  # the caller writes the temporary file
        if Path(path).name == "checkpoint.safetensors":
            time.sleep(seconds)  # complete but not yet renamed over the checkpoint


atomic.atomic_path = paused
main(sys.argv[1:])
"""


def genkit_command(*args: str, pause_before_checkpoint_rename: float | None = None) -> list[str]:
    """``python -m genkit ARGS``, or the same command pausing that many seconds before each checkpoint's rename."""
    if pause_before_checkpoint_rename is None:
        return [sys.executable, "-m", "genkit", *args]
    return [sys.executable, "-c", _PAUSED, str(pause_before_checkpoint_rename), *args]
