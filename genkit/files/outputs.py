"""Where a command may write: never over what it reads, never into a run or export folder not its own.

``genkit generate EXPORT -o EXPORT/decoder.onnx`` would replace the graph it is reading, and a grid
written into a run folder or an image dataset becomes part of it. Every command that writes checks its
outputs here before it does any work: an output that is one of its inputs, lies inside an input folder,
or lies inside a run folder or an export folder is refused with one line, unless it is the place the
command exists to write (``allowed``: a run's default export folder, a report's default folder).

Torch-free: ``generate`` on an export folder must not import torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from genkit.errors import OutputError
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


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike | None] = (),
                 what: str = "output", allowed: str | os.PathLike | None = None) -> None:
    """Refuse an output ``path`` that would overwrite an input, land in a run or export folder, or
    cannot be written at all (``genkit.files.atomic.check_writable``).

    ``inputs`` are the files and folders the command reads (None entries are skipped). ``allowed`` is
    a folder the command may write in even so.
    """
    target = Path(path).resolve()
    atomic.check_writable(path)
    if allowed is not None and target.is_relative_to(Path(allowed).resolve()):
        return
    for source in (Path(p) for p in inputs if p):
        resolved = source.resolve()
        if target == resolved or target.is_relative_to(resolved):
            where = "is" if target == resolved else "is inside"
            raise OutputError(f"{path} {where} {source}, which this command reads; write the {what} elsewhere")
    for folder in target.parents:
        owner = _owner(folder)
        if owner:
            raise OutputError(f"{path} is inside {owner.format(folder)}; write the {what} elsewhere")
