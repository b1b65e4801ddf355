"""``export_run``: a run folder to a verified export folder (encoder.onnx + decoder.onnx).

Each graph is exported with the dynamo exporter first and, when that fails or its graph does not
match the torch module within ``atol``, with the TorchScript exporter. Nothing is written until both
graphs pass; the finished folder is then loaded once more through the torch-free runtime and checked
end to end before it replaces any earlier export.
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
from genkit.checkpoint import load_model, read_config
from genkit.errors import ExportError
from genkit.onnx import metadata as meta
from genkit.onnx.describe import check_outputs, describe_sampler, who
from genkit.onnx.exporter import DEFAULT_OPSET, EXPORTERS, ExporterFailure, export_module
from genkit.onnx.folder import check_replaceable, staged_export, write_graph
from genkit.onnx.probe import Probe, latent_batches, probe_images
from genkit.onnx.verify import VerificationFailure, check_structure, max_difference

ATOL = 1e-5
EXPORT_DIR = "onnx"  # the default export folder inside the run folder


@dataclasses.dataclass
class GraphReport:
    exporter: str
    max_abs_diff: float
    notes: list[str]  # why an exporter tried before this one was not used


@dataclasses.dataclass
class ExportReport:
    out: Path
    graphs: dict[str, GraphReport]
    data: str  # what the graphs were verified on
    real_data: bool
    opset: int
    seconds: float


def export_run(run_dir: str | Path, out: str | Path | None = None, *, opset: int = DEFAULT_OPSET,
               exporter: str = "auto", atol: float = ATOL, log: Callable[[str], None] | None = None) -> ExportReport:
    """Export ``run_dir`` to ``out`` (default ``RUN/onnx``); ``ExportError`` and no change on any failure."""
    started = time.perf_counter()
    log = log or (lambda line: None)
    if exporter != "auto" and exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose auto, {', '.join(EXPORTERS)}")
    run_dir = Path(run_dir)
    document = read_config(run_dir)
    out = Path(out) if out is not None else run_dir / EXPORT_DIR
    check_replaceable(out)  # before minutes of work, not after
    model = load_model(run_dir).float().eval()
    components, spec = document["components"], model.spec
    probe = probe_images(model.config, spec.input_shape)
    log(f"verifying on {probe.source}")

    images = torch.from_numpy(probe.images)
    check_outputs(model, images[:2], components)
    sampler = describe_sampler(model, images[:16], components["sampler"])

    def encode(x: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {k: v.numpy() for k, v in model.encode(torch.from_numpy(x)).items()}

    def decode(z: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {meta.DECODER_OUTPUT: model.decoder(torch.from_numpy(z)).numpy()}

    codes = encode(probe.images[:7])[sampler["code"]]
    prior = sampler["prior"]
    order = EXPORTERS if exporter == "auto" else (exporter,)
    graphs = {
        "encoder": _export_graph("encoder", model.encoder, images[:2], meta.ENCODER_INPUT, spec.parameter_names,
                                 encode, probe.image_batches(), opset, order, atol, components, log),
        "decoder": _export_graph("decoder", model.decoder, torch.from_numpy(codes[:2]), meta.DECODER_INPUT,
                                 (meta.DECODER_OUTPUT,), decode,
                                 latent_batches(np.asarray(prior["mean"]), np.asarray(prior["std"]), codes),
                                 opset, order, atol, components, log),
    }
    shared = dict(format=meta.FORMAT_VERSION, genkit_version=__version__, recipe=document["recipe"],
                  components=components, config=model.config, input_shape=tuple(spec.input_shape),
                  value_range=meta.VALUE_RANGE, latent_size=spec.z_dim, encoder_outputs=tuple(spec.parameter_names),
                  sampler=sampler, opset=opset)
    batches = {"encoder": [len(b) for b in probe.image_batches()],
               "decoder": [len(b) for b in latent_batches(np.zeros(1), np.ones(1), codes)]}
    with staged_export(out) as stage:
        for graph, (proto, report) in graphs.items():
            info = meta.GraphMetadata(
                **shared, graph=graph,
                exporter={"name": report.exporter, "torch": torch.__version__, "onnx": onnx.__version__},
                verification={"max_abs_diff": report.max_abs_diff, "atol": atol, "batches": batches[graph],
                              "data": probe.source, "provider": "CPUExecutionProvider"})
            _set_metadata(proto, info.to_props())
            write_graph(stage, graph, proto.SerializeToString())
        _check_folder(stage, model, probe, prior, atol)
    reports = {graph: report for graph, (_, report) in graphs.items()}
    return ExportReport(out, reports, probe.source, probe.real, opset, time.perf_counter() - started)


def _export_graph(kind: str, module: torch.nn.Module, example: torch.Tensor, input_name: str,
                  output_names: Sequence[str], reference: Callable, batches: list[np.ndarray], opset: int,
                  order: Sequence[str], atol: float, components: dict[str, Any],
                  log: Callable[[str], None]) -> tuple[onnx.ModelProto, GraphReport]:
    """The first exporter in ``order`` whose graph passes every check, or ``ExportError`` naming the component."""
    from genkit.runtime.sessions import GraphSession

    notes: list[str] = []
    for exporter in order:
        try:
            proto = export_module(module, example, input_name, output_names, opset, exporter)
            check_structure(proto)
            try:
                session = GraphSession(proto.SerializeToString(), provider="cpu", source=f"the {kind} graph")
            except ExportError as exc:
                raise VerificationFailure(str(exc)) from None
            diff = max_difference(lambda batch: session.run({input_name: batch}), reference, batches)
            if diff > atol:
                raise VerificationFailure(f"onnxruntime differs from torch by up to {diff:.3g} (> {atol:g})")
        except (ExporterFailure, VerificationFailure) as exc:
            notes.append(f"{exporter}: {exc}")
            log(f"{kind}: the {exporter} exporter failed ({exc})")
            continue
        return proto, GraphReport(exporter, diff, notes)
    raise ExportError(f"{who(kind, components)} cannot be exported to ONNX: {'; '.join(notes)}")


def _set_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    kept = [p for p in proto.metadata_props if not p.key.startswith(meta.PREFIX)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "genkit"
    proto.producer_version = __version__


def _check_folder(stage: Path, model: Any, probe: Probe, prior: dict[str, Any], atol: float) -> None:
    """Load the written folder the way users will (torch-free runtime) and compare end to end."""
    from genkit.runtime import ExportedModel

    try:
        exported = ExportedModel(stage, provider="cpu")
        x = probe.images[:7]
        z = exported.sample_prior(7, seed=0)
        with torch.no_grad():
            want_recon = model.reconstruct(torch.from_numpy(x)).numpy()
            want_gen = model.decoder(torch.from_numpy(z)).numpy()
        diff = max(float(np.abs(exported.reconstruct(x) - want_recon).max()),
                   float(np.abs(exported.decode(z) - want_gen).max()))
    except ExportError as exc:
        raise ExportError(f"the written export does not load: {exc}") from None
    if not diff <= atol:
        raise ExportError(f"the written export reconstructs differently from the torch model "
                          f"(max abs difference {diff:.3g} > {atol:g})")
