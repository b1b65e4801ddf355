"""ConvEncoder: the book's Conv2D stack, flattened into one dense head per latent parameter."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import torch
from torch import nn

from genkit.components import Encoder, ModelSpec

from .conv_stack import ConvStackSettings, check_layer_lists, post_conv_layers
from .keras_compat import init_like_keras_, same_conv_output, same_conv_padding


class ConvEncoder(Encoder):
    """Conv2d layers with Keras 'same' padding, then a dense head for each of ``spec.parameter_names``.

    The heads come from the sampler: ``mu`` and ``log_var`` for a Gaussian sampler, a single ``code``
    for a deterministic one, so the same encoder serves the VAE and its autoencoder ablation.
    """

    Settings = ConvStackSettings

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        s = self.settings
        check_layer_lists(dataclasses.asdict(s), "encoder")
        channels, height, width = spec.input_shape
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (filters, kernel, stride) in enumerate(zip(s.filters, s.kernels, s.strides)):
            pad_h = same_conv_padding(height, kernel, stride)
            pad_w = same_conv_padding(width, kernel, stride)
            if pad_h[0] == pad_h[1] and pad_w[0] == pad_w[1]:
                padding: tuple[int, int] = (pad_h[0], pad_w[0])
            else:
                # Odd total padding: Keras puts the extra row/column at the bottom/right.
                layers[f"pad_{i}"] = nn.ZeroPad2d((pad_w[0], pad_w[1], pad_h[0], pad_h[1]))
                padding = (0, 0)
            layers[f"conv_{i}"] = nn.Conv2d(channels, filters, kernel, stride, padding)
            layers.update(post_conv_layers(i, filters, s.batch_norm, s.dropout, s.leaky_relu_slope))
            channels = filters
            height, width = same_conv_output(height, stride), same_conv_output(width, stride)
        self.features = nn.Sequential(layers)
        self._feature_shape = (channels, height, width)
        self.flatten = nn.Flatten()
        flat = math.prod(self._feature_shape)
        self.heads = nn.ModuleDict({name: nn.Linear(flat, spec.z_dim) for name in spec.parameter_names})
        init_like_keras_(self)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return self._feature_shape

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.flatten(self.features(x))
        # ModuleDict keeps insertion order, which is spec.parameter_names' order.
        return tuple(head(h) for head in self.heads.values())
