"""ConvEncoder: the book's Conv2D stack, flattened into one dense head per latent parameter."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import torch
from torch import nn

from genkit.contract.components import Encoder, ModelSpec

from .conv_stack import ConvStackSettings, check_layer_lists, label_maps, post_conv_layers
from .keras_compat import init_like_keras_, same_conv_output, same_conv_padding


class ConvEncoder(Encoder):
    """Conv2d layers with Keras 'same' padding, then a dense head for each of ``spec.parameter_names``.

    The heads come from the sampler: ``mu`` and ``log_var`` for a Gaussian sampler, a single ``code``
    for a deterministic one, so the same encoder serves the VAE and its autoencoder ablation.

    A conditional model (``spec.classes`` K > 0) takes the label as K one-hot planes concatenated to
    the image's channels (Sohn et al. 2015 condition the recognition network on the label): the first
    convolution sees C + K input channels and nothing else changes. An unconditional model is built
    exactly as before, parameter for parameter and draw for draw of the initialisation.
    """

    Settings = ConvStackSettings

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        s = self.settings
        check_layer_lists(dataclasses.asdict(s), "encoder")
        channels, height, width = spec.input_shape
        channels += spec.classes
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
        self.heads = self.make_heads()
        init_like_keras_(self)

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return self._feature_shape

    def make_heads(self) -> nn.ModuleDict:
        """One layer per encoder output, from the feature map to a latent point (here: dense, from its flattening)."""
        flat = math.prod(self._feature_shape)
        return nn.ModuleDict({name: nn.Linear(flat, self.spec.latent_numel) for name in self.spec.parameter_names})

    def apply_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.flatten(features)
        # ModuleDict keeps insertion order, which is spec.parameter_names' order.
        return tuple(head(h).unflatten(1, self.spec.latent_shape) for head in self.heads.values())

    def forward(self, x: torch.Tensor, *condition: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.spec.classes:
            x = torch.cat([x, label_maps(condition, self.spec.classes, x)], dim=1)
        return self.apply_heads(self.features(x))
