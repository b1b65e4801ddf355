"""ConvGenerator: the book's WGAN-GP generator at 28x28, z -> dense -> 7x7 feature map -> transposed convolutions.

The book (ch. 4) reshapes z to 1x1 and grows it to 64x64 with 4x4 stride-2 transposed convolutions, each
followed by BatchNorm (Keras momentum 0.9) and LeakyReLU(0.2), the last one ending in tanh. Fashion-MNIST's
28x28 is not a power of two, so a dense layer makes the first 7x7 map and two stride-2 layers grow it to
28x28; the output ends in a sigmoid, genkit's images lying in [0, 1] rather than the book's [-1, 1].

A conditional generator (``spec.classes`` K > 0) concatenates the one-hot label to z, as the book's
conditional GAN does; an unconditional one is built without it. The forward pass is ``forward(z, *condition)``,
``condition`` being ``(labels,)`` for a conditional model and nothing otherwise.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict

import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Decoder, ModelSpec
from genkit_plugins.vae.conv_stack import one_hot
from genkit_plugins.vae.keras_compat import init_like_keras_

KERNEL, STRIDE, PADDING = 4, 2, 1  # each transposed convolution doubles the feature map exactly
# Keras BatchNormalization(momentum=0.9): PyTorch counts the momentum the other way; Keras' epsilon
KERAS_GAN_BATCH_NORM = {"momentum": 0.1, "eps": 1e-3}


class ConvGenerator(Decoder):
    @dataclasses.dataclass(frozen=True)
    class Settings:
        filters: list[int] = field([128, 64], "channels of the dense layer's feature map, then of each transposed "
                                   "convolution but the last (which makes the image's channels); each layer "
                                   "doubles the map, so the image side must divide by 2 ** len(filters)",
                                   positive_items=True)
        batch_norm: bool = field(True, "BatchNorm2d after the dense layer and each transposed convolution but "
                                 "the last")
        leaky_relu_slope: float = field(0.2, "negative slope of the LeakyReLU activations", min=0.0)

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        s = self.settings
        if not s.filters:
            raise ValueError("decoder.filters must list at least one layer")
        channels, height, width = spec.input_shape
        scale = 2 ** len(s.filters)
        if height % scale or width % scale:
            raise ValueError(f"{len(s.filters)} doubling layers (decoder.filters {list(s.filters)}) cannot make a "
                             f"{height}x{width} image: its sides must divide by {scale}")
        self.start = (s.filters[0], height // scale, width // scale)
        # no bias before a BatchNorm, which subtracts it again (the book's use_bias=False)
        self.dense = nn.Linear(spec.latent_numel + spec.classes, s.filters[0] * self.start[1] * self.start[2],
                               bias=not s.batch_norm)
        layers: OrderedDict[str, nn.Module] = OrderedDict(unflatten=nn.Unflatten(1, self.start))
        layers.update(self._activation(0, s.filters[0]))
        outputs = [*s.filters[1:], channels]
        for i, (inp, out) in enumerate(zip(s.filters, outputs)):
            last = i == len(outputs) - 1
            layers[f"conv_t_{i}"] = nn.ConvTranspose2d(inp, out, KERNEL, STRIDE, PADDING,
                                                       bias=last or not s.batch_norm)
            if not last:
                layers.update(self._activation(i + 1, out))
        layers["sigmoid"] = nn.Sigmoid()
        self.layers = nn.Sequential(layers)
        init_like_keras_(self)

    def _activation(self, index: int, channels: int) -> OrderedDict[str, nn.Module]:
        s = self.settings
        block: OrderedDict[str, nn.Module] = OrderedDict()
        if s.batch_norm:
            block[f"batch_norm_{index}"] = nn.BatchNorm2d(channels, **KERAS_GAN_BATCH_NORM)
        block[f"leaky_relu_{index}"] = nn.LeakyReLU(s.leaky_relu_slope)
        return block

    def forward(self, z: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor:
        h = z.flatten(1)
        if self.spec.classes:
            h = torch.cat([h, one_hot(condition, self.spec.classes, h)], dim=1)
        return self.layers(self.dense(h))
