"""``export_run``: a run folder to a verified export folder (encoder.onnx + decoder.onnx).

Each graph is exported with the dynamo exporter first and, when that fails or its graph does not
match the torch module within ``atol``, with the TorchScript exporter. Nothing is written until both
graphs pass; the finished folder is then loaded once more through the torch-free runtime and checked
end to end before it replaces any earlier export.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
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
from genkit.onnx.exporter import DEFAULT_OPSET, EXPORTERS
from genkit.onnx.folder import check_replaceable, staged_export, write_graph
from genkit.onnx.graph import VerifiedGraph, export_verified
from genkit.onnx.probe import Probe, latent_batches, probe_images
from genkit.outputs import check_output

ATOL = 1e-5
EXPORT_DIR = "onnx"  # the default export folder inside the run folder


@dataclasses.dataclass
class ExportReport:
    out: Path
    graphs: dict[str, VerifiedGraph]
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
    check_output(out, inputs=(run_dir,), what="export", allowed=run_dir / EXPORT_DIR)
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
    options = dict(opset=opset, exporters=order, atol=atol, log=log)
    latents = latent_batches(np.asarray(prior["mean"]), np.asarray(prior["std"]), codes)
    graphs = {
        "encoder": export_verified(model.encoder, images[:2], meta.ENCODER_INPUT, spec.parameter_names, encode,
                                   probe.image_batches(), name=who("encoder", components), **options),
        "decoder": export_verified(model.decoder, torch.from_numpy(codes[:2]), meta.DECODER_INPUT,
                                   (meta.DECODER_OUTPUT,), decode, latents, name=who("decoder", components),
                                   **options),
    }
    shared = dict(format=meta.FORMAT_VERSION, genkit_version=__version__, recipe=document["recipe"],
                  components=components, config=model.config, input_shape=tuple(spec.input_shape),
                  value_range=meta.VALUE_RANGE, latent_size=spec.z_dim, encoder_outputs=tuple(spec.parameter_names),
                  sampler=sampler, opset=opset)
    batches = {"encoder": [len(b) for b in probe.image_batches()], "decoder": [len(b) for b in latents]}
    with staged_export(out) as stage:
        for graph, report in graphs.items():
            info = meta.GraphMetadata(
                **shared, graph=graph,
                exporter={"name": report.exporter, "torch": torch.__version__, "onnx": onnx.__version__},
                verification={"max_abs_diff": report.max_abs_diff, "atol": atol, "batches": batches[graph],
                              "data": probe.source, "provider": "CPUExecutionProvider"})
            _set_metadata(report.model, info.to_props())
            write_graph(stage, graph, report.model.SerializeToString())
        _check_folder(stage, model, probe, atol)
    return ExportReport(out, graphs, probe.source, probe.real, opset, time.perf_counter() - started)


def _set_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    kept = [p for p in proto.metadata_props if not p.key.startswith(meta.PREFIX)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "genkit"
    proto.producer_version = __version__


def _check_folder(stage: Path, model: Any, probe: Probe, atol: float) -> None:
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
