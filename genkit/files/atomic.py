"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Each write goes to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is atomic), is flushed and fsynced, then renamed over the destination; the folder is
fsynced so the rename itself survives a power cut.

Every write genkit makes goes through here (``atomic_path`` and the helpers on it, or ``reported`` and
``new_folders`` for folders), so a write that fails (disk full, read-only file system, a path under a
file) fails the same way everywhere: one ``WriteError`` line naming the path and the reason, no
temporary file and no new folder left behind, and whatever was at the path before kept as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from genkit.errors import WriteError

# The reasons a user can act on, in words; any other error keeps the operating system's own text.
REASONS = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "permission denied; write elsewhere or change the folder's permissions",
    errno.EPERM: "permission denied; write elsewhere or change the folder's permissions",
}


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a folder (``afile.txt`` of ``afile.txt/x.png``)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def describe(exc: OSError, path: str | os.PathLike) -> str:
    """Why writing ``path`` failed, as a phrase that says what to do about it."""
    blocker = _file_in_the_way(Path(path))
    if blocker is not None:
        return f"{blocker} is a file, not a folder; choose another path"
    return REASONS.get(exc.errno, exc.strerror or str(exc))


def check_writable(path: str | os.PathLike) -> None:
    """Fail now rather than after the work when ``path`` cannot be created: a file in its way, or the
    nearest existing folder above it read-only or not writable. (A full disk shows only when writing.)"""
    path = Path(path)
    folder = next((p for p in path.parents if p.is_dir()), Path("."))
    if _file_in_the_way(path) is None and os.access(folder, os.W_OK | os.X_OK):
        return
    code = errno.EROFS if os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
    raise WriteError(f"cannot write {path}: {describe(OSError(code, os.strerror(code)), path)}")


def check_writable_output(path: str | os.PathLike, folder: bool = False) -> None:
    """Fail now rather than after the work when the file (or, with ``folder``, the folder) ``path`` cannot
    be written: a folder where the file goes or a file where the folder goes, or no permission to write."""
    path = Path(path)
    if folder and path.is_dir():
        if os.access(path, os.W_OK | os.X_OK):
            return
        code = errno.EROFS if os.statvfs(path).f_flag & os.ST_RDONLY else errno.EACCES
        raise WriteError(f"cannot write {path}: {REASONS[code]}")
    if path.is_dir() or (folder and (path.exists() or path.is_symlink())):
        kind = "a folder, not a file" if path.is_dir() else "a file, not a folder"
        raise WriteError(f"cannot write {path}: it is {kind}; move it away")
    check_writable(path)


@contextlib.contextmanager
def reported(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into one ``WriteError`` naming it and the reason."""
    try:
        yield
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {describe(exc, path)}") from None


def missing_folders(folder: str | os.PathLike) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first: what creating it makes."""
    missing = []
    for path in (Path(folder), *Path(folder).parents):
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    return missing


@contextlib.contextmanager
def new_folders(folder: str | os.PathLike) -> Iterator[None]:
    """Create ``folder`` and its missing parents; when the block fails, remove the ones made here."""
    folder = Path(folder)
    made = missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield
    except BaseException:
        for path in made:
            with contextlib.suppress(OSError):  # not empty (another writer's), or never made
                path.rmdir()
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    An ``OSError`` inside the block or while committing becomes a ``WriteError``; folders created for
    ``path`` are removed again when the write fails.
    """
    path = Path(path)
    with reported(path), new_folders(path.parent):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            # mkstemp creates 0600; give the result the permissions an ordinary open() would have
            os.chmod(tmp_path, 0o666 & ~current_umask())
            os.replace(tmp_path, path)
            fsync_dir(path.parent)
        finally:
            with contextlib.suppress(OSError):
                tmp_path.unlink()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def is_temporary(path: str | os.PathLike) -> bool:
    """True for the leftovers of an interrupted atomic write (never to be trusted)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp")


def remove_temporaries(folder: str | os.PathLike) -> None:
    """Delete the files interrupted atomic writes left in ``folder`` (not in its subfolders)."""
    for path in Path(folder).glob(".*.tmp"):
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.unlink()
