"""An export folder is checked against what its graphs do, not only against what its metadata says.

Metadata is text anyone can edit, and a file is what its name says only if nobody renamed one. So,
when an export is opened:

- a conditional export's decoder must take exactly the classes its metadata names: the last class
  must be one the graph knows, and the first label past it must be one it does not (a one-hot graph
  gives the same image for every label it does not know, an embedding refuses them);
- a variant file must hold what its name and its ``genkit.precision`` metadata say: quantised
  operators or int8 weights in an int8 file, float16 weights in an fp16 one, neither in the fp32 graph;
- the prior description must agree with the files beside it: a prior graph only for a network prior;
- an encoder graph only where the metadata describes an encoder (not beside a generator-only model's);
- an export written by a newer genkit gets one warning line, as a run folder from one does.

Torch-free, like the rest of the runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from genkit.errors import ExportError
from genkit.export_contract import ENCODER, GRAPH_FILES, LABELS, NETWORK_FAMILY, PRIOR, Z
from genkit.export_contract.metadata import GraphMetadata
from genkit.runtime.graph_contents import MalformedGraph, graph_contents
from genkit.runtime.variants import FP16, FP32, INT8, variant_file
from genkit.versions import warn_if_newer

REEXPORT = "export the run again"
QUANTISED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
                 "ConvInteger", "MatMulInteger", "QGemm"}
INT8_TYPES, FLOAT16_TYPE = {2, 3}, 10  # onnx.TensorProto.UINT8, INT8; FLOAT16


def check_export(folder: Path, meta: GraphMetadata, sessions: dict[str, Any], precisions: dict[str, str]) -> None:
    """Every check of the module docstring, on an export whose graphs are open as ``sessions``."""
    check_prior_files(folder, meta)
    for graph, precision in precisions.items():
        check_variant(folder / variant_file(GRAPH_FILES[graph], precision), precision,
                      sessions[graph].metadata_props())
    if meta.classes:
        check_classes(sessions["decoder"], meta, str(folder / variant_file(GRAPH_FILES["decoder"],
                                                                           precisions.get("decoder", FP32))))
    warn_if_newer(str(folder), meta.genkit_version, f"its graphs are read as export format {meta.format}")


def check_prior_files(folder: Path, meta: GraphMetadata) -> None:
    """A prior graph beside a prior family that has none: the description was edited, or the file is stray."""
    family = meta.prior["family"]
    if family != NETWORK_FAMILY and (folder / GRAPH_FILES[PRIOR]).exists():
        raise ExportError(f"{folder} holds {GRAPH_FILES[PRIOR]}, but its metadata describes a {family} prior, which "
                          f"has no prior graph: the metadata or the folder was altered; {REEXPORT}")


def check_encoder_file(folder: Path, meta: GraphMetadata, present: bool) -> None:
    """An encoder graph beside metadata of a generator-only model: the metadata was edited, or the file is stray."""
    if meta.generator_only and present:
        raise ExportError(f"{folder} holds {GRAPH_FILES[ENCODER]}, but its metadata describes a generator-only model, "
                          f"which has no encoder: the metadata or the folder was altered; {REEXPORT}")


def check_variant(path: Path, precision: str, props: dict[str, str]) -> None:
    """The graph in ``path`` must be the ``precision`` its file name says, by its metadata and its weights."""
    try:
        recorded = json.loads(props.get("genkit.precision", "null"))
    except ValueError:
        recorded = "unreadable"
    claimed = recorded.get("name") if isinstance(recorded, dict) else recorded
    if (claimed or FP32) != precision:
        raise ExportError(f"{path}: its metadata says it is the {claimed or FP32} graph, not the {precision} one "
                          f"its name says; {REEXPORT}")
    found = graph_precision(path)
    if found != precision:
        raise ExportError(f"{path} is named and described as {precision}, but its graph holds {found} weights "
                          f"(the file was replaced or renamed); {REEXPORT}")


def graph_precision(path: Path) -> str:
    """What the graph's weights are: int8 (quantised operators or int8 weights), fp16 or fp32."""
    try:
        ops, types = graph_contents(path)
    except (OSError, MalformedGraph) as exc:
        raise ExportError(f"{path} cannot be read as an ONNX graph ({exc}); {REEXPORT}") from None
    if ops & QUANTISED_OPS or types & INT8_TYPES:
        return INT8
    return FP16 if FLOAT16_TYPE in types else FP32


def check_classes(decoder: Any, meta: GraphMetadata, source: str) -> None:
    """The decoder must tell label ``classes - 1`` apart from ``classes``, and ``classes`` from ``classes + 1``.

    A graph that knows K classes either rejects a label >= K (an embedding) or treats every such label
    alike (a one-hot with K columns: all zeros); a graph whose metadata names more classes than it
    knows shows it at the last declared class, one that names fewer between the next two labels.
    """
    classes = meta.classes
    z = np.zeros((1, *meta.latent_shape), np.float32)
    last = _decode(decoder, z, classes - 1)
    if last is None:
        raise _mismatch(source, classes, f"it refuses label {classes - 1}")
    beyond, further = _decode(decoder, z, classes), _decode(decoder, z, classes + 1)
    if beyond is not None and np.array_equal(last, beyond):
        raise _mismatch(source, classes, f"labels {classes - 1} and {classes} give the same image")
    if beyond is not None and further is not None and not np.array_equal(beyond, further):
        raise _mismatch(source, classes, f"it tells labels {classes} and {classes + 1} apart")


def _decode(decoder: Any, z: np.ndarray, label: int) -> np.ndarray | None:
    try:
        return decoder.run({Z: z, LABELS: np.array([label], np.int64)})["images"]
    except Exception:  # onnxruntime's own error types: the graph does not take this label
        return None


def _mismatch(source: str, classes: int, evidence: str) -> ExportError:
    return ExportError(f"{source}: its metadata says {classes} classes, but the graph does not take them ({evidence}); "
                       f"the metadata was edited; {REEXPORT}")
