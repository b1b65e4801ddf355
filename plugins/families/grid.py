"""The book's conv encoder and decoder with 1x1 convolution heads, for a latent that is a grid (D, h, w).

The book's networks flatten the feature map into a dense layer; a spatial latent such as the VQ-VAE's
7x7 grid of codes is instead read off the feature map position by position: the encoder's head is a
1x1 convolution from its C feature channels to D, and the decoder's input layer one from D (plus the
one-hot label of a conditional model) back to C. Everything else, settings included, is ``conv`` and
``transposed-conv``; the latent's grid must be the feature map's (7x7 for the book's 28x28 strides).
"""

from __future__ import annotations

import torch
from torch import nn

from genkit_plugins.vae.conv_stack import label_maps
from genkit_plugins.vae.decoder import TransposedConvDecoder
from genkit_plugins.vae.encoder import ConvEncoder


def check_grid(latent_shape: tuple[int, ...], feature_shape: tuple[int, ...], who: str) -> None:
    if len(latent_shape) != 3 or tuple(latent_shape[1:]) != tuple(feature_shape[1:]):
        raise ValueError(f"{who} maps the {feature_shape[1]}x{feature_shape[2]} feature map position by position: "
                         f"latent_shape must be [D, {feature_shape[1]}, {feature_shape[2]}]; got {list(latent_shape)}")


class GridConvEncoder(ConvEncoder):
    def make_heads(self) -> nn.ModuleDict:
        check_grid(self.spec.latent_shape, self.feature_shape, "the grid encoder")
        channels, depth = self.feature_shape[0], self.spec.latent_shape[0]
        return nn.ModuleDict({name: nn.Conv2d(channels, depth, 1) for name in self.spec.parameter_names})

    def apply_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(head(features) for head in self.heads.values())


class GridConvDecoder(TransposedConvDecoder):
    def make_input(self) -> nn.Module:
        check_grid(self.spec.latent_shape, self.spec.feature_shape, "the grid decoder")
        return nn.Conv2d(self.spec.latent_shape[0] + self.spec.classes, self.spec.feature_shape[0], 1)

    def project(self, z: torch.Tensor, condition: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.spec.classes:
            z = torch.cat([z, label_maps(condition, self.spec.classes, z)], dim=1)
        return self.dense(z)
