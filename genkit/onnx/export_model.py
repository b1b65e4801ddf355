"""``export_model``: a model in memory to a verified export folder — the one export path.

``genkit export`` (``export_run``, from a run folder) and ``genkit.testing``'s parity check
(``check_onnx_parity``, into a scratch folder) both come here, so what a plugin author checks is what
a user gets. The steps:

1. the components keep the export contract (``describe.check_outputs``) and the prior is one the
   runtime samples (``describe.describe_sampler``);
2. each graph of ``wrappers.graph_modules`` is exported and verified against the same module in
   torch on real feeds (``graph.export_verified``): images and labels for the encoder, latent points
   drawn by the runtime's host sampler and the real images' codes for the decoder, drawn and real
   code grids for a network prior's graph;
3. the graphs get their metadata and are written to a staging folder, which is loaded once more
   through the torch-free runtime and checked end to end (reconstruction, generation, and a network
   prior's logits on codes the runtime drew) before it replaces any earlier export.

A generator-only model (no encoder) has no encoder graph and no real images' codes: its decoder (and
a network prior's graph) is verified on prior draws alone, its metadata's ``encoder_outputs`` is empty,
and the end-to-end check compares generation only. Whatever else the model holds (a critic its
players' losses own, say) is never part of a graph: only the modules of ``graph_modules`` are exported.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from genkit import __version__
from genkit.errors import ExportError
from genkit.export_contract import (
    CODES,
    DECODER,
    ENCODER,
    FORMAT_VERSION,
    LABELS,
    LATENT,
    NETWORK_FAMILY,
    PREFIX,
    PRIOR,
    VALUE_RANGE,
    Z,
    graph_inputs,
)
from genkit.export_contract.metadata import GraphMetadata, encoder_outputs
from genkit.onnx.describe import check_outputs, describe_sampler, who
from genkit.onnx.export_variants import VariantOptions, prepare_variants
from genkit.onnx.folder import staged_export, write_graph
from genkit.onnx.graph import VerifiedGraph, export_verified, torch_outputs
from genkit.onnx.probe import Probe, code_feeds, cycle, latent_feeds, nearest_codes
from genkit.onnx.wrappers import graph_modules, output_names
from genkit.runtime.prior import HostPrior


@dataclasses.dataclass
class ExportReport:
    out: Path
    graphs: dict[str, VerifiedGraph]
    data: str  # what the graphs were verified on
    real_data: bool
    opset: int
    seconds: float
    variants: Any = None  # export_variants.VariantStage: the fp16/int8 graphs written and rejected


def export_model(model: Any, out: str | Path, *, probe: Probe, components: dict[str, Any], opset: int,
                 exporters: Sequence[str], atol: float, recipe: str = "", config: dict[str, Any] | None = None,
                 log: Callable[[str], None] | None = None, variants: VariantOptions = VariantOptions()) -> ExportReport:
    """Export ``model`` (a float32 ``GenerativeModel`` in eval mode) to ``out``, verified on ``probe``.

    ``components`` names each part for errors and metadata (a run's ``config.json`` provenance);
    ``ExportError`` and no change to ``out`` on any failure.
    """
    started = time.perf_counter()
    spec = model.spec
    encoding = model.encoder is not None  # False: a generator-only model, verified on prior draws alone
    images = torch.from_numpy(probe.images) if encoding else torch.zeros((2, *spec.input_shape))
    labels = torch.from_numpy(probe.labels) if probe.labels is not None else None
    parameter_shapes = check_outputs(model, images[:2], None if labels is None else labels[:2], components)
    sampler = describe_sampler(model, components.get("sampler") or {})
    network = model.sampler.prior().network if sampler["prior"]["family"] == NETWORK_FAMILY else None
    modules = graph_modules(model, network)
    names = {graph: output_names(graph, tuple(spec.parameter_names)) for graph in modules}
    inputs = {graph: graph_inputs(graph, spec.conditional) for graph in modules}
    host_prior = HostPrior(sampler["prior"], tuple(spec.latent_shape), _numpy(network))

    what = {ENCODER: who("encoder", components), DECODER: who("decoder", components),
            PRIOR: f"{who('sampler', components)}'s prior network"}
    feeds, examples = _feeds(modules, inputs, names, probe, host_prior, network is not None, spec.classes)
    graphs = {graph: export_verified(modules[graph], examples[graph], inputs[graph], names[graph], feeds[graph],
                                     name=what[graph], opset=opset, exporters=exporters, atol=atol, log=log)
              for graph in modules}
    # fp16/int8 variants of the verified graphs, built and checked before anything is written
    coded = tuple(g for g in (ENCODER, DECODER) if g in modules)
    extra = prepare_variants(
        variants, fp32={g: graphs[g].model for g in coded}, inputs=inputs, code=LATENT,
        reference={g: torch_outputs(modules[g], inputs[g], names[g]) for g in coded},
        output=names[DECODER][0], sample_prior=host_prior.sample, input_shape=spec.input_shape, classes=spec.classes,
        dataset=((config or {}).get("data") or {}).get("name"), log=log or (lambda line: None))

    shared = dict(format=FORMAT_VERSION, genkit_version=__version__, recipe=recipe, components=components,
                  config=config or {}, input_shape=tuple(spec.input_shape), value_range=VALUE_RANGE,
                  latent_shape=tuple(spec.latent_shape),
                  condition={"classes": spec.classes} if spec.conditional else None,
                  encoder_outputs=encoder_outputs(parameter_shapes, tuple(spec.latent_shape)), sampler=sampler,
                  opset=opset)
    with staged_export(out) as stage:
        for graph, report in graphs.items():
            info = GraphMetadata(
                **shared, graph=graph,
                exporter={"name": report.exporter, "torch": torch.__version__, "onnx": onnx.__version__},
                verification={"max_abs_diff": report.max_abs_diff, "atol": atol, "provider": "CPUExecutionProvider",
                              "batches": [len(next(iter(f.values()))) for f in feeds[graph]], "data": probe.source})
            _set_metadata(report.model, {**info.to_props(), **extra.props()})
            write_graph(stage, graph, report.model.SerializeToString())
            extra.write(stage, graph, report.model)
        _check_folder(stage, model, probe, atol, network)
        extra.check(stage)
    return ExportReport(Path(out), graphs, probe.source, probe.real, opset, time.perf_counter() - started, extra)


def _feeds(modules: dict[str, Any], inputs: dict[str, tuple[str, ...]], names: dict[str, tuple[str, ...]],
           probe: Probe, host_prior: HostPrior, network: bool, classes: int) -> tuple[dict, dict]:
    """Each graph's verification feeds and its two-row tracing example.

    With an encoder: real images for it, prior draws and the real images' codes for the decoder, drawn and
    real code grids for a network prior. Without one (a generator-only model): prior draws only.
    """
    latent = None
    feeds, examples = {}, {}
    if ENCODER in modules:
        feeds[ENCODER] = probe.image_feeds()
        latent = torch_outputs(modules[ENCODER], inputs[ENCODER], names[ENCODER])(feeds[ENCODER][-1])[LATENT]
        examples[ENCODER] = tuple(torch.from_numpy(a[:2]) for a in (probe.images, probe.labels) if a is not None)
    feeds[DECODER] = latent_feeds(host_prior, _first(latent, 7), _first(probe.labels, 7), classes)
    # the real images' first two codes and labels, or (without an encoder) the prior draw of 2 points and its labels
    example = (latent[:2], _first(probe.labels, 2)) if latent is not None else \
        (feeds[DECODER][1][Z], feeds[DECODER][1].get(LABELS))
    examples[DECODER] = tuple(torch.from_numpy(a) for a in example if a is not None)
    if network:
        real_codes = None if latent is None else nearest_codes(latent, host_prior.parsed["codebook"])
        feeds[PRIOR] = code_feeds(host_prior, real_codes)
        examples[PRIOR] = (torch.from_numpy(feeds[PRIOR][1][CODES] if real_codes is None else real_codes[:2]),)
    return feeds, examples


def _first(array: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if array is None else array[:n]


def _numpy(network: torch.nn.Module | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """A prior network as the host sampler calls it: int64 codes in, float32 logits out."""
    if network is None:
        return None

    def run(codes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(codes)).float().numpy()
    return run


def _set_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    kept = [p for p in proto.metadata_props if not p.key.startswith(PREFIX)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "genkit"
    proto.producer_version = __version__


def _check_folder(stage: Path, model: Any, probe: Probe, atol: float, network: torch.nn.Module | None) -> None:
    """Load the written folder the way users will (torch-free runtime) and compare end to end: reconstruction
    and generation, or generation alone for a generator-only model."""
    from genkit.runtime import ExportedModel

    try:
        exported = ExportedModel(stage, provider="cpu")
        if exported.generator_only != (model.encoder is None):
            raise ExportError("its graphs do not say whether the model has an encoder")
        x, y = probe.images[:7], _first(probe.labels, 7)
        drawn_labels = cycle(7, model.spec.classes)
        z = exported.sample_prior(7, seed=0)
        with torch.no_grad():
            diffs = [(exported.decode(z, drawn_labels),
                      model.decoder(torch.from_numpy(z), *model.condition(_tensor(drawn_labels))))]
            if model.encoder is not None:
                diffs.append((exported.reconstruct(x, y), model.reconstruct(torch.from_numpy(x), _tensor(y))))
            if network is not None:  # the runtime's sampler and the torch network, on the same drawn code grids
                codes = exported.sample_codes(7, seed=0)
                diffs.append((exported.prior_logits(codes), network(torch.from_numpy(codes))))
        diff = max(float(np.abs(got - want.float().numpy()).max()) for got, want in diffs)
    except ExportError as exc:
        raise ExportError(f"the written export does not load: {exc}") from None
    if not diff <= atol:
        raise ExportError(f"the written export computes differently from the torch model "
                          f"(max abs difference {diff:.3g} > {atol:g})")


def _tensor(array: np.ndarray | None) -> torch.Tensor | None:
    return None if array is None else torch.from_numpy(array)
