"""Where a command may write: never over what it reads, never into a run or export folder not its own.

``genkit generate EXPORT -o EXPORT/decoder.onnx`` would replace the graph it is reading, and a grid
written into a run folder or an image dataset becomes part of it. Every command that writes checks its
outputs here before it does any work: an output that is one of its inputs, lies inside an input folder,
or lies inside a run folder or an export folder is refused with one line, unless it is the place the
command exists to write (``allowed``: a run's default export folder, a report's default folder). The
folders above an output that do not exist are made, named in a warning line, and removed again if the
command fails (``make_parent``).

Torch-free: ``generate`` on an export folder must not import torch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from genkit.errors import OutputError, warn
from genkit.files import atomic


def spec_path(spec: str | None) -> str | None:
    """The path in a dataset spec such as ``folder:PATH`` or ``npz:PATH``; None for a named dataset."""
    if not spec or ":" not in spec:
        return None
    return spec.partition(":")[2] or None


def _owner(folder: Path) -> str | None:
    """Which genkit folder ``folder`` is and the command that writes it, for the message; None for others."""
    from genkit.export_contract import is_export_dir
    from genkit.run.config_file import is_genkit_run

    if is_genkit_run(folder):
        return "the run folder {}, which only `genkit train` writes"
    if is_export_dir(folder):
        return "the export folder {}, which only `genkit export` writes"
    return None


_made: list[Path] = []  # folders above outputs that this process created, deepest first for each output


def make_parent(path: str | os.PathLike) -> None:
    """The one rule of every command that writes about the folders above its output: missing ones are made
    and named in a warning line (a mistyped path shows at once), and the command line removes them again
    when the command fails (``remove_made_parents``), so a failed command leaves nothing behind."""
    parent = Path(path).parent
    missing = atomic.missing_folders(parent)
    if not missing:
        return
    with atomic.reported(parent):
        parent.mkdir(parents=True, exist_ok=True)
    _made.extend(missing)
    warn(f"made the folder {missing[-1]}" + (f" and {len(missing) - 1} below it" if len(missing) > 1 else "")
         + f" for {path}: it did not exist")


def remove_made_parents() -> None:
    """Remove the folders ``make_parent`` made that are still empty (after a command failed)."""
    while _made:
        folder = _made.pop(0)
        with contextlib.suppress(OSError):
            folder.rmdir()


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 what: str = "output", allowed: str | os.PathLike | None = None,
                 creates: str | os.PathLike | None = None) -> None:
    """Refuse an output ``path`` that would overwrite an input, land in a run or export folder, or
    cannot be written at all (``genkit.files.atomic.check_writable``); then make its missing parents.

    ``inputs`` are the files and folders the command reads (None entries are skipped). ``allowed`` is
    a folder the command may write in even so. ``creates`` is the folder the user named when ``path``
    is a file the command writes inside it (a report's folder): the folders above that one are the parents.
    """
    target = Path(path).resolve()
    atomic.check_writable(path)
    if allowed is None or not target.is_relative_to(Path(allowed).resolve()):
        for source in (Path(p) for p in inputs if p):
            resolved = source.resolve()
            if target == resolved or target.is_relative_to(resolved):
                where = "is" if target == resolved else "is inside"
                raise OutputError(f"{path} {where} {source}, which this command reads; write the {what} elsewhere")
        for folder in target.parents:
            owner = _owner(folder)
            if owner:
                raise OutputError(f"{path} is inside {owner.format(folder)}; write the {what} elsewhere")
    make_parent(creates if creates is not None else path)  # last: nothing is made for an output refused
