"""The run folder's life: created for a new run, checked before a resume, undone when a start fails.

A run is *committed* by its first checkpoint: before it the folder holds at most ``config.json`` and
the temporary files of interrupted writes, nothing that took work to make. Such a folder can be
resumed (from the start) or given again as ``--out``; a folder of a run that failed before committing
is removed again (``discard_uncommitted``), so that a failed start leaves nothing behind.

No path is taken from a file in the folder: every name is one of the constants below, and
``run_path`` refuses a name (or a symlink) that would lead out of the folder, so a tampered folder
cannot make genkit write elsewhere. Torch-free.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from genkit.errors import RunFolderError
from genkit.files import atomic
from genkit.run.config_file import CONFIG_FILE, read_config

WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"


def run_path(run_dir: str | Path, *parts: str) -> Path:
    """``run_dir/parts...``, refused when it resolves outside the run folder (``..``, a symlink)."""
    root = Path(run_dir).resolve()
    path = Path(run_dir).joinpath(*parts)
    if not path.resolve().is_relative_to(root):
        raise RunFolderError(f"{path} leads out of the run folder {run_dir} (to {path.resolve()}); "
                             f"genkit only writes inside the run folder")
    return path


def has_checkpoint(run_dir: str | Path) -> bool:
    return (Path(run_dir) / CHECKPOINT_FILE).is_file()


def is_run_dir(path: str | Path) -> bool:
    return os.path.isfile(Path(path) / CONFIG_FILE)


def _uncommitted(path: Path) -> bool:
    """An empty folder, or one holding only a genkit config.json (and temporaries): no work to lose."""
    names = {p.name for p in path.iterdir() if not atomic.is_temporary(p)}
    if not names:
        return True
    if names != {CONFIG_FILE}:
        return False
    try:
        read_config(path)
    except RunFolderError:
        return False
    return True


def new_run_dir(root: str | Path, recipe: str) -> Path:
    """A fresh folder under ``root`` named after the recipe and the time; never an existing one."""
    root = Path(root)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with atomic.reported(root):
        for n in range(1000):
            candidate = root / (f"{recipe}-{stamp}" + (f"-{n}" if n else ""))
            try:
                candidate.mkdir(parents=True)
                return candidate
            except FileExistsError:
                if not root.is_dir():  # a file where the folder of runs should be: not a name clash
                    raise
    raise RunFolderError(f"cannot create a new run folder under {root}")


def prepare_run_dir(path: str | Path) -> Path:
    """Create ``path`` for a new run; refuse a folder that holds a committed run (never overwrite one).

    A folder whose run stopped before its first checkpoint is taken over: it holds nothing to lose.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path} exists and is not a folder; choose another --out")
    if path.is_dir() and not _uncommitted(path):
        raise RunFolderError(
            f"{path} is not empty; resume it with `genkit train --resume {path}` or choose another --out"
        )
    with atomic.reported(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def prepare_resume_dir(path: str | Path) -> Path:
    """Check that ``path`` holds a run that can be resumed.

    A run stopped before its first checkpoint (only config.json) is resumed from the start; one that
    has weights or metrics but lost its checkpoint is refused, since starting it over would replace them.
    """
    path = Path(path)
    read_config(path)
    if not has_checkpoint(path) and any((path / name).exists() for name in (WEIGHTS_FILE, METRICS_FILE)):
        raise RunFolderError(f"{path} has no {CHECKPOINT_FILE} to resume from; train it anew with `genkit train`")
    atomic.check_writable(path / CHECKPOINT_FILE)  # before the epoch whose checkpoint could not be saved
    return path


def discard_uncommitted(run_dir: str | Path, made: Sequence[Path]) -> None:
    """Undo a run that failed before its first checkpoint: what it wrote, then the folders ``made`` for it.

    A committed run (one with a checkpoint) is kept whole: it can be resumed.
    """
    run_dir = Path(run_dir)
    if has_checkpoint(run_dir) or not run_dir.is_dir():
        return
    for name in (CONFIG_FILE, METRICS_FILE, WEIGHTS_FILE):
        with contextlib.suppress(OSError):
            (run_dir / name).unlink()
    atomic.remove_temporaries(run_dir)
    for folder in made:  # deepest first; a folder something else has written into stays
        with contextlib.suppress(OSError):
            folder.rmdir()
