"""A model to run inference with: an export folder (onnxruntime) or a run folder (torch), one numpy API.

``open_source(path)`` tells the two apart by their files: a run folder has ``config.json``, an export
folder ``encoder.onnx`` and ``decoder.onnx`` (only ``decoder.onnx`` for a generator-only model). Both
answer ``encode``, ``codes``, ``decode``, ``reconstruct``, ``sample_prior`` and ``generate`` with float32
numpy arrays (a generator-only model refuses the first four in one line) and carry ``metadata``
with at least ``recipe``, ``config``, ``input_shape``, ``latent_shape``, ``condition`` and
``encoder_outputs``; ``classes`` > 0 means every call that encodes or decodes takes ``labels``.

Opening an export folder imports neither torch nor the plugins; only a run folder does.
"""

from __future__ import annotations

import os
from pathlib import Path

from genkit.errors import GenkitError
from genkit.export_contract import is_export_dir
from genkit.run.config_file import CONFIG_FILE as RUN_CONFIG


def source_kind(path: str | os.PathLike) -> str:
    """``"run"`` or ``"export"``; a ``GenkitError`` for anything else."""
    path = Path(path)
    if not path.exists():
        raise GenkitError(f"{path} does not exist; give a run folder (from `genkit train`) or an export "
                          f"folder (from `genkit export --onnx`)")
    if (path / RUN_CONFIG).is_file():
        return "run"
    if is_export_dir(path):
        return "export"
    raise GenkitError(f"{path} is neither a run folder ({RUN_CONFIG}) nor an export folder "
                      f"(encoder.onnx and decoder.onnx)")


def open_source(path: str | os.PathLike, provider: str = "auto", threads: int = 0, batch_size: int = 512,
                precision: str = "fp32"):
    """An ``ExportedModel`` for an export folder, a ``RunModel`` for a run folder.

    ``precision`` chooses an export's graph files (``genkit.runtime.variants``); a run folder runs in torch.
    """
    if source_kind(path) == "export":
        from genkit.runtime import ExportedModel

        return ExportedModel(path, provider, threads, batch_size=batch_size, precision=precision)
    from genkit.runtime.run_model import RunModel

    return RunModel(path, provider, threads, batch_size=batch_size)


