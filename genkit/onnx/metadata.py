"""The metadata schema of an exported graph: the one place that defines, writes and reads it.

Every key lives in the ONNX model's ``metadata_props`` under the ``genkit.`` prefix and every value is
a JSON document, so any ONNX tool can read it (``onnx.load(p).metadata_props`` or onnxruntime's
``get_modelmeta().custom_metadata_map``). Both graphs of one export carry the same *shared* fields;
the *per-graph* fields say which graph it is and how it was made.

======================  =========  ================================================================
key (``genkit.`` + …)   scope      value
======================  =========  ================================================================
``format``              shared     export format version (int); readers refuse a newer one
``genkit_version``      shared     the genkit version that exported it
``recipe``              shared     recipe name, e.g. ``"vae"``
``components``          shared     per kind (encoder/sampler/decoder/loss): name, class, plugin,
                                   distribution and version (the run's ``config.json`` provenance)
``config``              shared     the run's full validated configuration
``input_shape``         shared     ``[C, H, W]`` of the images the encoder takes
``value_range``         shared     ``[0.0, 1.0]``: the pixel range of the encoder's input and the
                                   decoder's output
``latent_size``         shared     z_dim: the decoder's input width and each encoder output's width
``encoder_outputs``     shared     the encoder graph's output names, in order (``["mu", "log_var"]``)
``sampler``             shared     ``{"name", "plugin", "code", "prior"}``: ``code`` names the encoder
                                   output that is the deterministic latent code (``mu`` for a
                                   Gaussian sampler, ``code`` for a deterministic one); ``prior`` is
                                   ``{"family": "diagonal-gaussian", "mean": [...], "std": [...]}``
                                   from which the runtime draws latent points on the host
``opset``               shared     the ONNX opset asked for, which both graphs import (export fails
                                   rather than write another)
``graph``               per graph  ``"encoder"`` or ``"decoder"``
``exporter``            per graph  ``{"name": "dynamo" | "torchscript", "torch": version}``
``verification``        per graph  ``{"max_abs_diff", "atol", "batches", "data"}``: how the graph was
                                   checked against the torch model before it was written
======================  =========  ================================================================

This module imports neither torch nor onnx: the torch-free runtime reads exports with it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from genkit.errors import ExportError

FORMAT_VERSION = 1
PREFIX = "genkit."
EXPORTERS = ("dynamo", "torchscript")  # the values of exporter.name, in the order export tries them
DEFAULT_OPSET = 20  # supported by both exporters and by onnxruntime 1.17 and later
GRAPHS = ("encoder", "decoder")
PRIOR_FAMILY = "diagonal-gaussian"
VALUE_RANGE = (0.0, 1.0)
ENCODER_INPUT = "images"
DECODER_INPUT = "z"
DECODER_OUTPUT = "images"

SHARED_FIELDS = ("format", "genkit_version", "recipe", "components", "config", "input_shape", "value_range",
                 "latent_size", "encoder_outputs", "sampler", "opset")
GRAPH_FIELDS = ("graph", "exporter", "verification")


@dataclasses.dataclass(frozen=True)
class GraphMetadata:
    """One graph's metadata, parsed and checked; ``shared`` and ``graph`` fields as in the table above."""

    format: int
    genkit_version: str
    recipe: str
    components: dict[str, Any]
    config: dict[str, Any]
    input_shape: tuple[int, int, int]
    value_range: tuple[float, float]
    latent_size: int
    encoder_outputs: tuple[str, ...]
    sampler: dict[str, Any]
    opset: int
    graph: str
    exporter: dict[str, Any]
    verification: dict[str, Any]

    def shared(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SHARED_FIELDS}

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` entries of this graph (JSON values, ``genkit.`` keys)."""
        values = {name: getattr(self, name) for name in SHARED_FIELDS + GRAPH_FIELDS}
        return {PREFIX + name: json.dumps(value, sort_keys=True) for name, value in values.items()}


def from_props(props: dict[str, str], expected_graph: str, source: str) -> GraphMetadata:
    """Parse and check one graph's ``metadata_props``; ``ExportError`` names ``source`` and the field."""
    if PREFIX + "format" not in props:
        raise ExportError(f"{source} is not a genkit export: it has no genkit metadata "
                          f"(export a run with `genkit export --onnx RUN`)")
    values: dict[str, Any] = {}
    for name in SHARED_FIELDS + GRAPH_FIELDS:
        key = PREFIX + name
        if key not in props:
            raise ExportError(f"{source}: metadata {key} is missing; the graph was not written by genkit "
                              f"or was altered; export the run again")
        try:
            values[name] = json.loads(props[key])
        except (TypeError, ValueError):
            raise ExportError(f"{source}: metadata {key} is not valid JSON; export the run again") from None
    fmt = values["format"]
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise ExportError(f"{source}: metadata {PREFIX}format is {fmt!r}, not an export format version")
    if fmt > FORMAT_VERSION:
        raise ExportError(f"{source} has export format {fmt} (genkit {values['genkit_version']}); this genkit "
                          f"reads format {FORMAT_VERSION} or older: upgrade genkit")
    if values["graph"] != expected_graph:
        raise ExportError(f"{source}: metadata says it is the {values['graph']!r} graph, but it is in the "
                          f"{expected_graph} file; the export folder was altered")
    _check_fields(values, source)
    values["input_shape"] = tuple(values["input_shape"])
    values["value_range"] = tuple(values["value_range"])
    values["encoder_outputs"] = tuple(values["encoder_outputs"])
    return GraphMetadata(**values)


def _check_fields(v: dict[str, Any], source: str) -> None:
    def bad(name: str, want: str) -> ExportError:
        got = "" if isinstance(v[name], dict) else f"; got {json.dumps(v[name])[:80]}"
        return ExportError(f"{source}: metadata {PREFIX}{name} must be {want}{got}")

    for name in ("genkit_version", "recipe"):
        if not isinstance(v[name], str):
            raise bad(name, "a string")
    for name in ("components", "config", "sampler", "exporter", "verification"):
        if not isinstance(v[name], dict):
            raise bad(name, "a JSON object")
    shape = v["input_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(_positive_int(d) for d in shape)):
        raise bad("input_shape", "[C, H, W] of positive integers")
    if v["value_range"] != list(VALUE_RANGE):
        raise bad("value_range", f"{list(VALUE_RANGE)}")
    if not _positive_int(v["latent_size"]):
        raise bad("latent_size", "a positive integer")
    outputs = v["encoder_outputs"]
    if not (isinstance(outputs, list) and outputs and all(isinstance(o, str) and o for o in outputs)
            and len(set(outputs)) == len(outputs)):
        raise bad("encoder_outputs", "a list of distinct output names")
    if not _positive_int(v["opset"]):
        raise bad("opset", "a positive integer")
    sampler = v["sampler"]
    if sampler.get("code") not in outputs:
        raise bad("sampler", f"an object whose 'code' is one of the encoder outputs {outputs}")
    prior = sampler.get("prior")
    size = v["latent_size"]
    if not (isinstance(prior, dict) and prior.get("family") == PRIOR_FAMILY
            and _floats(prior.get("mean"), size) and _floats(prior.get("std"), size)
            and all(s >= 0 for s in prior["std"])):
        raise bad("sampler", f"an object whose 'prior' is a {PRIOR_FAMILY} with {size} means and {size} "
                             f"non-negative stds")


def check_pair(encoder: GraphMetadata, decoder: GraphMetadata, source: str) -> None:
    """The two graphs must come from the same export: every shared field equal."""
    a, b = encoder.shared(), decoder.shared()
    differing = [name for name in SHARED_FIELDS if a[name] != b[name]]
    if differing:
        detail = ", ".join(f"{name} {a[name]!r:.40} vs {b[name]!r:.40}" for name in differing[:3])
        raise ExportError(f"{source}: encoder.onnx and decoder.onnx do not belong to the same export "
                          f"({detail}); export the run again")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _floats(values: Any, size: int) -> bool:
    return (isinstance(values, list) and len(values) == size
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in values))
