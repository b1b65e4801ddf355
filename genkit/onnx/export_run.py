"""``export_run``: a run folder to a verified export folder (``genkit export --onnx RUN``).

The run's model is loaded, verified on real images of its own dataset (``probe.probe_images``) and
exported through ``genkit.onnx.export_model``, the one export path. Each graph is exported with the
dynamo exporter first and, when that fails or its graph does not match the torch module within
``atol``, with the TorchScript exporter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from genkit.errors import ExportError
from genkit.export_contract import DEFAULT_OPSET, EXPORTERS
from genkit.files.outputs import check_output
from genkit.onnx.export_model import ExportReport, export_model
from genkit.onnx.export_variants import VariantOptions
from genkit.onnx.folder import check_replaceable
from genkit.onnx.probe import prior_probe, probe_images
from genkit.run.checkpoint import load_model, read_config

ATOL = 1e-5
EXPORT_DIR = "onnx"  # the default export folder inside the run folder

__all__ = ["ATOL", "EXPORT_DIR", "ExportReport", "export_run"]


def export_run(run_dir: str | Path, out: str | Path | None = None, *, opset: int = DEFAULT_OPSET,
               exporter: str = "auto", atol: float = ATOL, log: Callable[[str], None] | None = None,
               variants: VariantOptions = VariantOptions()) -> ExportReport:
    """Export ``run_dir`` to ``out`` (default ``RUN/onnx``); ``ExportError`` and no change on any failure.

    ``variants`` asks for fp16/int8 graphs beside the fp32 ones (``genkit.onnx.export_variants``).
    """
    log = log or (lambda line: None)
    if exporter != "auto" and exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose auto, {', '.join(EXPORTERS)}")
    run_dir = Path(run_dir)
    document = read_config(run_dir)
    out = Path(out) if out is not None else run_dir / EXPORT_DIR
    check_output(out, inputs=(run_dir,), what="export", allowed=run_dir / EXPORT_DIR)
    check_replaceable(out)  # before minutes of work, not after
    model = load_model(run_dir).float().eval()
    spec, config = model.spec, model.config
    if model.encoder is None:  # generator-only: its graphs take prior draws, never images
        probe = prior_probe(spec.classes)
    else:
        probe = probe_images(config.data.name, tuple(spec.input_shape), spec.classes)
    log(f"verifying on {probe.source}")
    return export_model(model, out, probe=probe, components=document["components"], recipe=document["recipe"],
                        config=config.to_dict(), opset=opset,
                        exporters=EXPORTERS if exporter == "auto" else (exporter,),
                        atol=atol, log=log, variants=variants)
