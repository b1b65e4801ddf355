"""ConvCritic: the book's WGAN-GP critic at 28x28, a stack of stride-2 convolutions scored by one dense unit.

No BatchNorm: the gradient penalty is taken per image, and a batch-normalised critic's score of one image
depends on the others in its batch (Gulrajani et al. 2017, section 4). Layer normalisation, which the
paper suggests instead, is a switch; the book uses none. The book's dropout is left out, because its masks
would be drawn outside the pass's noise generator and a run would no longer be reproducible from its seed.

A conditional critic (``classes`` K > 0) sees the label as K one-hot planes beside the image's channels, as
the book's conditional GAN does.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from genkit_plugins.vae.conv_stack import label_maps
from genkit_plugins.vae.keras_compat import init_like_keras_

KERNEL, STRIDE, PADDING = 4, 2, 1  # each convolution halves the image (28 -> 14 -> 7)


class ConvCritic(nn.Module):
    """Images (N, C, H, W) (and labels (N,)) -> one unbounded score per image (N,)."""

    def __init__(self, input_shape: tuple[int, int, int], classes: int, filters: list[int],
                 leaky_relu_slope: float, layer_norm: bool):
        super().__init__()
        channels, height, width = input_shape
        self.classes = classes
        channels += classes
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, out in enumerate(filters):
            layers[f"conv_{i}"] = nn.Conv2d(channels, out, KERNEL, STRIDE, PADDING)
            if layer_norm:  # one group: normalised over each image's (C, H, W), never across the batch
                layers[f"layer_norm_{i}"] = nn.GroupNorm(1, out)
            layers[f"leaky_relu_{i}"] = nn.LeakyReLU(leaky_relu_slope)
            channels = out
            height = (height + 2 * PADDING - KERNEL) // STRIDE + 1
            width = (width + 2 * PADDING - KERNEL) // STRIDE + 1
        if height < 1 or width < 1:
            raise ValueError(f"{len(filters)} stride-2 convolutions leave nothing of a "
                             f"{input_shape[1]}x{input_shape[2]} image; list fewer critic filters")
        self.features = nn.Sequential(layers)
        # the book ends in a 'valid' convolution as large as the last feature map: a dense layer over it
        self.score = nn.Linear(channels * height * width, 1)
        init_like_keras_(self)

    def forward(self, x: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor:
        if self.classes:
            x = torch.cat([x, label_maps(condition, self.classes, x)], dim=1)
        return self.score(self.features(x).flatten(1)).squeeze(1)
