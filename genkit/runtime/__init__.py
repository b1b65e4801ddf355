"""Torch-free inference on exported graphs with onnxruntime, on the CPU or CUDA provider.

    from genkit.runtime import ExportedModel

    model = ExportedModel("runs/vae/onnx", provider="auto")   # "cpu", "cuda" or "auto"
    images = model.generate(64, seed=0)                       # float32 (64, C, H, W) in [0, 1]
    codes = model.codes(images)                               # (64, *latent_shape)
    again = model.reconstruct(images)
    digits = model.generate(10, seed=0, labels=3)             # a conditional export takes labels

``open_source(path)`` opens an export folder or a run folder (torch) behind the same API. The export
contract these read (graph files, names, metadata) is ``genkit.export_contract``.

Importing this package, and using it on an export folder, imports numpy, onnxruntime and genkit's
torch-free modules only: an export folder runs where torch and the plugins that trained it are not
installed.
"""

from __future__ import annotations

from genkit.runtime.inputs import InputError
from genkit.runtime.model import ExportedModel
from genkit.runtime.prior import HostPrior, draw_prior
from genkit.runtime.sessions import PROVIDERS, ProviderError, cuda_available
from genkit.runtime.source import open_source, source_kind

__all__ = ["PROVIDERS", "ExportedModel", "HostPrior", "InputError", "ProviderError", "cuda_available", "draw_prior",
           "open_source", "source_kind"]
