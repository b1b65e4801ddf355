"""The export-time ConvTranspose rewrites: exact, applied only where they pay, and visible in the graphs."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from genkit.onnx.conv_transpose import ConvTransposeAsConv, fold_crops, rewrite_module
from genkit.onnx.exporter import export_module
from genkit.runtime.sessions import GraphSession
from genkit_plugins.vae.keras_compat import CropEnd2d


@pytest.mark.parametrize(("kernel", "padding", "output_padding"),
                         [(k, p, op) for k, p, op in itertools.product((1, 2, 3, 5), (0, 1, 2), (0,)) if p < k]
                         + [(3, 1, 0), (3, 0, 0), (4, 3, 0)])
def test_a_stride_one_transposed_convolution_is_the_same_as_its_conv(kernel, padding, output_padding):
    torch.manual_seed(kernel * 10 + padding)
    layer = nn.ConvTranspose2d(3, 5, kernel, 1, padding, output_padding)
    x = torch.randn(2, 3, 9, 7)
    expected = layer(x)
    got = ConvTransposeAsConv(layer)(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)


def test_only_stride_one_layers_with_enough_output_channels_are_rewritten():
    model = nn.Sequential(nn.ConvTranspose2d(4, 16, 3, 1, 1), nn.ConvTranspose2d(16, 16, 3, 2, 0, 1),
                          nn.ConvTranspose2d(16, 1, 3, 1, 1))
    rewritten, count = rewrite_module(model)
    assert count == 1
    assert [type(m).__name__ for m in rewritten] == ["ConvTransposeAsConv", "ConvTranspose2d", "ConvTranspose2d"]
    assert all(isinstance(m, nn.ConvTranspose2d) for m in model)  # the original is untouched
    x = torch.randn(2, 4, 6, 6)
    assert torch.allclose(rewritten(x), model(x), atol=1e-5, rtol=0)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


def _session_output(model: onnx.ModelProto, x: torch.Tensor) -> np.ndarray:
    session = GraphSession(model.SerializeToString(), provider="cpu", source="test graph")
    return session.run({"x": x.numpy()})["y"]


def test_a_crop_after_a_strided_transposed_convolution_folds_into_its_pads():
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(8, 4, 3, 2, 0, 1), CropEnd2d(2)).eval()
    x = torch.randn(3, 8, 7, 7)
    graph = export_module(model, (x[:2],), ["x"], ["y"], 18, "dynamo")
    assert "Pad" in _ops(graph)
    assert fold_crops(graph) == 1
    onnx.checker.check_model(graph, full_check=True)
    assert "Pad" not in _ops(graph)
    with torch.no_grad():
        expected = model(x).numpy()
    got = _session_output(graph, x)
    assert got.shape == expected.shape == (3, 4, 14, 14)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


class _PadAfter(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.ConvTranspose2d(4, 4, 3, 2)

    def forward(self, x):
        return torch.nn.functional.pad(self.conv(x), (1, 1, 1, 1))  # a real pad, not a crop


def test_a_padding_pad_is_not_folded():
    model = _PadAfter().eval()
    x = torch.randn(2, 4, 5, 5)
    graph = export_module(model, (x,), ["x"], ["y"], 18, "dynamo")
    assert fold_crops(graph) == 0
    with torch.no_grad():
        np.testing.assert_allclose(_session_output(graph, x), model(x).numpy(), atol=1e-5, rtol=0)


def test_the_exported_vae_decoder_has_no_crop_and_a_plain_conv(exports):
    model = onnx.load(str(exports["vae"].out / "decoder.onnx"))
    ops = _ops(model)
    assert exports["vae"].graphs["decoder"].exporter == "dynamo"
    assert "Pad" not in ops
    assert "Conv" in ops and ops.count("ConvTranspose") == 3
