"""One graph, exported and verified: the first of torch's exporters whose graph passes every check.

The checks: ``onnx.checker`` (full), weights inside the file, no random node, and onnxruntime's CPU
provider against the torch module on every batch given, within ``atol``. A failing exporter is noted
and the next one tried; when none passes the component is named with each exporter's reason.

Before the checks, transposed convolutions are put in the form onnxruntime runs fastest
(``genkit.onnx.conv_transpose``); the parity check compares that graph with the original module.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import torch

from genkit.errors import ExportError
from genkit.onnx.conv_transpose import fold_crops, rewrite_module
from genkit.onnx.exporter import EXPORTERS, ExporterFailure, export_module
from genkit.onnx.verify import VerificationFailure, check_structure, max_difference

Reference = Callable[[np.ndarray], dict[str, np.ndarray]]


@dataclasses.dataclass
class VerifiedGraph:
    model: onnx.ModelProto
    exporter: str
    max_abs_diff: float
    notes: list[str]  # why each exporter tried before this one was not used


def export_verified(module: torch.nn.Module, example: torch.Tensor, input_name: str, output_names: Sequence[str],
                    reference: Reference, batches: Sequence[np.ndarray], *, name: str, opset: int,
                    exporters: Sequence[str] = EXPORTERS, atol: float = 1e-5,
                    log: Callable[[str], None] | None = None) -> VerifiedGraph:
    """Export ``module``; ``name`` (e.g. ``encoder 'conv' (plugin vae)``) is how errors refer to it."""
    from genkit.runtime.sessions import GraphSession

    notes: list[str] = []
    mismatches = 0
    # Verified against ``reference`` (the original module), not against the rewritten copy.
    module, _ = rewrite_module(module)
    for exporter in exporters:
        try:
            model = export_module(module, example, input_name, output_names, opset, exporter)
            fold_crops(model)
            check_structure(model)
            try:
                session = GraphSession(model.SerializeToString(), provider="cpu", source="the exported graph")
            except ExportError as exc:
                raise VerificationFailure(str(exc)) from None
            diff = max_difference(functools.partial(_run, session, input_name), reference, batches)
            if not diff <= atol:
                mismatches += 1
                raise VerificationFailure(f"onnxruntime differs from torch by up to {diff:.3g} (> {atol:g})")
        except (ExporterFailure, VerificationFailure) as exc:
            notes.append(f"{exporter}: {exc}")
            if log:
                log(f"{name}: the {exporter} exporter failed ({exc})")
            continue
        return VerifiedGraph(model, exporter, diff, notes)
    hint = ""
    if mismatches == len(exporters):
        # Every exporter agrees on a small difference: float32 rounding of large outputs, not an exporter bug.
        hint = "; if the outputs are large, this may be float32 rounding: --atol sets the tolerance"
    raise ExportError(f"{name} cannot be exported to ONNX: {'; '.join(notes)}{hint}")


def _run(session: Any, input_name: str, batch: np.ndarray) -> dict[str, np.ndarray]:
    return session.run({input_name: batch})
