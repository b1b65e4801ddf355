"""The metadata schema of an exported graph: the one place that defines, writes and reads it (torch-free).

Every key lives in the ONNX model's ``metadata_props`` under the ``genkit.`` prefix and every value is
a JSON document, so any ONNX tool can read it (``onnx.load(p).metadata_props`` or onnxruntime's
``get_modelmeta().custom_metadata_map``). All graphs of one export carry the same *shared* fields;
the *per-graph* fields say which graph it is and how it was made.

======================  =========  ================================================================
key (``genkit.`` + …)   scope      value
======================  =========  ================================================================
``format``              shared     export format version (int, now 2); readers refuse another
``genkit_version``      shared     the genkit version that exported it
``recipe``              shared     recipe name, e.g. ``"vae"``
``components``          shared     per kind (encoder/sampler/decoder/loss): name, class, plugin,
                                   distribution and version (the run's ``config.json`` provenance)
``config``              shared     the run's full validated configuration
``input_shape``         shared     ``[C, H, W]`` of the images the encoder takes
``value_range``         shared     ``[0.0, 1.0]``: the pixel range of the encoder's input and the
                                   decoder's output
``latent_shape``        shared     the shape of one latent point: the decoder's ``z`` and the
                                   encoder's ``latent`` are (N, *latent_shape)
``condition``           shared     ``{"classes": K}``: both graphs take ``labels`` int64 (N,) in
                                   [0, K); ``null`` for an unconditional model
``encoder_outputs``     shared     the encoder graph's outputs in order, ``[{"name", "shape"}]``
                                   (shape without the batch axis): every encoder parameter, then
                                   ``latent``; ``[]`` for a generator-only model, whose export has
                                   no encoder graph
``sampler``             shared     ``{"name", "plugin", "class", "prior"}``: ``prior`` is the prior's
                                   description (``genkit.export_contract.priors``), from which the
                                   runtime draws latent points on the host
``opset``               shared     the ONNX opset every graph imports
``graph``               per graph  ``"encoder"``, ``"decoder"`` or ``"prior"``
``exporter``            per graph  ``{"name": "dynamo" | "torchscript", "torch", "onnx"}``
``verification``        per graph  ``{"max_abs_diff", "atol", "batches", "data", "provider"}``: how the
                                   graph was checked against the torch model before it was written
======================  =========  ================================================================
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from genkit.errors import ExportError
from genkit.export_contract import FORMAT_VERSION, GRAPH_FILES, LATENT, PREFIX, VALUE_RANGE, graphs_of
from genkit.export_contract.priors import PriorDescriptionError, parse_prior

SHARED_FIELDS = ("format", "genkit_version", "recipe", "components", "config", "input_shape", "value_range",
                 "latent_shape", "condition", "encoder_outputs", "sampler", "opset")
GRAPH_FIELDS = ("graph", "exporter", "verification")
REEXPORT = "export the run again"


@dataclasses.dataclass(frozen=True)
class GraphMetadata:
    """One graph's metadata, parsed and checked; fields as in the table above."""

    format: int
    genkit_version: str
    recipe: str
    components: dict[str, Any]
    config: dict[str, Any]
    input_shape: tuple[int, int, int]
    value_range: tuple[float, float]
    latent_shape: tuple[int, ...]
    condition: dict[str, Any] | None
    encoder_outputs: tuple[tuple[str, tuple[int, ...]], ...]  # (name, shape), the last one the latent
    sampler: dict[str, Any]
    opset: int
    graph: str
    exporter: dict[str, Any]
    verification: dict[str, Any]

    @property
    def classes(self) -> int:
        """K of a conditional export, 0 for an unconditional one."""
        return self.condition["classes"] if self.condition else 0

    @property
    def prior(self) -> dict[str, Any]:
        return self.sampler["prior"]

    @property
    def generator_only(self) -> bool:
        """Whether the export is of a model without an encoder (it has no encoder graph)."""
        return not self.encoder_outputs

    @property
    def graphs(self) -> tuple[str, ...]:
        """The graphs this export holds."""
        return graphs_of(self.prior["family"], encoder=not self.generator_only)

    def shared(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SHARED_FIELDS}

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` entries of this graph (JSON values, ``genkit.`` keys)."""
        values = {name: getattr(self, name) for name in SHARED_FIELDS + GRAPH_FIELDS}
        values["encoder_outputs"] = [{"name": n, "shape": list(s)} for n, s in self.encoder_outputs]
        return {PREFIX + name: json.dumps(value, sort_keys=True) for name, value in values.items()}


def encoder_outputs(parameter_shapes: dict[str, tuple[int, ...]] | None, latent_shape: tuple[int, ...]) -> tuple:
    """The ``encoder_outputs`` field: each parameter's (name, shape), then the latent's; empty (None given) for a
    generator-only model."""
    if parameter_shapes is None:
        return ()
    return (*((name, tuple(shape)) for name, shape in parameter_shapes.items()), (LATENT, tuple(latent_shape)))


def from_props(props: dict[str, str], expected_graph: str, source: str) -> GraphMetadata:
    """Parse and check one graph's ``metadata_props``; ``ExportError`` names ``source`` and the field."""
    if PREFIX + "format" not in props:
        raise ExportError(f"{source} is not a genkit export: it has no genkit metadata "
                          f"(export a run with `genkit export --onnx RUN`)")
    values = {"format": _json(props, "format", source)}
    _check_format(values["format"], props, source)
    for name in SHARED_FIELDS + GRAPH_FIELDS:
        if PREFIX + name not in props:
            raise ExportError(f"{source}: metadata {PREFIX}{name} is missing; the graph was not written by genkit "
                              f"or was altered; {REEXPORT}")
        values[name] = _json(props, name, source)
    if values["graph"] != expected_graph:
        raise ExportError(f"{source}: metadata says it is the {values['graph']!r} graph, but it is in the "
                          f"{GRAPH_FILES.get(expected_graph, expected_graph)} file; the export folder was altered")
    _check_fields(values, source)
    values["input_shape"] = tuple(values["input_shape"])
    values["value_range"] = tuple(values["value_range"])
    values["latent_shape"] = tuple(values["latent_shape"])
    values["encoder_outputs"] = tuple((o["name"], tuple(o["shape"])) for o in values["encoder_outputs"])
    return GraphMetadata(**values)


def _json(props: dict[str, str], name: str, source: str) -> Any:
    try:
        return json.loads(props[PREFIX + name])
    except (TypeError, ValueError):
        raise ExportError(f"{source}: metadata {PREFIX}{name} is not valid JSON; {REEXPORT}") from None


def _check_format(fmt: Any, props: dict[str, str], source: str) -> None:
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise ExportError(f"{source}: metadata {PREFIX}format is {fmt!r}, not an export format version")
    try:
        version = json.loads(props.get(PREFIX + "genkit_version", '"?"'))
    except (TypeError, ValueError):
        version = "?"
    if fmt > FORMAT_VERSION:
        raise ExportError(f"{source} has export format {fmt} (genkit {version}); this genkit reads format "
                          f"{FORMAT_VERSION}: upgrade genkit")
    if fmt < FORMAT_VERSION:
        raise ExportError(f"{source} has export format {fmt} (genkit {version}); this genkit reads format "
                          f"{FORMAT_VERSION}: re-export the run with this genkit (`genkit export --onnx RUN`)")


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
    if not _shape(v["input_shape"]) or len(v["input_shape"]) != 3:
        raise bad("input_shape", "[C, H, W] of positive integers")
    if v["value_range"] != list(VALUE_RANGE):
        raise bad("value_range", f"{list(VALUE_RANGE)}")
    if not _shape(v["latent_shape"]) or not v["latent_shape"]:
        raise bad("latent_shape", "a list of positive integers")
    condition = v["condition"]
    if condition is not None and not (isinstance(condition, dict) and set(condition) == {"classes"}
                                      and _positive_int(condition["classes"])):
        raise bad("condition", 'null or {"classes": K} with K a positive integer')
    outputs = v["encoder_outputs"]
    if not (isinstance(outputs, list) and (outputs == [] or len(outputs) >= 2)
            and all(isinstance(o, dict) and set(o) == {"name", "shape"} and isinstance(o["name"], str) and o["name"]
                    and _shape(o["shape"]) for o in outputs)
            and len({o["name"] for o in outputs}) == len(outputs)
            and (outputs == [] or outputs[-1] == {"name": LATENT, "shape": v["latent_shape"]})):
        raise bad("encoder_outputs", f"a list of distinct {{'name', 'shape'}} objects, the encoder's parameters "
                                     f"and then {LATENT!r} of the latent shape (empty for a generator-only model)")
    if not _positive_int(v["opset"]):
        raise bad("opset", "a positive integer")
    if not isinstance(v["sampler"].get("prior"), dict):
        raise bad("sampler", "an object with the prior's description under 'prior'")
    try:
        parse_prior(v["sampler"]["prior"], tuple(v["latent_shape"]))
    except PriorDescriptionError as exc:
        raise ExportError(f"{source}: metadata {PREFIX}sampler describes an unusable prior: {exc}") from None


def check_same_export(parsed: dict[str, GraphMetadata], source: str) -> None:
    """The graphs must come from the same export: every shared field equal."""
    graphs = list(parsed)
    first = parsed[graphs[0]].shared()
    for graph in graphs[1:]:
        other = parsed[graph].shared()
        differing = [name for name in SHARED_FIELDS if first[name] != other[name]]
        if differing:
            detail = ", ".join(f"{name} {first[name]!r:.40} vs {other[name]!r:.40}" for name in differing[:3])
            raise ExportError(f"{source}: {GRAPH_FILES[graphs[0]]} and {GRAPH_FILES[graph]} do not belong to the "
                              f"same export ({detail}); {REEXPORT}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _shape(value: Any) -> bool:
    return isinstance(value, list) and all(_positive_int(d) for d in value)
