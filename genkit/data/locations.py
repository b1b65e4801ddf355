"""Where named datasets live on disk, in search order, and the cache that downloads go to.

Search order for a dataset NAME (the first folder that holds every file wins):

1. ``$GENKIT_DATA/NAME/``: the user's own copy, when the variable is set;
2. the user cache ``$XDG_CACHE_HOME/genkit/datasets/NAME/`` (``~/.cache/...`` by default), where
   ``genkit data download`` writes;
3. ``/usr/share/datasets/NAME/``, where Debian's ``dataset-*`` packages install.
"""

from __future__ import annotations

import os
from pathlib import Path

from genkit.errors import DataError, warn

# A tuple so that tests can point it elsewhere with monkeypatch.
SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


def cache_root() -> Path:
    """The folder that holds one subfolder per downloaded dataset."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genkit" / "datasets"


def cache_dir(name: str) -> Path:
    return cache_root() / name


def search_dirs(name: str) -> list[Path]:
    """Candidate folders for dataset ``name``, in the order they are tried."""
    dirs = []
    if os.environ.get("GENKIT_DATA"):
        dirs.append(Path(os.environ["GENKIT_DATA"]).expanduser() / name)
    dirs.append(cache_dir(name))
    dirs.extend(root / name for root in SYSTEM_DIRS)
    return dirs


def find_in(directory: Path, stem: str) -> Path | None:
    """``stem`` itself or ``stem.gz`` in ``directory``; the uncompressed file is faster to read."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _note_fallback(name: str, first: Path, used: Path, stems: list[str]) -> None:
    """Warn when the user's own $GENKIT_DATA/NAME exists but is incomplete, so that another copy is read."""
    if not os.environ.get("GENKIT_DATA") or used == first or not first.is_dir():
        return
    missing = [stem for stem in stems if find_in(first, stem) is None]
    warn(f"$GENKIT_DATA/{name} ({first}) has no {', '.join(missing)}; reading dataset {name} from {used} instead")


def find_files(name: str, stems: list[str], how_to_get: str) -> tuple[Path, dict[str, Path]]:
    """The first search folder that holds all of ``stems`` (raw or gzipped), and each file's path.

    Raises one ``DataError`` that lists the folders looked in, says which were incomplete, and ends
    with ``how_to_get``.
    """
    looked = []
    dirs = search_dirs(name)
    for directory in dirs:
        found = {stem: find_in(directory, stem) for stem in stems}
        missing = [stem for stem, path in found.items() if path is None]
        if not missing:
            _note_fallback(name, dirs[0], directory, stems)
            return directory, {stem: path for stem, path in found.items() if path is not None}
        if len(missing) < len(stems):
            looked.append(f"{directory} (incomplete: no {', '.join(missing)})")
        else:
            looked.append(str(directory))
    if not os.environ.get("GENKIT_DATA"):
        looked.insert(0, "$GENKIT_DATA/" + name + " (GENKIT_DATA not set)")
    raise DataError(f"dataset {name} not found; looked in {'; '.join(looked)}. {how_to_get}")
