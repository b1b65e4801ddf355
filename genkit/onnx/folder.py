"""The export folder on disk, and replacing it only with a complete, verified one.

What the folder holds (the graph files, their inputs and outputs, the metadata) is the export contract,
``genkit.export_contract``. An export is built in a temporary sibling folder and swapped in only once
it has been verified, so a reader sees the old export or the new one, and a failed export leaves the
old one untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from genkit.errors import ExportError
from genkit.export_contract import GRAPH_FILES
from genkit.files import atomic


def check_replaceable(out: Path) -> None:
    """Refuse an ``out`` that is a file, or a folder with anything but an earlier export in it."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir():
        from genkit.runtime.variants import variant_files  # the fp16/int8 files beside the graphs

        foreign = sorted(p.name for p in out.iterdir() if p.name not in variant_files(GRAPH_FILES))
        if foreign:
            raise ExportError(f"{out} holds other files ({', '.join(foreign[:3])}); it is not an export "
                              f"folder, so it is not replaced; choose another --out")


@contextlib.contextmanager
def staged_export(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder next to ``out``; when the block succeeds it replaces ``out``.

    On any error the staging folder is removed and ``out`` is left as it was; an ``OSError`` becomes
    a ``WriteError`` line naming ``out``.
    """
    out = Path(out)
    check_replaceable(out)
    # a failed write is one WriteError line, and the folders made for the export go again
    with atomic.reported(out), atomic.new_folders(out.parent):
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            yield stage
            _make_durable(stage)
            _swap_in(stage, out)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _make_durable(stage: Path) -> None:
    os.chmod(stage, 0o777 & ~atomic.current_umask())  # mkdtemp makes it private; the export is an ordinary folder
    for path in stage.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    atomic.fsync_dir(stage)


def _swap_in(stage: Path, out: Path) -> None:
    """Put ``stage`` at ``out``; afterwards ``stage`` holds the previous export (or nothing)."""
    if not out.exists():
        os.rename(stage, out)
    elif not _exchange(stage, out):
        # No atomic exchange here: move the old export aside first, and back if the second step fails.
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", suffix=".tmp", dir=out.parent))
        os.rmdir(aside)
        os.rename(out, aside)
        try:
            os.rename(stage, out)
        except OSError:
            os.rename(aside, out)
            raise
        os.rename(aside, stage)  # so the caller's cleanup removes the old export
    atomic.fsync_dir(out.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux's renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return result == 0


def write_graph(stage: Path, graph: str, data: bytes) -> Path:
    """Write one graph's bytes into the staging folder (made durable by ``staged_export``)."""
    path = stage / GRAPH_FILES[graph]
    path.write_bytes(data)
    return path
