"""ONNX parity for plugin authors: does my model export and compute there what it computes in torch?

    from genkit.onnx.parity import check_onnx_parity      # also re-exported by genkit.testing

    def test_my_recipe_exports():
        model = genkit.contract.model.build_model(config)           # or genkit.load(run)
        check_onnx_parity(model, images)                   # AssertionError naming what differs

It is ``genkit export --onnx`` on a model in memory: the same ``export_model`` (the same graph
modules, checks, metadata and end-to-end reload through the torch-free runtime), written into a
scratch folder that is removed afterwards.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genkit.contract.registry import COMPONENT_KINDS
from genkit.errors import ExportError
from genkit.export_contract import DEFAULT_OPSET, EXPORTERS
from genkit.onnx.export_model import export_model
from genkit.onnx.probe import given_probe


def check_onnx_parity(model: Any, images: Any = None, atol: float = 1e-5, *, labels: Any = None,
                      opset: int = DEFAULT_OPSET, exporters: tuple[str, ...] = EXPORTERS) -> dict[str, Any]:
    """Export ``model`` as ``genkit export`` would and compare onnxruntime with torch on ``images``.

    ``model`` is a ``GenerativeModel``; ``images`` a float (N, C, H, W) tensor or array in [0, 1]
    (default: 7 seeded uniform images); ``labels`` int64 (N,) for a conditional model (default: the
    classes in turn). Returns ``{graph: {"exporter", "max_abs_diff"}}`` for the encoder, the decoder
    and a network prior's graph; raises ``AssertionError`` with the component's name and the largest
    difference (or the exporters' errors) when any check fails.
    """
    spec = model.spec
    if images is None:
        images = torch.rand(7, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    x = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels
    probe = given_probe(x, y, spec.classes, f"{len(x)} images given to check_onnx_parity")
    config = getattr(model, "config", None)
    was_training = model.training
    model.eval()
    try:
        with tempfile.TemporaryDirectory(prefix="genkit-parity-") as scratch:
            report = export_model(model, Path(scratch) / "export", probe=probe, components=_components(model),
                                  recipe=config.recipe if config else "", config=config.to_dict() if config else {},
                                  opset=opset, exporters=tuple(exporters), atol=atol)
    except ExportError as exc:
        raise AssertionError(str(exc)) from None
    finally:
        model.train(was_training)
    return {graph: {"exporter": g.exporter, "max_abs_diff": g.max_abs_diff} for graph, g in report.graphs.items()}


def _components(model: Any) -> dict[str, Any]:
    """Each part's registered name (its class name when the model has no configuration) and class."""
    config = getattr(model, "config", None)
    out = {}
    for kind in COMPONENT_KINDS:
        if getattr(model, kind) is None:  # the encoder of a generator-only model
            continue
        cls = type(getattr(model, kind))
        name = getattr(config.model, kind) if config else cls.__name__
        out[kind] = {"name": name, "class": f"{cls.__module__}.{cls.__qualname__}"}
    return out
