"""Keras conventions that PyTorch lacks, so the book's models are reproduced layer for layer.

- ``padding='same'``: TensorFlow pads a convolution so that ``out = ceil(in / stride)`` and, when the
  total padding is odd, puts the extra row and column at the bottom and right. PyTorch's ``padding``
  argument pads both sides equally, so an odd total needs an explicit ``nn.ZeroPad2d`` (this happens
  for every stride-2, kernel-3 layer on an even-sized input, not only for even kernels).
- ``Conv2DTranspose(padding='same')`` is the gradient of such a convolution: ``out = in * stride``,
  cropped by the same asymmetric amounts. PyTorch's ``output_padding`` can only add at the end, so an
  odd crop is done with ``CropEnd2d`` after the layer.
- Initialisation (glorot-uniform kernels, zero biases) and BatchNormalization's momentum and epsilon
  follow Keras' defaults, which the book's hyper-parameters were tuned with.

Matching the pixel alignment, and not only the output sizes, keeps Keras weights portable one to one
(up to the channels-last order of the flattened dense layers).
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

# Keras BatchNormalization defaults: moving average momentum 0.99 (PyTorch counts the other way).
KERAS_BATCH_NORM = {"eps": 1e-3, "momentum": 0.01}


def same_conv_output(size: int, stride: int) -> int:
    """Spatial size after a 'same' convolution."""
    return -(-size // stride)


def same_conv_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of one spatial dimension for a TensorFlow 'same' convolution."""
    total = max((same_conv_output(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def same_transposed_padding(kernel: int, stride: int) -> tuple[int, int, int]:
    """(padding, output_padding, crop_end) making ``ConvTranspose2d`` a TensorFlow 'same' transpose.

    The uncropped output is ``(in - 1) * stride + kernel``; TensorFlow crops ``kernel - stride`` of
    it, the smaller half at the start. PyTorch's ``padding`` crops both ends equally, and the odd
    remainder is cropped from the end afterwards. A kernel smaller than the stride crops nothing and
    instead extends the end, which is what ``output_padding`` does.

    When a crop is left, ``output_padding`` first extends the output to a multiple of the stride and the
    crop takes that much more: the values kept are the same, and oneDNN's transposed convolution runs
    1.1-1.6x faster (forward and backward, CPU) when its output is a whole number of strides.
    """
    total = kernel - stride
    if total < 0:
        return 0, -total, 0
    before = total // 2
    crop = total - 2 * before
    extend = -crop % stride
    return before, extend, crop + extend


class CropEnd2d(nn.Module):
    """Drop the last ``amount`` rows and columns (the odd remainder of a 'same' transpose crop).

    It exports to ONNX as a ``Pad`` with negative pads, which onnxruntime runs as a crop.
    """

    def __init__(self, amount: int):
        super().__init__()
        self.amount = int(amount)

    def forward(self, x):
        if not self.amount:
            return x
        # A negative pad rather than a slice: its output is a dense tensor (element-wise layers and their
        # gradients run several times slower on a strided view) and its gradient, a positive pad, keeps a
        # channels-last tensor channels-last (a slice's gradient is a fresh NCHW tensor that the next
        # convolution converts back, at three times the cost of the crop itself).
        return F.pad(x, (0, -self.amount, 0, -self.amount))

    def extra_repr(self) -> str:
        return f"amount={self.amount}"


def init_like_keras_(module: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every conv and dense layer under ``module``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
