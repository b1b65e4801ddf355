"""ONNX parity for plugin authors: do my encoder and decoder export and compute what torch computes?

    from genkit.onnx.parity import check_onnx_parity      # also re-exported by genkit.testing

    def test_my_recipe_exports():
        model = genkit.model.build_model(config)           # or genkit.load(run)
        check_onnx_parity(model, images)                   # AssertionError naming what differs

It runs the same exporters and checks as ``genkit export --onnx`` (checker, no random node,
onnxruntime on the CPU against torch) in memory, writing nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genkit.errors import ExportError
from genkit.onnx.exporter import DEFAULT_OPSET, EXPORTERS
from genkit.onnx.graph import export_verified


def check_onnx_parity(model: Any, images: Any = None, atol: float = 1e-5, *, opset: int = DEFAULT_OPSET,
                      exporters: tuple[str, ...] = EXPORTERS) -> dict[str, Any]:
    """Export ``model``'s encoder and decoder and compare onnxruntime with torch on ``images``.

    ``model`` is a ``GenerativeModel``; ``images`` a float (N, C, H, W) tensor or array in [0, 1]
    (default: 7 seeded uniform images). The decoder is checked on the images' encoder outputs. Returns
    ``{"encoder": {"exporter", "max_abs_diff"}, "decoder": {...}}``; raises ``AssertionError`` with the
    component's name and the largest difference (or the exporters' errors) when either graph fails.
    """
    spec = model.spec
    if images is None:
        images = torch.rand(7, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float().cpu()
    was_training = model.training
    model.eval()
    try:
        return _check(model, x, atol, opset, tuple(exporters))
    finally:
        model.train(was_training)


def _check(model: Any, x: torch.Tensor, atol: float, opset: int, exporters: tuple[str, ...]) -> dict[str, Any]:
    spec = model.spec

    def encode(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {k: v.numpy() for k, v in model.encode(torch.from_numpy(batch)).items()}

    def decode(z: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {"images": model.decoder(torch.from_numpy(z)).numpy()}

    images = x.numpy()
    params = encode(images)
    batches = [images[:1], images] if len(images) > 1 else [images]
    latents = [np.ascontiguousarray(v) for v in params.values()]
    results = {}
    for kind, module, example, input_name, outputs, reference, data in (
        ("encoder", model.encoder, x[:2], "images", spec.parameter_names, encode, batches),
        ("decoder", model.decoder, torch.from_numpy(latents[0][:2]), "z", ("images",), decode, latents),
    ):
        name = f"{kind} {type(module).__name__}"
        try:
            graph = export_verified(module, example, input_name, outputs, reference, data, name=name,
                                    opset=opset, exporters=exporters, atol=atol)
        except ExportError as exc:
            raise AssertionError(str(exc)) from None
        results[kind] = {"exporter": graph.exporter, "max_abs_diff": graph.max_abs_diff}
    return results
