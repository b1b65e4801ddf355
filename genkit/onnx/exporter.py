"""Turning one torch module into one in-memory ONNX graph, with either of torch's two exporters.

``dynamo`` (``torch.onnx.export(dynamo=True)``, torch.export + onnxscript) is tried first: it is the
exporter torch maintains. It has had numeric and fusion bugs around ConvTranspose and BatchNorm, so the
caller verifies its graph and falls back to ``torchscript`` (``dynamo=False``, the tracing exporter)
when it fails or does not match the torch model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence

import onnx
import torch

from genkit.onnx.metadata import DEFAULT_OPSET, EXPORTERS

__all__ = ["DEFAULT_OPSET", "EXPORTERS", "ExporterFailure", "export_module", "first_line"]

BATCH_AXIS = "batch"


class ExporterFailure(Exception):
    """One exporter could not produce a graph; the message is its first line of explanation."""


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress prints, warnings and log lines; errors still propagate."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_module(module: torch.nn.Module, example: torch.Tensor, input_name: str, output_names: Sequence[str],
                  opset: int, exporter: str) -> onnx.ModelProto:
    """Export ``module`` (in eval mode) called on ``example`` (batch axis dynamic) to an ONNX model.

    The graph is kept in memory with its weights inside it: no external-data side file is written.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    module.eval()
    try:
        with _quiet(), torch.no_grad():
            if exporter == "dynamo":
                model = _export_dynamo(module, example, input_name, output_names, opset)
            else:
                model = _export_torchscript(module, example, input_name, output_names, opset)
    except Exception as exc:  # both exporters raise a wide range of types for unsupported code
        raise ExporterFailure(first_line(exc)) from exc
    written = graph_opset(model)
    if written != opset:  # the dynamo exporter writes opset 18 when it cannot convert to an older one
        raise ExporterFailure(f"it wrote opset {written}, not the {opset} asked for")
    return model


def graph_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ONNX operator set the graph imports."""
    return next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)


def _export_dynamo(module, example, input_name, output_names, opset) -> onnx.ModelProto:
    program = torch.onnx.export(
        module, (example,), None, input_names=[input_name], output_names=list(output_names),
        opset_version=opset, dynamo=True, external_data=False, optimize=True, verbose=False,
        dynamic_shapes=({0: torch.export.Dim(BATCH_AXIS)},),
    )
    return program.model_proto


def _export_torchscript(module, example, input_name, output_names, opset) -> onnx.ModelProto:
    # Exported into a private scratch folder and read back, so that nothing can land beside the export.
    with tempfile.TemporaryDirectory(prefix="genkit-onnx-") as scratch:
        path = os.path.join(scratch, "graph.onnx")
        axes = {name: {0: BATCH_AXIS} for name in (input_name, *output_names)}
        torch.onnx.export(module, (example,), path, input_names=[input_name], output_names=list(output_names),
                          opset_version=opset, dynamo=False, external_data=False, dynamic_axes=axes,
                          do_constant_folding=True)
        extra = sorted(set(os.listdir(scratch)) - {"graph.onnx"})
        if extra:
            raise ExporterFailure(f"the exporter wrote external data files ({', '.join(extra)})")
        return onnx.load(path, load_external_data=False)


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."
