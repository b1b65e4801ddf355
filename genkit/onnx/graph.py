"""One graph, exported and verified: the first of torch's exporters whose graph passes every check.

The checks: ``onnx.checker`` (full), weights inside the file, no random node, and onnxruntime's CPU
provider against the torch module on every batch given, within ``atol``. A failing exporter is noted
and the next one tried; when none passes the component is named with each exporter's reason.

Before the checks, transposed convolutions are put in the form onnxruntime runs fastest
(``genkit.onnx.conv_transpose``); the parity check compares that graph with the original module, run
in torch on the same feeds (``torch_outputs``): the module exported is the module it is compared with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import onnx
import torch

from genkit.errors import ExportError
from genkit.onnx.conv_transpose import fold_crops, rewrite_module
from genkit.onnx.exporter import EXPORTERS, ExporterFailure, export_module
from genkit.onnx.verify import Feeds, VerificationFailure, check_structure, max_difference


@dataclasses.dataclass
class VerifiedGraph:
    model: onnx.ModelProto
    exporter: str
    max_abs_diff: float
    notes: list[str]  # why each exporter tried before this one was not used


def torch_outputs(module: torch.nn.Module, input_names: Sequence[str],
                  output_names: Sequence[str]) -> Callable[[Feeds], dict[str, np.ndarray]]:
    """``module`` run in torch on a batch of feeds, its outputs by name: the reference a graph must match."""
    def run(feeds: Feeds) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = module(*(torch.from_numpy(np.ascontiguousarray(feeds[name])) for name in input_names))
        out = out if isinstance(out, tuple) else (out,)
        return {name: value.float().numpy() for name, value in zip(output_names, out)}
    return run


def export_verified(module: torch.nn.Module, examples: Sequence[torch.Tensor], input_names: Sequence[str],
                    output_names: Sequence[str], batches: Sequence[Feeds], *, name: str, opset: int,
                    exporters: Sequence[str] = EXPORTERS, atol: float = 1e-5,
                    log: Callable[[str], None] | None = None) -> VerifiedGraph:
    """Export ``module``; ``name`` (e.g. ``encoder 'conv' (plugin vae)``) is how errors refer to it."""
    from genkit.runtime.sessions import GraphSession

    module.eval()
    reference = torch_outputs(module, input_names, output_names)  # the original, not the rewritten copy
    rewritten, _ = rewrite_module(module)
    notes: list[str] = []
    mismatches = 0
    for exporter in exporters:
        try:
            model = export_module(rewritten, examples, input_names, output_names, opset, exporter)
            fold_crops(model)
            check_structure(model)
            try:
                session = GraphSession(model.SerializeToString(), provider="cpu", source="the exported graph")
            except ExportError as exc:
                raise VerificationFailure(str(exc)) from None
            diff = max_difference(_runner(session), reference, batches)
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


def _runner(session) -> Callable[[Feeds], dict[str, np.ndarray]]:
    """``session.run``, with onnxruntime refusing a batch (a batch size fixed in the graph, say) as a failure."""
    def run(feeds: Feeds) -> dict[str, np.ndarray]:
        try:
            return session.run(feeds)
        except Exception as exc:  # onnxruntime's own exception types
            batch = len(next(iter(feeds.values())))
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            raise VerificationFailure(f"onnxruntime cannot run it on a batch of {batch}: "
                                      f"{' '.join(lines[:2])[:240]}") from None
    return run
