"""Places nothing can be written to: a full disk, a read-only one, and a path under a regular file.

As root a full or read-only disk is a real one: a small tmpfs mounted for the test, filled up or
remounted read-only, and always unmounted afterwards. Where that cannot be done (not root, ``mount``
refused or missing, or ``GENKIT_TEST_SIMULATE_DISKS`` set) the same failures are simulated at the write
layer, in this process: a commit (``os.replace``, ``os.rename``) into the place fails with ENOSPC once
more bytes were committed there than the room left; creating anything there (``os.mkdir``,
``tempfile.mkstemp``, ``tempfile.mkdtemp``) fails with EROFS and ``os.access`` says it is not writable.
The commands under test run in this process (``harness.invoke``), so the simulation reaches them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

KINDS = ("full", "read-only", "under-a-file")


class Place:
    """Where a test's outputs go; writable until ``seal``, so that the test can put its inputs there first."""

    def __init__(self, kind: str, root: Path, mounted: bool, monkeypatch: pytest.MonkeyPatch):
        self.kind, self.root, self.mounted, self.monkeypatch = kind, root, mounted, monkeypatch
        # under a file: the outputs' folder is a regular file
        self.path = root / "file" / "below" if kind == "under-a-file" else root

    def seal(self, room: int = 0) -> None:
        """Make the place what its kind says: full (but ``room`` bytes), read-only, or under a file."""
        if self.kind == "under-a-file":
            (self.root / "file").write_text("a regular file, where a folder would be")
        elif self.kind == "full":
            _fill(self.root, room) if self.mounted else _simulate_full(self.monkeypatch, self.root, room)
        elif not (self.mounted and _run("mount", "-o", "remount,ro", str(self.root))):
            _simulate_read_only(self.monkeypatch, self.root)


def _run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


@contextlib.contextmanager
def _tmpfs(folder: Path) -> Iterator[bool]:
    """An 8 MiB tmpfs at ``folder`` for the block (True), or a plain folder (False) where it cannot be."""
    folder.mkdir()
    mounted = (os.geteuid() == 0 and shutil.which("mount") is not None
               and not os.environ.get("GENKIT_TEST_SIMULATE_DISKS")
               and _run("mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(folder)))
    try:
        yield mounted
    finally:
        if mounted:  # lazily: a file a failed command left open must not keep it mounted
            _run("umount", "-l", str(folder))


def _fill(folder: Path, room: int) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):  # ENOSPC: full
            while True:
                os.write(fd, b"\0" * 4096)
        if room:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - room))
    finally:
        os.close(fd)


def _inside(path, place: Path) -> bool:
    return path is not None and Path(os.path.abspath(path)).is_relative_to(place)


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _simulate_full(monkeypatch, place: Path, room: int) -> None:
    committed = [0]
    for name in ("replace", "rename"):
        original = getattr(os, name)

        def commit(src, dst, *args, original=original, **kwargs):
            if _inside(dst, place):
                committed[0] += _bytes(Path(src))
                if committed[0] > room:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            return original(src, dst, *args, **kwargs)
        monkeypatch.setattr(os, name, commit)


def _simulate_read_only(monkeypatch, place: Path) -> None:
    def refused(path):
        return OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def guard(module, name, where):
        original = getattr(module, name)

        def create(*args, **kwargs):
            if _inside(where(args, kwargs), place):
                raise refused(where(args, kwargs))
            return original(*args, **kwargs)
        monkeypatch.setattr(module, name, create)

    guard(os, "mkdir", lambda args, kwargs: args[0])
    guard(tempfile, "mkstemp", lambda args, kwargs: kwargs.get("dir"))
    guard(tempfile, "mkdtemp", lambda args, kwargs: kwargs.get("dir"))
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (not _inside(path, place) or not mode & os.W_OK)
                        and access(path, mode, **kw))


@contextlib.contextmanager
def read_only_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``folder`` (made here, empty) read-only for the block: a tmpfs remounted read-only, else simulated."""
    with _tmpfs(folder) as mounted:
        if not (mounted and _run("mount", "-o", "remount,ro", str(folder))):
            _simulate_read_only(monkeypatch, folder)
        yield


@pytest.fixture(params=KINDS)
def place(request, tmp_path, monkeypatch) -> Iterator[Place]:
    """Each kind of unwritable place in turn, under the test's folder; unmounted when the test ends."""
    with _tmpfs(tmp_path / "place") as mounted:
        yield Place(request.param, tmp_path / "place", mounted, monkeypatch)
