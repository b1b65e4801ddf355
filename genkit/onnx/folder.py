"""The export folder on disk, and replacing it only with a complete, verified one.

    OUT/encoder.onnx   images (N, C, H, W) float32 in [0, 1] -> the encoder outputs (N, z_dim) each
    OUT/decoder.onnx   z (N, z_dim) float32 -> images (N, C, H, W) in [0, 1]

Nothing else is needed to use it: each graph holds its weights and the metadata of ``genkit.onnx.metadata``.
An export is built in a temporary sibling folder and swapped in only once it has been verified, so a
reader sees the old export or the new one, and a failed export leaves the old one untouched.

Torch-free: the runtime uses the file names and ``is_export_dir``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from genkit import atomic
from genkit.errors import ExportError

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
GRAPH_FILES = {"encoder": ENCODER_FILE, "decoder": DECODER_FILE}


def is_export_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding at least one of the graph files (a complete one or not)."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file() for name in GRAPH_FILES.values())


def check_replaceable(out: Path) -> None:
    """Refuse an ``out`` that is a file, or a folder with anything but an earlier export in it."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder; choose another --out")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in GRAPH_FILES.values())
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
