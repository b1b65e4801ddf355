"""The variants step of an export: what ``export_model`` calls to add fp16 and int8 graphs to a folder.

Three calls, so that the export path keeps its own order (verify, stage, check, swap in):

    stage = prepare_variants(options, ...)          # build and check the variants, before any write
    ... props = {**fp32_props, **stage.props()}     # every graph file lists the variants written
    stage.write(folder, graph, fp32_model)          # each variant beside its fp32 graph, same metadata
    stage.check(folder)                             # the written variants load through the runtime

With ``precisions`` only fp32 (the default) nothing is built and ``props`` is empty: an fp32 export is
byte for byte what it was before variants existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from genkit.errors import ExportError
from genkit.export_contract import DECODER, ENCODER, GRAPH_FILES
from genkit.onnx.variant_data import VariantSettings, check_data
from genkit.onnx.variants import Variants, build_variants
from genkit.runtime.variants import FP32, PRECISIONS, variant_file


@dataclasses.dataclass(frozen=True)
class VariantOptions:
    """What ``genkit export --precision`` asks for."""

    precisions: tuple[str, ...] = (FP32,)
    accept_loss: float | None = None  # the relative MSE / Fréchet worsening allowed; None: the 2 % default
    settings: VariantSettings = VariantSettings()

    @classmethod
    def parse(cls, precision: str, accept_loss: float | None = None, **settings: Any) -> VariantOptions:
        """``precision`` is one of ``PRECISIONS`` or ``"all"``."""
        if precision == "all":
            chosen = PRECISIONS
        elif precision in PRECISIONS:
            chosen = (precision,)
        else:
            raise ExportError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}, all")
        if accept_loss is not None and not (0.0 <= accept_loss < float("inf")):
            raise ExportError(f"--accept-loss must be a finite non-negative fraction (0.05: 5 %); got {accept_loss}")
        return cls(tuple(chosen), accept_loss, VariantSettings(**settings))

    @property
    def wanted(self) -> bool:
        return any(p != FP32 for p in self.precisions)


class VariantStage:
    """The variants of one export, between building them and writing them."""

    def __init__(self, variants: Variants | None):
        self.variants = variants

    @property
    def rejected(self) -> list[str]:
        return self.variants.rejected if self.variants else []

    @property
    def written(self) -> dict[str, list[str]]:
        """graph -> the precisions written for it (fp32 first)."""
        if not self.variants:
            return {}
        return {g: [FP32, *found] for g, found in self.variants.checks.items()}

    def props(self) -> dict[str, str]:
        return self.variants.props() if self.variants else {}

    def write(self, folder: Path, graph: str, fp32: onnx.ModelProto) -> None:
        """Write ``graph``'s variants beside it, each with ``fp32``'s (final) metadata and its own check."""
        if not self.variants:
            return
        for (name, precision), model in self.variants.models.items():
            if name != graph:
                continue
            del model.metadata_props[:]
            model.metadata_props.extend(fp32.metadata_props)
            for key, value in self.variants.variant_props(graph, precision).items():
                model.metadata_props.add(key=key, value=value)
            model.producer_name, model.producer_version = fp32.producer_name, fp32.producer_version
            (folder / variant_file(GRAPH_FILES[graph], precision)).write_bytes(model.SerializeToString())

    def check(self, folder: Path) -> None:
        """Open the written variants through the torch-free runtime, as ``--precision`` will, and run them."""
        if not self.variants:
            return
        from genkit.runtime import ExportedModel

        for precision in sorted({p for (_, p) in self.variants.models}):
            chosen = {g: precision for (g, p) in self.variants.models if p == precision}
            try:
                exported = ExportedModel(folder, provider="cpu", precision=chosen)
                labels = np.arange(7) % exported.classes if exported.classes else None
                images = exported.generate(7, seed=0, labels=labels)
                codes = np.zeros(1) if exported.generator_only else exported.codes(images, labels)
                if not np.isfinite(images).all() or not np.isfinite(codes).all():
                    raise ExportError("it gives NaN or inf")
            except ExportError as exc:
                raise ExportError(f"the written {precision} variant does not load: {exc}") from None


def prepare_variants(options: VariantOptions, *, fp32: dict[str, onnx.ModelProto], reference: dict[str, Callable],
                     inputs: dict[str, Sequence[str]], code: str, output: str,
                     sample_prior: Callable[[int, int], np.ndarray], dataset: str | None, input_shape: Sequence[int],
                     classes: int, log: Callable[[str], None]) -> VariantStage:
    """Build and check the variants ``options`` asks for of the ``fp32`` encoder and decoder graphs (the decoder
    alone for a generator-only model)."""
    if not options.wanted:
        return VariantStage(None)
    log(f"building {', '.join(p for p in options.precisions if p != FP32)} variants")
    data = check_data(dataset, input_shape, classes, reference, inputs, code, output, sample_prior,
                      options.settings, log)
    graphs = {g: fp32[g] for g in (ENCODER, DECODER) if g in fp32}
    return VariantStage(build_variants(graphs, options.precisions, data, options.accept_loss, log))
