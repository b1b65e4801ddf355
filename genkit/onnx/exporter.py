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
import re
import tempfile
import warnings
from collections.abc import Sequence

import onnx
import torch

from genkit.export_contract import DEFAULT_OPSET, EXPORTERS

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


def export_module(module: torch.nn.Module, examples: Sequence[torch.Tensor], input_names: Sequence[str],
                  output_names: Sequence[str], opset: int, exporter: str) -> onnx.ModelProto:
    """Export ``module`` (in eval mode) called on ``examples`` to an ONNX model, the batch axis dynamic.

    ``examples`` holds one tensor per input, all with the same batch size. The graph is kept in memory
    with its weights inside it: no external-data side file is written.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    module.eval()
    examples, input_names, output_names = tuple(examples), list(input_names), list(output_names)
    try:
        with _quiet(), torch.no_grad():
            if exporter == "dynamo":
                model = _export_dynamo(module, examples, input_names, output_names, opset)
            else:
                model = _export_torchscript(module, examples, input_names, output_names, opset)
    except Exception as exc:  # both exporters raise a wide range of types for unsupported code
        raise ExporterFailure(_reason(exc)) from exc
    written = graph_opset(model)
    if written != opset:  # the dynamo exporter writes opset 18 when it cannot convert to an older one
        raise ExporterFailure(f"it wrote opset {written}, not the {opset} asked for")
    return model


def graph_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ONNX operator set the graph imports."""
    return next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)


def _export_dynamo(module, examples, input_names, output_names, opset) -> onnx.ModelProto:
    batch = torch.export.Dim(BATCH_AXIS)  # one Dim for every input: their batch sizes are the same
    program = torch.onnx.export(
        module, examples, None, input_names=input_names, output_names=output_names,
        opset_version=opset, dynamo=True, external_data=False, optimize=True, verbose=False,
        dynamic_shapes=tuple({0: batch} for _ in examples),
    )
    return program.model_proto


def _export_torchscript(module, examples, input_names, output_names, opset) -> onnx.ModelProto:
    # Exported into a private scratch folder and read back, so that nothing can land beside the export.
    with tempfile.TemporaryDirectory(prefix="genkit-onnx-") as scratch:
        path = os.path.join(scratch, "graph.onnx")
        axes = {name: {0: BATCH_AXIS} for name in (*input_names, *output_names)}
        torch.onnx.export(module, examples, path, input_names=input_names, output_names=output_names,
                          opset_version=opset, dynamo=False, external_data=False, dynamic_axes=axes,
                          do_constant_folding=True)
        extra = sorted(set(os.listdir(scratch)) - {"graph.onnx"})
        if extra:
            raise ExporterFailure(f"the exporter wrote external data files ({', '.join(extra)})")
        return onnx.load(path, load_external_data=False)


def first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def _reason(exc: BaseException) -> str:
    """The exporter's first line, and its root cause's when the first line is only a generic header."""
    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    head, cause = first_line(exc), first_line(root)
    return head if root is exc or cause in head else f"{head} ({cause})"[:400]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the dynamo exporter colours its messages
