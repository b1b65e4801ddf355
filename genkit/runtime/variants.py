"""Which file of an export folder runs a graph: the fp32 graph or one of its reduced-precision variants.

``genkit export --precision`` writes variants beside the fp32 graphs, one file per graph and precision::

    encoder.onnx        fp32 (always there)
    encoder.fp16.onnx   float16 weights and arithmetic, float32 inputs and outputs (for CUDA)
    encoder.int8.onnx   int8 QDQ graph calibrated on training images (for the CPU)

A variant is written only when it passed its checks, so one graph may have an int8 file and the other
not. ``auto`` picks, per graph, the most compact variant the provider runs well (int8 on the CPU, fp16
on CUDA) and falls back to fp32 where that variant is absent; an explicit precision must exist for
every graph. Torch-free: the runtime imports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from genkit.errors import ExportError

FP32, FP16, INT8 = "fp32", "fp16", "int8"
PRECISIONS = (FP32, FP16, INT8)
CHOICES = ("auto", *PRECISIONS)
# What ``auto`` prefers on each provider. onnxruntime's CPU kernels have no fast float16 path (it casts
# back to float32), and its CUDA provider runs QDQ graphs without int8 kernels for these layers.
PREFERRED = {"cpu": INT8, "cuda": FP16}


def variant_file(graph_file: str, precision: str) -> str:
    """``encoder.onnx`` -> ``encoder.int8.onnx``; the fp32 graph keeps its plain name."""
    check_precision(precision, allow_auto=False)
    if precision == FP32:
        return graph_file
    stem, dot, suffix = graph_file.rpartition(".")
    return f"{stem}.{precision}{dot}{suffix}"


def variant_files(graph_files: dict[str, str]) -> set[str]:
    """Every file name a variant of one of ``graph_files`` may have (what an export folder may hold)."""
    return {variant_file(name, p) for name in graph_files.values() for p in PRECISIONS}


def check_precision(precision: object, allow_auto: bool = True) -> str:
    choices = CHOICES if allow_auto else PRECISIONS
    if precision not in choices:
        raise ExportError(f"unknown precision {precision!r}; choose one of {', '.join(choices)}")
    return str(precision)


def available(path: str | os.PathLike, graph_files: dict[str, str]) -> dict[str, list[str]]:
    """graph -> the precisions whose file is in the folder ``path``."""
    path = Path(path)
    return {graph: [p for p in PRECISIONS if (path / variant_file(name, p)).is_file()]
            for graph, name in graph_files.items()}


def choose(path: str | os.PathLike, graph_files: dict[str, str], precision: str | Mapping[str, str],
           on_cuda: bool) -> dict[str, str]:
    """graph -> the precision to run it in; ``ExportError`` (one line) for an unknown or missing variant.

    ``graph_files`` names the graphs to open (those the export holds). ``precision`` is ``auto``, one of
    ``PRECISIONS`` for every graph, or a mapping graph -> precision (fp32 for a graph it leaves out).
    """
    present = available(path, graph_files)
    if isinstance(precision, Mapping):
        wanted = {graph: check_precision(precision.get(graph, FP32), allow_auto=False) for graph in graph_files}
    elif check_precision(precision) == "auto":
        preferred = PREFERRED["cuda" if on_cuda else "cpu"]
        return {graph: preferred if preferred in found else FP32 for graph, found in present.items()}
    else:
        wanted = dict.fromkeys(graph_files, precision)
    missing = [variant_file(graph_files[g], p) for g, p in wanted.items() if p not in present[g]]
    if missing:
        return _missing(path, " and ".join(missing), "/".join(sorted(set(wanted.values()) - {FP32})) or FP32)
    return wanted


def _missing(path, files: str, precision: str) -> dict[str, str]:
    raise ExportError(f"{path} has no {precision} variant ({files} missing); write it with "
                      f"`genkit export --onnx RUN -o {path} --precision {precision}` or choose another --precision")


def describe(chosen: dict[str, str]) -> str:
    """``"int8"`` when every graph runs in one precision, else ``"encoder int8, decoder fp32"``."""
    values = set(chosen.values())
    if len(values) == 1:
        return values.pop()
    return ", ".join(f"{graph} {precision}" for graph, precision in chosen.items())


def runs_on_cuda(provider: str) -> bool:
    """Whether ``provider`` ("auto", "cpu", "cuda") will run the graphs on CUDA, for ``auto``'s choice."""
    if provider == "cuda":
        return True
    if provider != "auto":
        return False
    from genkit.runtime.sessions import cuda_available

    return cuda_available()
