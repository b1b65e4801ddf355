"""Turning one torch module into one in-memory ONNX graph, with either of torch's two exporters.

``dynamo`` (``torch.onnx.export(dynamo=True)``, torch.export + onnxscript) is tried first: it is the
exporter torch maintains. It has had numeric and fusion bugs around ConvTranspose and BatchNorm, so the
caller verifies its graph and falls back to ``torchscript`` (``dynamo=False``, the tracing exporter)
when it fails or does not match the torch model. What the exporters print themselves goes to a log
file (``DIAGNOSTICS_LOG``), never to the terminal: the caller reports a failure in one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch

from genkit.export_contract import DEFAULT_OPSET, EXPORTERS

__all__ = ["DEFAULT_OPSET", "EXPORTERS", "ExporterFailure", "export_module", "first_line"]

BATCH_AXIS = "batch"


class ExporterFailure(Exception):
    """One exporter could not produce a graph; the message is its first line of explanation."""


# Where the exporters' own output goes: the TorchScript exporter dumps its whole IR graph when it fails,
# from C++ straight to the process's stderr, and the dynamo exporter prints its progress. None of it is
# for the terminal (a refused opset would be 45 lines); all of it is kept here for whoever debugs one.
DIAGNOSTICS_LOG = Path(tempfile.gettempdir()) / "genkit-onnx-exporter.log"
LOG_LIMIT = 8 * 2**20


@contextlib.contextmanager
def _quiet():
    """Send the exporters' prints, warnings, log lines and C++ output to ``DIAGNOSTICS_LOG``; errors still
    propagate."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
                _diverted_descriptors() as native:
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        _keep(printed.getvalue() + native.getvalue())


class _Captured:
    def __init__(self) -> None:
        self.text = ""

    def getvalue(self) -> str:
        return self.text


@contextlib.contextmanager
def _diverted_descriptors():
    """File descriptors 1 and 2 into a temporary file for the block (what C++ code prints goes there)."""
    captured = _Captured()
    _flush()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # no standard streams to divert
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            _flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


def _flush() -> None:
    """Python's and C's buffered output, so that it lands on the side of the diversion it was written on."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).fflush(None)


def _keep(text: str) -> None:
    """Append the exporters' output to the diagnostics log; a log that cannot be written costs nothing."""
    if not text.strip():
        return
    with contextlib.suppress(OSError):  # started afresh once large: it is for the latest failures
        if DIAGNOSTICS_LOG.stat().st_size > LOG_LIMIT:
            DIAGNOSTICS_LOG.unlink()
    with contextlib.suppress(OSError), open(DIAGNOSTICS_LOG, "a", encoding="utf-8") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} pid {os.getpid()}\n{text.rstrip()}\n")


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
