"""What the encoder's and the decoder's conv stacks share: per-layer settings, the block after a conv, labels.

Both stacks are described, as in the book's Keras code, by three parallel per-layer lists (filters,
kernels, strides) plus switches for batch normalisation and dropout: ``ConvStackSettings``, which the
encoder uses as it is and the decoder with its own defaults. A conditional model's label reaches both
as a one-hot code (``one_hot``), the encoder's as constant planes beside the image (``label_maps``).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from genkit.config import field
from genkit.errors import ConfigError

from .keras_compat import KERAS_BATCH_NORM

DROPOUT_RATE = 0.25  # the book's rate whenever dropout is switched on
LAYER_LISTS = ("filters", "kernels", "strides")


def check_layer_lists(values: dict[str, Any], section: str) -> None:
    """Cross-field rule of a conv stack: one filters/kernels/strides entry per layer, all positive.

    Used as the ``check`` of the encoder's and decoder's ``Settings`` (the config layer calls it with
    the validated section) and again by the constructors, which may be called without the config layer.
    """
    lengths = {name: len(values[name]) for name in LAYER_LISTS}
    if not lengths["filters"]:
        raise ConfigError(f"{section}.filters must list at least one layer; got []")
    if len(set(lengths.values())) != 1:
        got = ", ".join(f"{section}.{name} has {n}" for name, n in lengths.items())
        raise ConfigError(
            f"{section}.filters, {section}.kernels and {section}.strides need one entry per layer "
            f"(the same length); got {got}"
        )
    for name in LAYER_LISTS:
        if any(v <= 0 for v in values[name]):
            raise ConfigError(f"{section}.{name} must contain only positive integers; got {values[name]!r}")


@dataclasses.dataclass(frozen=True)
class ConvStackSettings:
    """One filters/kernels/strides entry per layer, and the block after each convolution."""

    filters: list[int] = field([32, 64, 64, 64], "output channels of each layer", positive_items=True)
    kernels: list[int] = field([3, 3, 3, 3], "kernel size of each layer", positive_items=True)
    strides: list[int] = field([1, 2, 2, 1], "stride of each layer (the decoder's: its upsampling factor)",
                               positive_items=True)
    batch_norm: bool = field(False, "BatchNorm2d after each convolution")
    dropout: bool = field(False, f"Dropout({DROPOUT_RATE}) after each activation")
    leaky_relu_slope: float = field(0.3, "negative slope of the LeakyReLU activations (Keras' 0.3)", min=0.0)

    check = staticmethod(check_layer_lists)


def post_conv_layers(index: int, channels: int, batch_norm: bool, dropout: bool,
                     leaky_relu_slope: float) -> OrderedDict[str, nn.Module]:
    """The Keras order after a conv: optional BatchNorm, LeakyReLU, optional Dropout."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    if batch_norm:
        layers[f"batch_norm_{index}"] = nn.BatchNorm2d(channels, **KERAS_BATCH_NORM)
    layers[f"leaky_relu_{index}"] = nn.LeakyReLU(leaky_relu_slope)
    if dropout:
        layers[f"dropout_{index}"] = nn.Dropout(DROPOUT_RATE)
    return layers


def one_hot(condition: tuple[torch.Tensor, ...], classes: int, like: torch.Tensor) -> torch.Tensor:
    """The label of a conditional model's ``condition`` (``(labels,)``, int64 (N,)) as (N, classes) in ``like``'s dtype.

    Written as a comparison with ``arange`` rather than ``F.one_hot``: it exports to ONNX as Equal and Cast,
    which every opset and runtime has, and keeps the dtype of the activations it is concatenated to.
    """
    if len(condition) != 1:
        raise ValueError(f"this network is conditional on a class label in [0, {classes}): pass labels (N,)")
    labels = condition[0]
    return (labels.reshape(-1, 1) == torch.arange(classes, device=labels.device)).to(like.dtype)


def label_maps(condition: tuple[torch.Tensor, ...], classes: int, like: torch.Tensor) -> torch.Tensor:
    """The one-hot label as ``classes`` constant planes the size of ``like`` (N, C, H, W), to concatenate to it."""
    code = one_hot(condition, classes, like)
    return code[:, :, None, None].expand(-1, -1, *like.shape[2:])
